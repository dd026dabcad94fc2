"""What OpenAI's Chat Completions and Responses APIs share: headers, ids and errors.

Both APIs answer with the same response headers (request id, processing time, the rate-limit
buckets), the same error envelope (``{"error": {"message", "type", "param", "code"}}``) for
every refusal, and the same ``call_`` ids for tool calls; only a few errors word themselves
differently for the Responses API. Kept apart so each API's module holds only its own bodies.
"""

from __future__ import annotations

from llmkit.sim.faults import Fault
from llmkit.sim.gen import Call, count_tokens
from llmkit.sim.ratelimit import format_duration
from llmkit.sim.wire.common import (
    BAD_GATEWAY_HTML,
    Ctx,
    Invalid,
    Reply,
    alnum_id,
    dumps,
    hex_id,
    sse,
)

__all__ = [
    "call_id",
    "count_prompt",
    "error",
    "headers",
    "invalid",
    "missing_auth",
    "new_ids",
    "not_found",
    "stream_error",
]

_JSON = ("content-type", "application/json")
_SSE = ("content-type", "text/event-stream; charset=utf-8")

# ----------------------------------------------------------------------------- headers and ids


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


def call_id(ctx: Ctx) -> str:
    return "call_" + alnum_id(ctx.rng, 24)


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
