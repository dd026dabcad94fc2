"""Anthropic Messages, as the real API sends it (see real-cassettes).

Quirks kept on purpose: ``event: ping`` after the first content block starts, runs of spaces
before some closing braces, RFC 3339 rate-limit resets, ``x-should-retry`` on errors, 529 for
overload, and ``request_id`` inside error bodies.
"""

from __future__ import annotations

import json
import time
from typing import Any

from llmkit.sim.faults import Fault
from llmkit.sim.gen import Call, ToolSpec, text_of
from llmkit.sim.wire.common import (
    BAD_GATEWAY_HTML,
    Ctx,
    Invalid,
    Reply,
    b58_id,
    dumps,
    opt_int,
    require_model,
    split_args,
    sse,
)

__all__ = ["error", "headers", "message_json", "message_stream", "parse", "stream_error"]

_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_PAD = " " * 7


def parse(data: Any) -> tuple[Call, str]:
    model = require_model(data)
    if data.get("max_tokens") is None:
        raise Invalid("max_tokens: Field required")
    max_tokens = opt_int(data, "max_tokens")
    msgs = data.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise Invalid(
            "messages: Field required"
            if msgs is None
            else "messages: at least one message is required"
        )
    texts = [text_of(data.get("system") or "")]
    last_user, last_tool = "", False
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise Invalid(
                "messages: Input tag does not match any of the expected tags: 'user', 'assistant'"
            )
        content = m.get("content")
        t = text_of(content)
        texts.append(t)
        if m["role"] == "user":
            last_user = t
            last_tool = isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in content
            )
    tools = tuple(
        ToolSpec(t["name"], t.get("input_schema") or {})
        for t in data.get("tools") or ()
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    )
    call = Call(
        "anthropic",
        "messages",
        model,
        bool(data.get("stream")),
        "\n".join(texts),
        max_tokens,
        tools,
        last_tool,
        True,
    )
    return call, last_user


def new_ids(ctx: Ctx) -> None:
    ctx.request_id = "req_011C" + b58_id(ctx.rng, 20)
    ctx.resp_id = "msg_01" + b58_id(ctx.rng, 22)


def _rfc3339(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


def headers(ctx: Ctx, *, stream: bool = False) -> list[tuple[str, str]]:
    h = [
        ("content-type", "text/event-stream; charset=utf-8" if stream else "application/json"),
        ("request-id", ctx.request_id),
        ("anthropic-organization-id", "00000000-0000-4000-8000-11c0115e1111"),
    ]
    if stream:
        h.append(("cache-control", "no-cache"))
    a = ctx.adm
    if a is not None:
        h += [
            ("anthropic-ratelimit-requests-limit", str(a.limit_requests)),
            ("anthropic-ratelimit-requests-remaining", str(a.remaining_requests)),
            ("anthropic-ratelimit-requests-reset", _rfc3339(ctx.wall + a.reset_requests)),
            ("anthropic-ratelimit-tokens-limit", str(a.limit_tokens)),
            ("anthropic-ratelimit-tokens-remaining", str(a.remaining_tokens)),
            ("anthropic-ratelimit-tokens-reset", _rfc3339(ctx.wall + a.reset_tokens)),
        ]
    return h


def _usage(ctx: Ctx, output: int) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    return {
        "input_tokens": c.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output,
        "service_tier": "standard",
    }


def _tool_id(ctx: Ctx) -> str:
    return "toolu_01" + b58_id(ctx.rng, 22)


def message_json(ctx: Ctx) -> bytes:
    c = ctx.comp
    assert c is not None
    if c.tool_name is not None:
        content: list[dict[str, Any]] = [
            {
                "type": "tool_use",
                "id": _tool_id(ctx),
                "name": c.tool_name,
                "input": json.loads(c.tool_args),
            }
        ]
    else:
        content = [{"type": "text", "text": c.text}]
    body = {
        "model": ctx.model,
        "id": ctx.resp_id,
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": _STOP[c.finish],
        "stop_sequence": None,
        "usage": _usage(ctx, c.output_tokens),
    }
    return dumps(body).encode()


def message_stream(ctx: Ctx) -> list[tuple[int, bytes]]:
    c = ctx.comp
    assert c is not None
    start = {
        "type": "message_start",
        "message": {
            "model": ctx.model,
            "id": ctx.resp_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(ctx, 1),
        },
    }
    out: list[tuple[int, bytes]] = [(0, sse(dumps(start)[:-1] + _PAD + "}", "message_start"))]
    if c.tool_name is not None:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": _tool_id(ctx),
            "name": c.tool_name,
            "input": {},
        }
    else:
        block = {"type": "text", "text": ""}
    out.append(
        (
            0,
            sse(
                dumps({"type": "content_block_start", "index": 0, "content_block": block}),
                "content_block_start",
            ),
        )
    )
    out.append((0, b'event: ping\ndata: {"type": "ping"}\n\n'))
    if c.tool_name is not None:
        parts = split_args(c.tool_args)
        share = max(1, c.output_tokens // len(parts))
        for p in parts:
            d = {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": p},
            }
            out.append((share, sse(dumps(d), "content_block_delta")))
    else:
        pre = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":'
        for piece in c.pieces:
            out.append((1, sse(pre + dumps(piece) + "}}", "content_block_delta")))
    out.append(
        (0, sse('{"type":"content_block_stop","index":0' + _PAD + "}", "content_block_stop"))
    )
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": _STOP[c.finish], "stop_sequence": None},
        "usage": {
            "input_tokens": c.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": c.output_tokens,
        },
    }
    out.append((0, sse(dumps(delta), "message_delta")))
    out.append((0, sse('{"type":"message_stop"' + _PAD + "}", "message_stop")))
    return out


