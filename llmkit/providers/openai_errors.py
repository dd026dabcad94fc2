"""The OpenAI error dialect: ``{"error": {"message", "type", "code"}}`` bodies to error kinds.

Chat Completions, Responses and OpenRouter (and most OpenAI-compatible servers) answer errors
in this shape with small variations, so their adapters share :func:`classify_openai` and
:func:`error_from_payload` (also used for an error event inside a 200 stream).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from llmkit.errors import (
    AuthError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    LLMError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from llmkit.providers.base import (
    error_for_status,
    json_body,
    make_error,
    parse_retry_after,
    should_retry_override,
)
from llmkit.providers.wire import as_count, as_dict, as_str
from llmkit.ratelimit import parse_duration

__all__ = ["classify_openai", "error_from_payload"]

_CONTEXT_RE = re.compile(
    r"context[ _-]?(length|window)|maximum context|prompt is too long|input is too long"
    r"|too many (input )?tokens",
    re.IGNORECASE,
)
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})
_FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "moderation_blocked"})
# OpenAI's Responses API says ``invalid_prompt`` for a flagged prompt; Azure says it in words.
_FILTER_RE = re.compile(
    r"flagged as potentially violating|usage polic(y|ies)|content management policy",
    re.IGNORECASE,
)
_NOT_FOUND_CODES = frozenset({"model_not_found", "not_found", "not_found_error"})
_OVERLOADED_TYPES = frozenset({"overloaded", "overloaded_error", "engine_overloaded"})
_SNIPPET = 300


def _ratelimit_reset(headers: httpx.Headers, message: str, kind: str | None) -> float | None:
    """For a 429 without retry-after: the reset of the limit that was hit (tokens or requests)."""
    tokens = parse_duration(headers.get("x-ratelimit-reset-tokens"))
    requests = parse_duration(headers.get("x-ratelimit-reset-requests"))
    low = f"{kind or ''} {message}".lower()
    if "tokens" in low or "(tpm)" in low:
        return tokens if tokens is not None else requests
    if "requests" in low or "(rpm)" in low:
        return requests if requests is not None else tokens
    if headers.get("x-ratelimit-remaining-tokens", "").strip() == "0" and tokens is not None:
        return tokens
    if headers.get("x-ratelimit-remaining-requests", "").strip() == "0" and requests is not None:
        return requests
    known = [v for v in (tokens, requests) if v is not None]
    return max(known) if known else None


def _status_from_code(code: object) -> int | None:
    """OpenRouter's integer ``error.code`` is an HTTP status."""
    n = as_count(code)
    if n is None:
        try:
            n = int(str(code))
        except ValueError:
            return None
    return n if 400 <= n <= 599 else None


