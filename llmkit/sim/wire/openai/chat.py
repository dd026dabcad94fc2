"""OpenAI Chat Completions (``/v1/chat/completions``), as the real API sends them.

Parses a request into the simulator's neutral :class:`~llmkit.sim.gen.Call` and renders the
completion as the JSON body or the SSE chunk stream the real API sends (see real-cassettes):
field order, the ``usage`` chunk ``stream_options.include_usage`` asks for, and the optional
``obfuscation`` padding. OpenRouter reuses the parser (its body is the same shape).
"""

from __future__ import annotations

from typing import Any

from llmkit.sim.gen import Call, ToolSpec, text_of
from llmkit.sim.wire.common import (
    Ctx,
    Invalid,
    dumps,
    effort,
    opt_int,
    reasoning_model,
    require_model,
    split_args,
    sse,
)
from llmkit.sim.wire.openai.shared import call_id

__all__ = ["chat_json", "chat_stream", "parse_chat"]

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


# ----------------------------------------------------------------------------- answers


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
