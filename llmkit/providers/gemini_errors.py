"""Google's error dialect: ``{"error": {"code", "message", "status", "details": [...]}}`` to kinds.

Kept apart from :mod:`llmkit.providers.gemini` so the adapter reads as the wire mapping and the
rules that decide a failure's kind can be read (and changed) in one place. ``status`` (a
``google.rpc.Code`` name) decides, refined by what the body says besides it:

- ``ErrorInfo.reason: API_KEY_INVALID`` (or expired, blocked) is ``auth`` although Google
  answers it with 400 ``INVALID_ARGUMENT``;
- a message saying the input exceeds the token limit is ``context_length``;
- ``RESOURCE_EXHAUSTED`` is a rate limit, unless the quota's limit is 0 (``limit: 0``): then
  this key may not use the model at all, no wait helps, and it is ``quota_exhausted``;
- ``RetryInfo.retryDelay`` (a protobuf Duration, ``"48s"``) is ``retry_after``.

The same rules classify an HTTP error body and an ``error`` chunk inside a 200 stream
(:func:`error_from_google`). A prompt or answer blocked for safety is not here: it arrives in a
2xx body, so the adapter's response parsing raises it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import httpx

from llmkit.errors import (
    AuthError,
    BadRequestError,
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
from llmkit.providers.base import error_for_status, json_body, make_error, request_id
from llmkit.providers.wire import as_count, as_dict, as_list, as_str

__all__ = ["classify_gemini", "error_from_google", "google_request_id"]

# google.rpc.Code names -> kind (the HTTP status says the same in most cases; the name wins).
_STATUS_KIND: dict[str, type[LLMError]] = {
    "RESOURCE_EXHAUSTED": RateLimitError,
    "UNAVAILABLE": OverloadedError,
    "INTERNAL": ServerError,
    "UNKNOWN": ServerError,
    "DATA_LOSS": ServerError,
    "DEADLINE_EXCEEDED": TimeoutError,
    "INVALID_ARGUMENT": BadRequestError,
    "FAILED_PRECONDITION": BadRequestError,
    "OUT_OF_RANGE": BadRequestError,
    "UNAUTHENTICATED": AuthError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
}
_CONTEXT_RE = re.compile(
    r"input token count.*exceeds the maximum|exceeds the maximum number of tokens"
    r"|context (length|window)",
    re.IGNORECASE | re.DOTALL,
)
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_ZERO_LIMIT_RE = re.compile(r"limit:\s*0\b")


def google_request_id(headers: httpx.Headers) -> str | None:
    """The usual request-id headers, else Google's ``x-goog-request-id``."""
    rid = request_id(headers)
    return rid or headers.get("x-goog-request-id")


def _retry_delay(details: Iterable[object]) -> float | None:
    """``RetryInfo.retryDelay`` is a protobuf Duration in JSON: ``"48s"``, ``"0.5s"``."""
    for d in details:
        item = as_dict(d)
        if str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            value = as_str(item.get("retryDelay")) or ""
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", value)
            if m:
                return float(m.group(1))
    return None


def _reasons(details: Iterable[object]) -> set[str]:
    return {
        str(as_dict(d).get("reason"))
        for d in details
        if str(as_dict(d).get("@type", "")).endswith("google.rpc.ErrorInfo")
    }


def error_from_google(
    err: object, *, provider: str, headers: httpx.Headers, status: int | None
) -> LLMError:
    """One error from a Google ``error`` object (HTTP body or an error chunk in a stream)."""
    data = as_dict(err)
    message = as_str(data.get("message")) or ""
    gstatus = as_str(data.get("status"))
    details = as_list(data.get("details"))
    code = as_count(data.get("code"))
    eff_status = status if status is not None else code
    cls: type[LLMError] | None = None
    if _reasons(details) & _AUTH_REASONS:
        cls = AuthError
    elif _CONTEXT_RE.search(message) and eff_status in (None, 400, 413):
        cls = ContextLengthError
    elif gstatus == "RESOURCE_EXHAUSTED" and _ZERO_LIMIT_RE.search(message):
        cls = QuotaExhaustedError  # "limit: 0": this key may not use the model at all
    elif gstatus in _STATUS_KIND:
        cls = _STATUS_KIND[gstatus]
    retry_after = _retry_delay(details)
    if cls is None:
        if eff_status is None:
            cls = ServerError
        else:
            return error_for_status(
                eff_status,
                message,
                provider=provider,
                headers=headers,
                code=gstatus,
                retry_after=retry_after,
            )
    return make_error(
        cls,
        message or (f"HTTP {eff_status}" if eff_status else "error in stream"),
        provider=provider,
        status=eff_status,
        headers=headers,
        code=gstatus,
        retry_after=retry_after,
        request_id=google_request_id(headers),
    )


def classify_gemini(response: httpx.Response, provider: str = "gemini") -> LLMError:
    """The error a non-2xx Gemini response means; a body that is not Google's shape (a proxy's
    HTML page, an empty body) still classifies by its HTTP status."""
    try:
        body: Any = json_body(response, provider)
    except LLMError:
        body = None
    if isinstance(body, list) and body:  # a JSON-array stream request that failed
        body = body[0]
    err = as_dict(body).get("error")
    if isinstance(err, dict):
        return error_from_google(
            err, provider=provider, headers=response.headers, status=response.status_code
        )
    snippet = response.content.decode("utf-8", errors="replace").strip()[:300]
    if isinstance(err, str):
        snippet = err
    return error_for_status(
        response.status_code,
        snippet,
        provider=provider,
        headers=response.headers,
        request_id=google_request_id(response.headers),
    )