def _describe(err: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(message, code, type) from an error object, folding in OpenRouter's upstream details."""
    message = as_str(err.get("message")) or ""
    code_raw = err.get("code")
    code = None if code_raw is None or isinstance(code_raw, bool) else str(code_raw)
    etype = as_str(err.get("type"))
    meta = as_dict(err.get("metadata"))
    upstream = meta.get("raw")
    if upstream is not None and not isinstance(upstream, str):
        upstream = json.dumps(upstream)
    provider_name = as_str(meta.get("provider_name"))
    if upstream:
        where = f" from {provider_name}" if provider_name else ""
        message = f"{message} (upstream{where}: {upstream[:_SNIPPET]})".strip()
    reasons = meta.get("reasons")
    if isinstance(reasons, list) and reasons:
        message = f"{message} (flagged: {', '.join(str(r) for r in reasons[:5])})".strip()
    return message, code, etype


def error_from_payload(
    err: object,
    *,
    provider: str,
    headers: httpx.Headers,
    status: int | None,
) -> LLMError:
    """One error from an OpenAI-shaped error object, by status and code together.

    ``status`` is the HTTP status (None inside a 200 stream, where OpenRouter's integer
    ``code`` stands in for it). Precedence: quota, context length, content filter, not found,
    then the status; a stream error without a status goes by its ``type``.
    """
    if isinstance(err, str):
        err = {"message": err}
    data = as_dict(err)
    message, code, etype = _describe(data)
    lowered = {c.lower() for c in (code, etype) if c}
    eff_status = status if status is not None else _status_from_code(data.get("code"))
    metadata = as_dict(data.get("metadata"))

    cls: type[LLMError] | None = None
    if lowered & _QUOTA_CODES:
        cls = QuotaExhaustedError
    elif "context_length_exceeded" in lowered or (
        eff_status in (None, 400, 413, 422) and _CONTEXT_RE.search(message)
    ):
        cls = ContextLengthError
    elif (
        lowered & _FILTER_CODES
        or (eff_status == 403 and ("reasons" in metadata or "flagged_input" in metadata))
        or (eff_status in (None, 400) and _FILTER_RE.search(message))
    ):
        cls = ContentFilterError
    elif lowered & _NOT_FOUND_CODES and (eff_status is None or eff_status < 500):
        cls = NotFoundError

    retry_after = parse_retry_after(headers)
    if cls is None and eff_status is not None:
        if eff_status == 429 and retry_after is None:
            retry_after = _ratelimit_reset(headers, message, etype)
        out = error_for_status(
            eff_status,
            message,
            provider=provider,
            headers=headers,
            code=code,
            retry_after=retry_after,
        )
        if (
            eff_status == 429
            and _larger_than_limit(message)
            and should_retry_override(headers) is None
        ):
            out.retryable = False  # "Request too large": no wait makes it fit the limit
        return out
    if cls is None:
        cls = _class_for_type(lowered)
    return make_error(
        cls,
        message or (f"HTTP {eff_status}" if eff_status else "error event in stream"),
        provider=provider,
        status=eff_status,
        headers=headers,
        code=code,
        retry_after=retry_after,
    )


_TOO_LARGE_RE = re.compile(r"Request too large.*?Limit (\d+), Requested (\d+)", re.I | re.S)


def _larger_than_limit(message: str) -> bool:
    """OpenAI answers a request bigger than the whole per-minute budget with a 429 ("Request
    too large ... Limit 400000, Requested 2500013"): still a rate limit, but retrying can never
    succeed, so it is not retryable."""
    m = _TOO_LARGE_RE.search(message)
    return m is not None and int(m.group(2)) > int(m.group(1))


def _class_for_type(lowered: set[str]) -> type[LLMError]:
    """An error without a status (mid-stream, or in a 2xx body) goes by its ``type``/``code``."""
    if lowered & _OVERLOADED_TYPES:
        return OverloadedError
    if lowered & {"rate_limit_exceeded", "rate_limit_error", "tokens", "requests"}:
        return RateLimitError
    if lowered & {"invalid_request_error", "invalid_request"}:
        return BadRequestError
    if lowered & {"authentication_error", "invalid_api_key"}:
        return AuthError
    if lowered & {"permission_error"}:
        return PermissionDeniedError
    if lowered & {"timeout", "timeout_error"}:
        return TimeoutError
    # The server accepted the request (200) and then failed: a server-side failure.
    return ServerError


def _body_snippet(response: httpx.Response) -> str:
    try:
        text = response.content.decode("utf-8", errors="replace").strip()
    except httpx.ResponseNotRead:
        return ""
    return text[:_SNIPPET]


def classify_openai(response: httpx.Response, provider: str) -> LLMError:
    """The error for a non-2xx OpenAI-shaped response (returned, not raised).

    Reads ``{"error": {...}}`` (OpenAI, OpenRouter), ``{"error": "text"}`` (Ollama) and
    ``{"object": "error", "message": ...}`` (vLLM); a body that is empty or not JSON still
    classifies by status, with a short (scrubbed) snippet of it as the message.
    """
    status = response.status_code
    try:
        body: Any = json_body(response, provider)
    except LLMError:
        body = None
    data = as_dict(body)
    err: object
    if data.get("error"):
        err = data["error"]
    elif as_str(data.get("message")):
        err = data  # vLLM / FastAPI style
    elif as_str(data.get("detail")):
        err = {"message": data["detail"]}
    else:
        err = {"message": _body_snippet(response)}
    return error_from_payload(err, provider=provider, headers=response.headers, status=status)
