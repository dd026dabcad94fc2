"""Anthropic's error dialect: ``{"type": "error", "error": {"type", "message"}}`` to error kinds.

``error.type`` names the kind, refined by status and message (a credit balance that ran out is
``quota_exhausted``; "prompt is too long" is ``context_length``; Anthropic has no content-filter
type, so a blocked output is read from its message). A 429 without ``retry-after`` waits for the
``anthropic-ratelimit-*-reset`` time of the bucket that refused it.
"""

from __future__ import annotations

import email.utils
import re
import time

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
from llmkit.ratelimit import parse_rfc3339

__all__ = ["error_class", "ratelimit_reset_delay"]

_BY_TYPE: dict[str, type[LLMError]] = {
    "invalid_request_error": BadRequestError,
    "authentication_error": AuthError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "request_too_large": BadRequestError,
    "rate_limit_error": RateLimitError,
    "api_error": ServerError,
    "overloaded_error": OverloadedError,
    "billing_error": QuotaExhaustedError,
    "timeout_error": TimeoutError,
}

_CONTEXT_RE = re.compile(
    r"prompt is too long|context (?:window|length|limit)|too many (?:input )?tokens", re.I
)
_CREDIT_RE = re.compile(r"credit balance is too low", re.I)
# Anthropic has no content-filter error type: a blocked output is a 400 invalid_request_error
# whose message says so ("Output blocked by content filtering policy").
_FILTER_RE = re.compile(r"content filtering policy|blocked by (?:the )?content filter", re.I)


def error_class(status: int | None, etype: str | None, message: str) -> type[LLMError] | None:
    """The class from ``error.type`` refined by status and message; None = use the status.

    ``status`` is None for an error event inside a 200 stream, so both paths classify alike.
    """
    if etype == "billing_error" or _CREDIT_RE.search(message):
        return QuotaExhaustedError
    if status == 429:
        return RateLimitError
    if status == 529:
        return OverloadedError
    cls = _BY_TYPE.get(etype or "")
    if cls is BadRequestError and _CONTEXT_RE.search(message):
        return ContextLengthError
    if cls is BadRequestError and _FILTER_RE.search(message):
        return ContentFilterError
    if cls is None and status in (400, 413) and _CONTEXT_RE.search(message):
        return ContextLengthError
    return cls


def ratelimit_reset_delay(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds until a 429 can succeed, from ``anthropic-ratelimit-<bucket>-reset`` times.

    Buckets whose ``-remaining`` is 0 are the ones that refused the request, so the wait is
    until the last of them resets; when no bucket says it is empty, the earliest reset. ``now``
    is the response's ``Date`` (the server's clock, so clock skew does not matter), else
    wall time. Placeholders and epoch-zero resets are ignored; None when nothing is usable.
    """
    resets: dict[str, float] = {}
    empty: set[str] = set()
    for name, value in headers.items():
        lname = name.lower()
        if not lname.startswith("anthropic-ratelimit-"):
            continue
        bucket = lname.removeprefix("anthropic-ratelimit-")
        if bucket.endswith("-reset"):
            when = parse_rfc3339(value)
            if when is not None:
                resets[bucket.removesuffix("-reset")] = when
        elif bucket.endswith("-remaining") and value.strip() == "0":
            empty.add(bucket.removesuffix("-remaining"))
    if not resets:
        return None
    exhausted = [t for b, t in resets.items() if b in empty]
    target = max(exhausted) if exhausted else min(resets.values())
    if now is None:
        now = _http_date(headers.get("date"))
    if now is None:
        now = time.time()
    return max(0.0, target - now)


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return None if when is None or when.tzinfo is None else when.timestamp()
