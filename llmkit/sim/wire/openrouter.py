"""OpenRouter's OpenAI-compatible chat, with its own quirks (see real-cassettes).

``: OPENROUTER PROCESSING`` comments while a stream waits, blank-line padding before a slow
JSON body, ``X-Generation-Id``, a ``provider`` field, ``cost`` in usage, integer error codes
with upstream details under ``error.metadata``, and an ``error`` inside a normal chunk.
"""

from __future__ import annotations

from typing import Any

from llmkit.sim.faults import Fault
from llmkit.sim.gen import Call
from llmkit.sim.wire import openai as oa
from llmkit.sim.wire.common import Ctx, Invalid, Reply, alnum_id, dumps, split_args, sse

__all__ = ["KEEPALIVE", "chat_json", "chat_stream", "error", "headers", "parse", "stream_error"]

KEEPALIVE = b": OPENROUTER PROCESSING\n\n"
_PRICES = {True: (0.15e-6, 0.6e-6), False: (3e-6, 15e-6)}  # (input, output) $/token


def parse(data: Any) -> tuple[Call, str]:
    call, last_user = oa.parse_chat(data, provider="openrouter")
    return call, last_user


def new_ids(ctx: Ctx) -> None:
    ctx.resp_id = f"gen-{ctx.created}-{alnum_id(ctx.rng, 20)}"
    ctx.request_id = ctx.resp_id


def _upstream(model: str) -> str:
    vendor = model.split("/", 1)[0] if "/" in model else "openai"
    return {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google"}.get(
        vendor, vendor.capitalize()
    )


def headers(ctx: Ctx, *, stream: bool = False, success: bool = True) -> list[tuple[str, str]]:
    h = [
        ("content-type", "text/event-stream" if stream else "application/json"),
        ("access-control-allow-origin", "*"),
        ("access-control-expose-headers", "X-Generation-Id,cf-ray"),
    ]
    if stream:
        h.append(("cache-control", "no-cache"))
    if success:
        h.append(("x-generation-id", ctx.resp_id))
    return h


def _usage(ctx: Ctx) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    fast = any(m in ctx.model for m in ("mini", "nano", "haiku", "flash"))
    pin, pout = _PRICES[fast]
    cached = ctx.cache_read
    cin = (c.input_tokens - cached) * pin + cached * pin / 10  # cache reads bill at ~10%
    cout = c.billed_output * pout
    return {
        "prompt_tokens": c.input_tokens,
        "completion_tokens": c.billed_output,
        "total_tokens": c.input_tokens + c.billed_output,
        "cost": round(cin + cout, 10),
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": round(cin, 10),
            "upstream_inference_completions_cost": round(cout, 10),
        },
        "completion_tokens_details": {"reasoning_tokens": c.reasoning_tokens, "image_tokens": 0},
    }


def _details(ctx: Ctx, text: str) -> list[dict[str, Any]]:
    """``reasoning_details``: the same thinking, tagged with the upstream's format."""
    fmt = "anthropic-claude-v1" if ctx.model.startswith("anthropic/") else "openai-responses-v1"
    return [{"type": "reasoning.text", "text": text, "format": fmt, "index": 0}]


def chat_json(ctx: Ctx) -> bytes:
    c = ctx.comp
    assert c is not None
    msg: dict[str, Any] = {
        "role": "assistant",
        "content": c.text,
        "refusal": None,
        "reasoning": c.reasoning or None,
    }
    if c.reasoning_pieces:
        msg["reasoning_details"] = _details(ctx, c.reasoning)
    if c.tool_name is not None:
        msg["tool_calls"] = [
            {
                "id": oa.call_id(ctx),
                "index": 0,
                "type": "function",
                "function": {"name": c.tool_name, "arguments": c.tool_args},
            }
        ]
    body = {
        "id": ctx.resp_id,
        "provider": _upstream(ctx.model),
        "model": ctx.model,
        "object": "chat.completion",
        "created": ctx.created,
        "choices": [
            {
                "logprobs": None,
                "finish_reason": c.finish,
                "native_finish_reason": c.finish,
                "index": 0,
                "message": msg,
            }
        ],
        "system_fingerprint": None,
        "usage": _usage(ctx),
    }
    return dumps(body).encode()


def chat_stream(ctx: Ctx) -> list[tuple[int, bytes]]:
    c = ctx.comp
    assert c is not None
    head = (
        f'{{"id":"{ctx.resp_id}","provider":"{_upstream(ctx.model)}",'
        f'"model":{dumps(ctx.model)},"object":"chat.completion.chunk",'
        f'"created":{ctx.created},"choices":[{{"index":0,"delta":'
    )
    tail = ',"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}'
    out: list[tuple[int, bytes]] = []
    for piece in c.reasoning_pieces:
        d: dict[str, Any] = {
            "role": "assistant",
            "content": "",
            "reasoning": piece,
            "reasoning_details": _details(ctx, piece),
        }
        out.append((1, sse(head + dumps(d) + tail)))
    hidden = 0 if c.reasoning_pieces else c.reasoning_tokens  # ``exclude``: time, no text
    if c.tool_name is not None:
        parts = split_args(c.tool_args)
        share = max(1, c.output_tokens // len(parts))
        first = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": oa.call_id(ctx),
                    "type": "function",
                    "function": {"name": c.tool_name, "arguments": parts[0]},
                }
            ],
        }
        out.append((share + hidden, sse(head + dumps(first) + tail)))
        for p in parts[1:]:
            d = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"index": 0, "type": "function", "function": {"arguments": p}}],
            }
            out.append((share, sse(head + dumps(d) + tail)))
    else:
        for i, piece in enumerate(c.pieces):
            out.append(
                (
                    1 + (hidden if i == 0 else 0),
                    sse(head + '{"role":"assistant","content":' + dumps(piece) + "}" + tail),
                )
            )
    fin = tail.replace(
        '"finish_reason":null,"native_finish_reason":null',
        f'"finish_reason":"{c.finish}","native_finish_reason":"{c.finish}"',
    )
    out.append((0, sse(head + '{"role":"assistant","content":""}' + fin)))
    usage_tail = tail[:-1] + f',"usage":{dumps(_usage(ctx))}}}'
    out.append((0, sse(head + '{"role":"assistant","content":""}' + usage_tail)))
    out.append((0, b"data: [DONE]\n\n"))
    return out


