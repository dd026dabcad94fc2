"""Anthropic Messages, as the real API sends it (see real-cassettes).

Quirks kept on purpose: ``event: ping`` after the first content block starts, runs of spaces
before some closing braces, RFC 3339 rate-limit resets, ``x-should-retry`` on errors, 529 for
overload, and ``request_id`` inside error bodies.
"""

from __future__ import annotations

import base64
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
    system = data.get("system") or ""
    texts = [text_of(system)]
    marked = _marked(system) or _marked(data.get("tools"))
    cut = len(texts[0]) if marked else None
    last_user, last_tool = "", False
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise Invalid(
                "messages: Input tag does not match any of the expected tags: 'user', 'assistant'"
            )
        content = m.get("content")
        t = text_of(content)
        texts.append(t)
        if _marked(content) or isinstance(m.get("cache_control"), dict):
            cut = len("\n".join(texts))
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
    if isinstance(data.get("cache_control"), dict):  # automatic: cache the whole prompt
        cut = len("\n".join(texts))
    thinking = data.get("thinking")
    budget = None
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        b = thinking.get("budget_tokens")
        if not isinstance(b, int) or isinstance(b, bool) or b < 1024:
            raise Invalid(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if max_tokens is not None and b >= max_tokens:
            raise Invalid(
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                "documentation at https://docs.claude.com/en/docs/build-with-claude/"
                "extended-thinking#max-tokens-and-context-window-size"
            )
        budget = b
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
        raw=data,
        reasoning="medium" if budget is not None else None,
        reasoning_budget=budget,
        show_reasoning=budget is not None,
        cache_prefix=cut,
    )
    return call, last_user


def _marked(content: Any) -> bool:
    """Whether any block of a system prompt, message content or tool list has cache_control."""
    return isinstance(content, list) and any(
        isinstance(b, dict) and isinstance(b.get("cache_control"), dict) for b in content
    )


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


def _uncached(ctx: Ctx) -> int:
    """Anthropic's ``input_tokens``: only what was neither read from nor written to the cache."""
    assert ctx.comp is not None
    return ctx.comp.input_tokens - ctx.cache_read - ctx.cache_write


def _usage(ctx: Ctx, output: int) -> dict[str, Any]:
    c = ctx.comp
    assert c is not None
    return {
        "input_tokens": _uncached(ctx),
        "cache_creation_input_tokens": ctx.cache_write,
        "cache_read_input_tokens": ctx.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": ctx.cache_write,
            "ephemeral_1h_input_tokens": 0,
        },
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
    if c.reasoning_pieces:
        content.insert(0, {"type": "thinking", "thinking": c.reasoning, "signature": _sig(ctx)})
    body = {
        "model": ctx.model,
        "id": ctx.resp_id,
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": _STOP[c.finish],
        "stop_sequence": None,
        "usage": _usage(ctx, c.billed_output),
    }
    return dumps(body).encode()


def _sig(ctx: Ctx) -> str:
    """An opaque thinking signature (base64, as the real ones are)."""
    return base64.b64encode(ctx.rng.randbytes(180)).decode()


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
    at = 0
    if c.reasoning_pieces:
        out += _thinking_events(ctx)
        at = 1
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
                dumps({"type": "content_block_start", "index": at, "content_block": block}),
                "content_block_start",
            ),
        )
    )
    if not at:
        out.append((0, b'event: ping\ndata: {"type": "ping"}\n\n'))
    if c.tool_name is not None:
        parts = split_args(c.tool_args)
        share = max(1, c.output_tokens // len(parts))
        for p in parts:
            d = {
                "type": "content_block_delta",
                "index": at,
                "delta": {"type": "input_json_delta", "partial_json": p},
            }
            out.append((share, sse(dumps(d), "content_block_delta")))
    else:
        pre = f'{{"type":"content_block_delta","index":{at},"delta":{{"type":"text_delta","text":'
        for piece in c.pieces:
            out.append((1, sse(pre + dumps(piece) + "}}", "content_block_delta")))
    out.append(
        (0, sse(f'{{"type":"content_block_stop","index":{at}' + _PAD + "}", "content_block_stop"))
    )
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": _STOP[c.finish], "stop_sequence": None},
        "usage": {
            "input_tokens": _uncached(ctx),
            "cache_creation_input_tokens": ctx.cache_write,
            "cache_read_input_tokens": ctx.cache_read,
            "output_tokens": c.billed_output,
        },
    }
    out.append((0, sse(dumps(delta), "message_delta")))
    out.append((0, sse('{"type":"message_stop"' + _PAD + "}", "message_stop")))
    return out


def _thinking_events(ctx: Ctx) -> list[tuple[int, bytes]]:
    """Block 0 of an extended-thinking stream: thinking deltas, then one signature delta."""
    c = ctx.comp
    assert c is not None
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    }
    out = [
        (0, sse(dumps(start)[:-1] + _PAD + "}", "content_block_start")),
        (0, b'event: ping\ndata: {"type": "ping"}\n\n'),
    ]
    pre = '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":'
    for piece in c.reasoning_pieces:
        out.append((1, sse(pre + dumps(piece) + "}}", "content_block_delta")))
    sig = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": _sig(ctx)},
    }
    out.append((0, sse(dumps(sig), "content_block_delta")))
    out.append((0, sse('{"type":"content_block_stop","index":0}', "content_block_stop")))
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
    if fault is Fault.SERVER_ERROR_FINAL:
        return Reply(500, _err(ctx, "api_error", "Internal server error"), (*h, _should(False)))
    if fault is Fault.BAD_GATEWAY:
        return Reply(502, BAD_GATEWAY_HTML, (("content-type", "text/html"),))
    if fault is Fault.UNAVAILABLE:
        return Reply(503, _err(ctx, "api_error", "Service Unavailable"), (*h, _should(True)))
    if fault is Fault.INSUFFICIENT_QUOTA or fault is Fault.BILLING:
        msg = (
            "Your credit balance is too low to access the Anthropic API. Please go to "
            "Plans & Billing to upgrade or purchase credits."
        )
        etype = "billing_error" if fault is Fault.BILLING else "invalid_request_error"
        return Reply(400, _err(ctx, etype, msg), (*h, _should(False)))
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
