"""OpenAI Chat Completions and Responses, as the real API sends them (see real-cassettes)."""

from __future__ import annotations

import base64
from typing import Any

from llmkit.sim.faults import Fault
from llmkit.sim.gen import Call, ToolSpec, count_tokens, text_of
from llmkit.sim.ratelimit import format_duration
from llmkit.sim.wire.common import (
    BAD_GATEWAY_HTML,
    Ctx,
    Invalid,
    Reply,
    alnum_id,
    dumps,
    effort,
    hex_id,
    opt_int,
    reasoning_model,
    require_model,
    split_args,
    sse,
)

__all__ = [
    "chat_json",
    "chat_stream",
    "error",
    "headers",
    "parse_chat",
    "parse_responses",
    "responses_json",
    "responses_stream",
    "stream_error",
]

_JSON = ("content-type", "application/json")
_SSE = ("content-type", "text/event-stream; charset=utf-8")
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}

# ----------------------------------------------------------------------------- requests


def _chat_tools(raw: Any) -> tuple[ToolSpec, ...]:
    out = []
    for t in raw or ():
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            out.append(ToolSpec(fn["name"], fn.get("parameters") or {}))
    return tuple(out)


def parse_chat(data: Any, provider: str = "openai") -> tuple[Call, str]:
    """The neutral call and the last user text."""
    model = require_model(data)
    msgs = data.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise Invalid(
            "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    texts, last_user = [], ""
    for m in msgs:
        if not isinstance(m, dict) or "role" not in m:
            raise Invalid(
                "Invalid type for 'messages': expected an object with a role.",
                "messages",
                "invalid_type",
            )
        t = text_of(m.get("content"))
        texts.append(t)
        if m["role"] == "user":
            last_user = t
    opts = data.get("stream_options")
    think = effort(data.get("reasoning_effort")) or effort(data.get("reasoning"))
    budget, show = None, False
    if provider == "openrouter" and isinstance(data.get("reasoning"), dict):
        r = data["reasoning"]
        budget = r.get("max_tokens") if isinstance(r.get("max_tokens"), int) else None
        show = not r.get("exclude")
    if think is None and reasoning_model(model):
        think, show = "medium", provider == "openrouter"
    call = Call(
        provider=provider,
        api="chat",
        model=model,
        stream=bool(data.get("stream")),
        prompt="\n".join(texts),
        max_tokens=opt_int(data, "max_completion_tokens", "max_tokens"),
        tools=_chat_tools(data.get("tools")),
        last_is_tool_result=msgs[-1].get("role") == "tool",
        include_usage=isinstance(opts, dict) and bool(opts.get("include_usage")),
        raw=data,
        reasoning=think,
        reasoning_budget=budget,
        show_reasoning=show and think != "none",
    )
    return call, last_user


def parse_responses(data: Any) -> tuple[Call, str]:
    model = require_model(data)
    inp = data.get("input")
    texts = [data["instructions"]] if isinstance(data.get("instructions"), str) else []
    last_user, last_tool = "", False
    if isinstance(inp, str):
        texts.append(inp)
        last_user = inp
    elif isinstance(inp, list) and inp:
        for item in inp:
            if not isinstance(item, dict):
                raise Invalid(
                    "Invalid type for 'input': expected a list of objects.", "input", "invalid_type"
                )
            t = text_of(item.get("content")) if "content" in item else text_of([item])
            texts.append(t)
            if item.get("role") == "user":
                last_user = t
        last_tool = inp[-1].get("type") == "function_call_output"
    else:
        raise Invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    tools = tuple(
        ToolSpec(t["name"], t.get("parameters") or {})
        for t in data.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)
    )
    call = Call(
        provider="openai",
        api="responses",
        model=model,
        stream=bool(data.get("stream")),
        prompt="\n".join(texts),
        max_tokens=opt_int(data, "max_output_tokens"),
        tools=tools,
        last_is_tool_result=last_tool,
        include_usage=True,
        raw=data,
        reasoning=effort(data.get("reasoning")) or ("medium" if reasoning_model(model) else None),
    )
    return call, last_user


