"""What a provider adapter is, and the pieces every adapter shares.

An adapter is sans-IO: it builds an ``httpx.Request`` from a :class:`ChatRequest`, parses an
already-read ``httpx.Response`` into a :class:`ChatResponse`, classifies a non-2xx response
into one :class:`LLMError`, and turns SSE events into :class:`StreamEvent` values. It never
sends anything; the client's transport layer does.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final, Protocol

import httpx

from llmkit.errors import (
    AuthError,
    BadRequestError,
    InvalidResponseError,
    LLMError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from llmkit.secrets import APIKey
from llmkit.sse import SSEEvent
from llmkit.types import ChatRequest, ChatResponse, StreamEvent

__all__ = [
    "Adapter",
    "StreamParser",
    "error_for_status",
    "header",
    "json_body",
    "parse_retry_after",
    "safe_headers",
    "should_retry_override",
    "token_count",
]


class StreamParser(Protocol):
    """Stateful: one per stream. ``feed`` raises the classified LLMError on an error event."""

    def feed(self, event: SSEEvent) -> list[StreamEvent]: ...

    def finish(self, *, clean: bool = True) -> ChatResponse:
        """The aggregated response. Raises InvalidResponseError if the stream was truncated
        (``clean`` False, or the provider's terminal event never came)."""
        ...


class Adapter(Protocol):
    # Read-only properties, so a frozen dataclass or a plain attribute both satisfy them.
    @property
    def name(self) -> str:
        """Provider name as telemetry reports it: ``openai``, ``anthropic``, ``openrouter``."""
        ...

    @property
    def default_base_url(self) -> str: ...

    def build_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request: ...

    def parse_response(self, response: httpx.Response) -> ChatResponse:
        """Parse a 2xx non-streaming body. Raises InvalidResponseError if malformed."""
        ...

    def classify(self, response: httpx.Response) -> LLMError:
        """The error for a non-2xx response (returned, not raised)."""
        ...

    def stream_parser(self, response: httpx.Response) -> StreamParser:
        """A parser for this response's SSE body (it may look at the request path)."""
        ...


# --------------------------------------------------------------------------- shared helpers


def header(headers: httpx.Headers | Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (httpx.Headers already is; plain dicts are not)."""
    if isinstance(headers, httpx.Headers):
        value: str | None = headers.get(name)
        return value
    lname = name.lower()
    for k, v in headers.items():
        if k.lower() == lname:
            return str(v)
    return None


def request_id(headers: httpx.Headers) -> str | None:
    rid: str | None = (
        headers.get("x-request-id")
        or headers.get("request-id")
        or headers.get("x-generation-id")
        or headers.get("cf-ray")
    )
    return rid


_SAFE_HEADERS: Final = frozenset(
    {
        "content-type",
        "date",
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
        "x-request-id",
        "request-id",
        "x-generation-id",
        "apim-request-id",
        "cf-ray",
        "openai-processing-ms",
        "openai-poll-after-ms",
        "openai-model",
        "openai-version",
        "anthropic-version",
        "server-timing",
        "x-ms-region",
        "x-ms-deployment-name",
        "x-gemini-service-tier",
    }
)
_SAFE_PREFIXES: Final = ("x-ratelimit-", "anthropic-ratelimit-", "ratelimit-")


def safe_headers(headers: httpx.Headers | Mapping[str, str]) -> dict[str, str]:
    """The response headers an operator reads (request ids, rate-limit and retry headers,
    processing time, region), by an allowlist: cookies, auth and organisation/project ids
    never pass, whatever a provider adds next. Names lower-cased; repeats joined by ``, ``."""
    items = headers.multi_items() if isinstance(headers, httpx.Headers) else headers.items()
    out: dict[str, str] = {}
    for name, value in items:
        low = name.lower()
        if low in _SAFE_HEADERS or low.startswith(_SAFE_PREFIXES):
            out[low] = f"{out[low]}, {value}" if low in out else value
    return out


_headers_request_id = request_id  # make_error's ``request_id`` parameter shadows the name


class _FromHeaders(Enum):
    """The default of ``request_id=``: read it from the headers (None means "there is none")."""

    FROM_HEADERS = "from_headers"


FROM_HEADERS: Final = _FromHeaders.FROM_HEADERS


def json_body(response: httpx.Response, provider: str) -> Any:
    """Decode a JSON body, tolerating leading keep-alive whitespace (OpenRouter).

    Raises InvalidResponseError for a body that is not JSON (never a bare ValueError).
    """
    try:
        raw = response.content
    except httpx.ResponseNotRead as exc:
        raise InvalidResponseError(
            "response body was not read", provider=provider, status=response.status_code
        ) from exc
    try:
        return json.loads(raw.decode("utf-8", errors="replace").strip() or "null")
    except (ValueError, RecursionError) as exc:
        raise InvalidResponseError(
            f"response body is not valid JSON ({len(raw)} bytes)",
            provider=provider,
            status=response.status_code,
            request_id=request_id(response.headers),
        ) from exc


def _finite_nonneg(x: float) -> float | None:
    return x if math.isfinite(x) and x >= 0 else None


def parse_retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date), in
    that order; None when absent or unreadable. ``now`` is wall time (for HTTP dates)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            v = _finite_nonneg(float(ms) / 1000.0)
            if v is not None:
                return v
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra is None:
        return None
    try:
        return _finite_nonneg(float(ra))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def should_retry_override(headers: httpx.Headers) -> bool | None:
    value = headers.get("x-should-retry")
    if value is None:
        return None
    value = value.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    headers: httpx.Headers,
    code: str | None = None,
    retry_after: float | None = None,
    request_id: str | _FromHeaders | None = FROM_HEADERS,
) -> LLMError:
    """The default status mapping; adapters refine it with the body's code first."""
    cls: type[LLMError]
    if status in {400, 422}:
        cls = BadRequestError
    elif status == 401:
        cls = AuthError
    elif status == 402:
        cls = QuotaExhaustedError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status == 408:
        cls = TimeoutError
    elif status == 409:
        cls = ServerError  # lock timeouts; the SDKs retry 409
    elif status == 413:
        cls = BadRequestError
    elif status == 429:
        cls = RateLimitError
    elif status in (503, 529):
        cls = OverloadedError
    elif status >= 500:
        cls = ServerError
    else:
        cls = BadRequestError if 400 <= status < 500 else InvalidResponseError
    return make_error(
        cls,
        message,
        provider=provider,
        status=status,
        headers=headers,
        code=code,
        retry_after=retry_after,
        request_id=request_id,
    )


def make_error(
    cls: type[LLMError],
    message: str,
    *,
    provider: str,
    status: int | None,
    headers: httpx.Headers,
    code: str | None = None,
    retry_after: float | None = None,
    request_id: str | _FromHeaders | None = FROM_HEADERS,
) -> LLMError:
    """Build an error with the request id, retry-after and x-should-retry filled in.

    ``request_id`` is for an adapter that finds the id itself (Anthropic drops recorder
    placeholders and reads the body); by default it comes from the usual headers.
    """
    if isinstance(request_id, _FromHeaders):
        request_id = _headers_request_id(headers)
    return cls(
        message or f"HTTP {status}",
        provider=provider,
        status=status,
        request_id=request_id,
        retry_after=retry_after if retry_after is not None else parse_retry_after(headers),
        retryable=should_retry_override(headers),
        code=code,
    )


def token_count(
    response: httpx.Response, provider: str, adapter: Adapter, *, key: str = "input_tokens"
) -> int:
    """The count (``key``) in a token-counting endpoint's answer (Anthropic
    ``/v1/messages/count_tokens`` and OpenAI ``/v1/responses/input_tokens`` say
    ``input_tokens``, Gemini ``:countTokens`` ``totalTokens``); a non-2xx answer raises its
    classified error, a malformed one :class:`InvalidResponseError`."""
    if not response.is_success:
        raise adapter.classify(response)
    data = json_body(response, provider)
    count = data.get(key) if isinstance(data, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidResponseError(
            f"token count answer has no non-negative integer {key!r}",
            provider=provider,
            status=response.status_code,
            request_id=request_id(response.headers),
        )
    return count