def _err(ctx: Ctx, type_: str, message: str) -> bytes:
    return dumps(
        {
            "type": "error",
            "error": {"type": type_, "message": message},
            "request_id": ctx.request_id,
        }
    ).encode()


def _should(retry: bool) -> tuple[str, str]:
    return ("x-should-retry", "true" if retry else "false")


def invalid(ctx: Ctx, exc: Invalid) -> Reply:
    return Reply(
        400, _err(ctx, "invalid_request_error", exc.message), (*headers(ctx), _should(False))
    )


def missing_auth(ctx: Ctx) -> Reply:
    return Reply(
        401,
        _err(ctx, "authentication_error", "x-api-key header is required"),
        (*headers(ctx), _should(False)),
    )


def not_found(ctx: Ctx, method: str, path: str) -> Reply:
    return Reply(404, _err(ctx, "not_found_error", "Not Found"), (*headers(ctx), _should(False)))


def error(ctx: Ctx, fault: Fault, *, tokens: int = 0) -> Reply:
    h = headers(ctx)
    if fault is Fault.RATE_LIMIT:
        msg = (
            "Number of request tokens has exceeded your per-minute rate limit "
            "(https://docs.anthropic.com/en/api/rate-limits); see the response headers for "
            "current usage. Please reduce the prompt length or the maximum tokens requested, "
            "or try again later."
        )
        if ctx.adm is None or ctx.adm.exhausted != "tokens":
            msg = (
                "Number of requests has exceeded your per-minute rate limit "
                "(https://docs.anthropic.com/en/api/rate-limits); see the response headers "
                "for current usage. Please try again later."
            )
        extra = (
            []
            if ctx.retry_after is None
            else [("retry-after", str(max(0, round(ctx.retry_after + 0.4999))))]
        )
        return Reply(429, _err(ctx, "rate_limit_error", msg), (*h, *extra, _should(True)))
    if fault is Fault.OVERLOADED:
        return Reply(529, _err(ctx, "overloaded_error", "Overloaded"), (*h, _should(True)))
    if fault is Fault.SERVER_ERROR or fault is Fault.MIDSTREAM_ERROR:
        return Reply(500, _err(ctx, "api_error", "Internal server error"), (*h, _should(True)))
    if fault is Fault.BAD_GATEWAY:
        return Reply(502, BAD_GATEWAY_HTML, (("content-type", "text/html"),))
    if fault is Fault.UNAVAILABLE:
        return Reply(503, _err(ctx, "api_error", "Service Unavailable"), (*h, _should(True)))
    if fault is Fault.INSUFFICIENT_QUOTA:
        msg = (
            "Your credit balance is too low to access the Anthropic API. Please go to "
            "Plans & Billing to upgrade or purchase credits."
        )
        return Reply(400, _err(ctx, "invalid_request_error", msg), (*h, _should(False)))
    if fault is Fault.CONTEXT_LENGTH:
        msg = f"prompt is too long: {max(tokens, 200001)} tokens > 200000 maximum"
        return Reply(400, _err(ctx, "invalid_request_error", msg), (*h, _should(False)))
    if fault is Fault.CONTENT_FILTER:
        return Reply(
            400,
            _err(ctx, "invalid_request_error", "Output blocked by content filtering policy"),
            (*h, _should(False)),
        )
    if fault is Fault.AUTH:
        return Reply(
            401, _err(ctx, "authentication_error", "invalid x-api-key"), (*h, _should(False))
        )
    raise ValueError(f"{fault} is not an HTTP error")


def stream_error(ctx: Ctx) -> list[bytes]:
    data = dumps(
        {
            "type": "error",
            "error": {"details": None, "type": "overloaded_error", "message": "Overloaded"},
        }
    )
    return [sse(data[:-1] + _PAD + "}", "error")]