# ----------------------------------------------------------------------------- headers


def headers(ctx: Ctx, *, stream: bool = False) -> list[tuple[str, str]]:
    h = [
        _SSE if stream else _JSON,
        ("x-request-id", ctx.request_id),
        ("openai-organization", "llmkit-sim"),
        ("openai-processing-ms", str(ctx.processing_ms)),
        ("openai-version", "2020-10-01"),
    ]
    a = ctx.adm
    if a is not None:
        h += [
            ("x-ratelimit-limit-requests", str(a.limit_requests)),
            ("x-ratelimit-limit-tokens", str(a.limit_tokens)),
            ("x-ratelimit-remaining-requests", str(a.remaining_requests)),
            ("x-ratelimit-remaining-tokens", str(a.remaining_tokens)),
            ("x-ratelimit-reset-requests", format_duration(a.reset_requests)),
            ("x-ratelimit-reset-tokens", format_duration(a.reset_tokens)),
        ]
    return h


def new_ids(ctx: Ctx) -> None:
    ctx.request_id = "req_" + hex_id(ctx.rng)
    if ctx.call is not None and ctx.call.api == "responses":
        ctx.resp_id = "resp_" + hex_id(ctx.rng, 25)
    else:
        ctx.resp_id = "chatcmpl-" + alnum_id(ctx.rng, 29)


# ----------------------------------------------------------------------------- chat