def _err(code: int, message: str, metadata: dict[str, Any] | None = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message}
    if metadata is not None:
        err["metadata"] = metadata
    return dumps({"error": err, "user_id": "user_llmkitsim"}).encode()


def invalid(ctx: Ctx, exc: Invalid) -> Reply:
    return Reply(400, _err(400, exc.message), tuple(headers(ctx, success=False)))


def missing_auth(ctx: Ctx) -> Reply:
    return Reply(401, _err(401, "No auth credentials found"), tuple(headers(ctx, success=False)))


def not_found(ctx: Ctx, method: str, path: str) -> Reply:
    return Reply(404, _err(404, "Not Found"), tuple(headers(ctx, success=False)))


def error(ctx: Ctx, fault: Fault, *, tokens: int = 0) -> Reply:
    h = headers(ctx, success=False)
    up = _upstream(ctx.model)
    if fault is Fault.RATE_LIMIT:
        raw = (
            f"{ctx.model} is temporarily rate-limited upstream. Please retry shortly, or add "
            "your own key to accumulate your rate limits: "
            "https://openrouter.ai/settings/integrations"
        )
        extra = (
            []
            if ctx.retry_after is None
            else [("retry-after", str(max(0, round(ctx.retry_after + 0.4999))))]
        )
        a = ctx.adm
        if a is not None:
            reset_ms = int((ctx.wall + a.reset_requests) * 1000)
            extra += [
                ("x-ratelimit-limit", str(a.limit_requests)),
                ("x-ratelimit-remaining", str(a.remaining_requests)),
                ("x-ratelimit-reset", str(reset_ms)),
            ]
        return Reply(
            429,
            _err(429, "Provider returned error", {"provider_name": up, "raw": raw}),
            (*h, *extra),
        )
    if fault is Fault.INSUFFICIENT_QUOTA or fault is Fault.BILLING:
        msg = "Insufficient credits. Add more using https://openrouter.ai/settings/credits"
        return Reply(402, _err(402, msg), tuple(h))
    if fault in (Fault.SERVER_ERROR, Fault.SERVER_ERROR_FINAL, Fault.MIDSTREAM_ERROR):
        return Reply(500, _err(500, "Internal Server Error"), tuple(h))
    if fault is Fault.BAD_GATEWAY:
        return Reply(
            502,
            _err(
                502,
                "Provider returned error",
                {"provider_name": up, "raw": "upstream connect error"},
            ),
            tuple(h),
        )
    if fault is Fault.UNAVAILABLE or fault is Fault.OVERLOADED:
        extra = (
            []
            if ctx.retry_after is None
            else [("retry-after", str(max(0, round(ctx.retry_after + 0.4999))))]
        )
        return Reply(
            503,
            _err(503, "Provider returned error", {"provider_name": up, "raw": "Overloaded"}),
            (*h, *extra),
        )
    if fault is Fault.CONTEXT_LENGTH:
        msg = (
            f"This endpoint's maximum context length is 128000 tokens. However, you "
            f"requested about {max(tokens, 128001)} tokens ({max(tokens, 128001)} of text "
            "input). Please reduce the length of either one, or use the "
            "context-compression plugin to compress your prompt automatically."
        )
        return Reply(400, _err(400, msg, {"provider_name": None}), tuple(h))
    if fault is Fault.CONTENT_FILTER:
        msg = f'{ctx.model} requires moderation on OpenAI. Your input was flagged for "violence"'
        return Reply(
            403,
            _err(
                403,
                msg,
                {
                    "reasons": ["violence"],
                    "flagged_input": "...",
                    "provider_name": up,
                    "model_slug": ctx.model,
                },
            ),
            tuple(h),
        )
    if fault is Fault.AUTH:
        return Reply(401, _err(401, "User not found."), tuple(h))
    raise ValueError(f"{fault} is not an HTTP error")


def stream_error(ctx: Ctx) -> list[bytes]:
    """OpenRouter's in-stream failure: an ``error`` object inside a normal chunk."""
    chunk = {
        "id": ctx.resp_id,
        "provider": _upstream(ctx.model),
        "error": {"code": 502, "message": "Provider returned error"},
        "model": ctx.model,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "finish_reason": "error",
                "native_finish_reason": None,
                "logprobs": None,
            }
        ],
    }
    return [sse(dumps(chunk)), b"data: [DONE]\n\n"]