def _usage(ctx: Ctx) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    return {
        "prompt_tokens": c.input_tokens,
        "completion_tokens": c.billed_output,
        "total_tokens": c.input_tokens + c.billed_output,
        "prompt_tokens_details": {"cached_tokens": ctx.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": c.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def call_id(ctx: Ctx) -> str:
    return "call_" + alnum_id(ctx.rng, 24)


def chat_json(ctx: Ctx) -> bytes:
    c = ctx.comp
    assert c is not None
    msg: dict[str, Any] = {
        "role": "assistant",
        "content": c.text or None,
        "refusal": None,
        "annotations": [],
    }
    if c.tool_name is not None:
        msg["tool_calls"] = [
            {
                "id": call_id(ctx),
                "type": "function",
                "function": {"name": c.tool_name, "arguments": c.tool_args},
            }
        ]
    body = {
        "id": ctx.resp_id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [
            {"index": 0, "message": msg, "logprobs": None, "finish_reason": _FINISH[c.finish]}
        ],
        "usage": _usage(ctx),
        "service_tier": "default",
        "system_fingerprint": "fp_llmkitsim",
    }
    return dumps(body).encode()


def chat_stream(ctx: Ctx) -> list[tuple[int, bytes]]:
    """SSE events, each with the number of output tokens it carries (its share of latency)."""
    c = ctx.comp
    assert c is not None
    usage_null = ',"usage":null' if ctx.call is not None and ctx.call.include_usage else ""
    head = (
        f'{{"id":"{ctx.resp_id}","object":"chat.completion.chunk","created":{ctx.created},'
        f'"model":{dumps(ctx.model)},"service_tier":"default",'
        f'"system_fingerprint":"fp_llmkitsim","choices":[{{"index":0,"delta":'
    )
    tail = f',"logprobs":null,"finish_reason":null}}]{usage_null}}}'
    out: list[tuple[int, bytes]] = []
    if c.tool_name is not None:
        first = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": call_id(ctx),
                    "type": "function",
                    "function": {"name": c.tool_name, "arguments": ""},
                }
            ],
            "refusal": None,
        }
        out.append((1 + c.reasoning_tokens, sse(head + dumps(first) + tail)))
        parts = split_args(c.tool_args)
        share = max(1, c.output_tokens // len(parts))
        for p in parts:
            d = {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}
            out.append((share, sse(head + dumps(d) + tail)))
    else:
        role = '{"role":"assistant","content":"","refusal":null}'
        out.append((c.reasoning_tokens, sse(head + role + tail)))
        for piece in c.pieces:
            out.append((1, sse(head + '{"content":' + dumps(piece) + "}" + tail)))
    fin = tail.replace('"finish_reason":null', f'"finish_reason":"{_FINISH[c.finish]}"')
    out.append((0, sse(head + "{}" + fin)))
    if usage_null:
        u = (
            f'{{"id":"{ctx.resp_id}","object":"chat.completion.chunk","created":{ctx.created},'
            f'"model":{dumps(ctx.model)},"service_tier":"default",'
            f'"system_fingerprint":"fp_llmkitsim","choices":[],"usage":{dumps(_usage(ctx))}}}'
        )
        out.append((0, sse(u)))
    if ctx.obfuscate:
        out = [(n, _obfuscated(ctx, data)) for n, data in out]
    out.append((0, b"data: [DONE]\n\n"))
    return out


_OBF = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _obfuscated(ctx: Ctx, event: bytes) -> bytes:
    """The chunk with OpenAI's ``obfuscation`` padding (random length, hides token sizes)."""
    pad = "".join(ctx.rng.choices(_OBF, k=ctx.rng.randint(1, 15)))
    return event[:-3] + b',"obfuscation":"' + pad.encode() + b'"}\n\n'


# ----------------------------------------------------------------------------- responses


def _resp_usage(ctx: Ctx) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    return {
        "input_tokens": c.input_tokens,
        "input_tokens_details": {"cached_tokens": ctx.cache_read},
        "output_tokens": c.billed_output,
        "output_tokens_details": {"reasoning_tokens": c.reasoning_tokens},
        "total_tokens": c.input_tokens + c.billed_output,
    }


def _item(ctx: Ctx, item_id: str, cid: str, *, done: bool) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    status = "completed" if done else "in_progress"
    if c.tool_name is not None:
        return {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "arguments": c.tool_args if done else "",
            "call_id": cid,
            "name": c.tool_name,
        }
    content = (
        [{"type": "output_text", "annotations": [], "logprobs": [], "text": c.text}] if done else []
    )
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def _response(ctx: Ctx, output: list[dict[str, Any]], *, final: bool) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    assert ctx.call is not None
    incomplete = final and c.finish == "length"
    status = ("incomplete" if incomplete else "completed") if final else "in_progress"
    return {
        "id": ctx.resp_id,
        "object": "response",
        "created_at": ctx.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": None,
        "max_output_tokens": ctx.call.max_tokens,
        "model": ctx.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": ctx.call.reasoning, "summary": None},
        "service_tier": "default",
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": _resp_usage(ctx) if final else None,
        "user": None,
        "metadata": {},
    }


def _item_ids(ctx: Ctx) -> tuple[str, str]:
    c = ctx.comp
    assert c is not None
    if c.tool_name is not None:
        return "fc_" + hex_id(ctx.rng, 25), call_id(ctx)
    return "msg_" + hex_id(ctx.rng, 25), ""


def _reasoning_item(ctx: Ctx) -> dict[str, Any] | None:
    """The ``reasoning`` output item a reasoning model puts before its answer: no text (the
    summary is opt-in), the opaque ``encrypted_content`` only when ``include`` asks for it."""
    c, call = ctx.comp, ctx.call
    assert c is not None
    assert call is not None
    if not c.reasoning_tokens:
        return None
    item: dict[str, Any] = {"id": "rs_" + hex_id(ctx.rng, 25), "type": "reasoning", "summary": []}
    include = call.raw.get("include")
    if isinstance(include, list) and "reasoning.encrypted_content" in include:
        blob = base64.urlsafe_b64encode(ctx.rng.randbytes(12 * c.reasoning_tokens + 64))
        item["encrypted_content"] = "gAAAAAB" + blob.decode()
    return item


def responses_json(ctx: Ctx) -> bytes:
    rs = _reasoning_item(ctx)
    item_id, cid = _item_ids(ctx)
    output = [_item(ctx, item_id, cid, done=True)]
    return dumps(_response(ctx, output if rs is None else [rs, *output], final=True)).encode()


def responses_stream(ctx: Ctx) -> list[tuple[int, bytes]]:
    c = ctx.comp
    assert c is not None
    rs = _reasoning_item(ctx)
    item_id, cid = _item_ids(ctx)
    oi = 0 if rs is None else 1
    out: list[tuple[int, bytes]] = []
    seq = 0

    def ev(kind: str, payload: dict[str, Any], tokens: int = 0) -> None:
        nonlocal seq
        payload = {"type": kind, **payload, "sequence_number": seq}
        seq += 1
        out.append((tokens, sse(dumps(payload), kind)))

    ev("response.created", {"response": _response(ctx, [], final=False)})
    ev("response.in_progress", {"response": _response(ctx, [], final=False)})
    if rs is not None:
        ev("response.output_item.added", {"item": rs, "output_index": 0}, c.reasoning_tokens)
        ev("response.output_item.done", {"item": rs, "output_index": 0})
    ev(
        "response.output_item.added",
        {"item": _item(ctx, item_id, cid, done=False), "output_index": oi},
    )
    if c.tool_name is not None:
        parts = split_args(c.tool_args)
        share = max(1, c.output_tokens // len(parts))
        for p in parts:
            ev(
                "response.function_call_arguments.delta",
                {"delta": p, "item_id": item_id, "output_index": oi},
                share,
            )
        ev(
            "response.function_call_arguments.done",
            {"arguments": c.tool_args, "item_id": item_id, "output_index": oi},
        )
    else:
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        ev(
            "response.content_part.added",
            {"content_index": 0, "item_id": item_id, "output_index": oi, "part": part},
        )
        pre = '{"type":"response.output_text.delta","content_index":0,"delta":'
        post = f',"item_id":"{item_id}","logprobs":[],"output_index":{oi},"sequence_number":'
        for piece in c.pieces:
            data = f"{pre}{dumps(piece)}{post}{seq}}}"
            seq += 1
            out.append((1, sse(data, "response.output_text.delta")))
        ev(
            "response.output_text.done",
            {
                "content_index": 0,
                "item_id": item_id,
                "logprobs": [],
                "output_index": oi,
                "text": c.text,
            },
        )
        ev(
            "response.content_part.done",
            {
                "content_index": 0,
                "item_id": item_id,
                "output_index": oi,
                "part": {**part, "text": c.text},
            },
        )
    done_item = _item(ctx, item_id, cid, done=True)
    ev("response.output_item.done", {"item": done_item, "output_index": oi})
    final = _response(ctx, [done_item] if rs is None else [rs, done_item], final=True)
    kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    ev(kind, {"response": final})
    return out


# ----------------------------------------------------------------------------- errors


def _err(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    return dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    ).encode()


def invalid(ctx: Ctx, exc: Invalid) -> Reply:
    return Reply(
        400, _err(exc.message, "invalid_request_error", exc.code, exc.param), tuple(headers(ctx))
    )


def missing_auth(ctx: Ctx) -> Reply:
    msg = (
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
        "field (with blank username) if you're accessing the API from your browser and are "
        "prompted for a username and password. You can obtain an API key from "
        "https://platform.openai.com/account/api-keys."
    )
    return Reply(
        401,
        _err(msg, "invalid_request_error", None),
        (*headers(ctx), ("www-authenticate", 'Bearer realm="OpenAI API"')),
    )


def not_found(ctx: Ctx, method: str, path: str) -> Reply:
    return Reply(
        404,
        _err(f"Invalid URL ({method} {path})", "invalid_request_error", None),
        tuple(headers(ctx)),
    )


def _retry_headers(seconds: float | None) -> list[tuple[str, str]]:
    if seconds is None:
        return []
    return [
        ("retry-after", str(max(0, round(seconds + 0.4999)))),
        ("retry-after-ms", str(round(seconds * 1000))),
    ]


def error(ctx: Ctx, fault: Fault, *, tokens: int = 0) -> Reply:
    h = headers(ctx)
    model = ctx.model
    resp = ctx.call is not None and ctx.call.api == "responses"
    if fault is Fault.RATE_LIMIT:
        a = ctx.adm
        kind = a.exhausted if a is not None and a.exhausted else "requests"
        unit = "RPM" if kind == "requests" else "TPM"
        limit = (a.limit_requests if kind == "requests" else a.limit_tokens) if a else 0
        wait = ctx.retry_after or 0.0
        msg = (
            f"Rate limit reached for {model} in organization org-llmkitsim on {kind} per min "
            f"({unit}): Limit {limit}, Requested {1 if kind == 'requests' else tokens}. "
            f"Please try again in {format_duration(wait)}. Visit "
            "https://platform.openai.com/account/rate-limits to learn more."
        )
        return Reply(
            429, _err(msg, kind, "rate_limit_exceeded"), (*h, *_retry_headers(ctx.retry_after))
        )
    if fault is Fault.INSUFFICIENT_QUOTA or fault is Fault.BILLING:
        msg = (
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors."
        )
        return Reply(429, _err(msg, "insufficient_quota", "insufficient_quota"), tuple(h))
    if fault in (Fault.SERVER_ERROR, Fault.SERVER_ERROR_FINAL, Fault.MIDSTREAM_ERROR):
        msg = "The server had an error while processing your request. Sorry about that!"
        return Reply(500, _err(msg, "server_error", None), tuple(h))
    if fault is Fault.BAD_GATEWAY:
        return Reply(502, BAD_GATEWAY_HTML, (("content-type", "text/html"),))
    if fault is Fault.UNAVAILABLE or fault is Fault.OVERLOADED:
        msg = "The server is overloaded or not ready yet."
        return Reply(503, _err(msg, "server_error", None), (*h, *_retry_headers(ctx.retry_after)))
    if fault is Fault.CONTEXT_LENGTH:
        if resp:
            msg = (
                "Your input exceeds the context window of this model. Please adjust your input "
                "and try again."
            )
            return Reply(
                400,
                _err(msg, "invalid_request_error", "context_length_exceeded", "input"),
                tuple(h),
            )
        msg = (
            f"This model's maximum context length is 128000 tokens. However, your messages "
            f"resulted in {max(tokens, 128001)} tokens. Please reduce the length of the "
            "messages."
        )
        return Reply(
            400, _err(msg, "invalid_request_error", "context_length_exceeded", "messages"), tuple(h)
        )
    if fault is Fault.CONTENT_FILTER:
        msg = (
            "The response was filtered due to the prompt triggering content management "
            "policy. Please modify your prompt and retry."
        )
        return Reply(400, _err(msg, "invalid_request_error", "content_filter", "prompt"), tuple(h))
    if fault is Fault.AUTH:
        msg = (
            "Incorrect API key provided: sk-****. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return Reply(
            401,
            _err(msg, "invalid_request_error", "invalid_api_key"),
            (*h, ("www-authenticate", 'Bearer realm="OpenAI API"')),
        )
    raise ValueError(f"{fault} is not an HTTP error")


def stream_error(ctx: Ctx) -> list[bytes]:
    """OpenAI's in-stream failure: a bare error object, then a zeroed usage chunk and [DONE]."""
    err = _err(
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ).decode()
    if ctx.call is not None and ctx.call.api == "responses":
        payload = {
            "type": "error",
            "code": "server_error",
            "message": "The server had an error while processing your request. Sorry about that!",
            "param": None,
            "sequence_number": 0,
        }
        return [sse(dumps(payload), "error")]
    return [sse(err), b"data: [DONE]\n\n"]


def count_prompt(call: Call) -> int:
    return count_tokens(call.prompt)
