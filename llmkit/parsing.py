"""Parse or classify one already-read provider response: the public, sans-IO entry points.

Use these to test a parser against recorded traffic, or to reuse llmkit's error taxonomy with
another HTTP stack. The adapter is picked from the provider name and the request path the
response carries (``/responses`` means OpenAI's Responses API); a response built without a
request is read as chat.

Each function raises nothing but :class:`~llmkit.errors.LLMError` whatever the body and headers
(``ValueError`` only for an unknown provider name). A parsing slip that would escape as a
``KeyError`` or ``TypeError`` becomes an ``InvalidResponseError`` chained to the original, so
a caller's ``except LLMError`` always holds.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TypeVar

import httpx

from llmkit.decompress import MAX_BODY_BYTES, decode_body
from llmkit.errors import InvalidResponseError, LLMError
from llmkit.providers import adapter_for
from llmkit.providers.base import Adapter, error_for_status, safe_headers
from llmkit.providers.gemini import array_events
from llmkit.sse import SSEDecoder
from llmkit.types import ChatResponse

__all__ = ["classify", "parse_response", "parse_stream"]

T = TypeVar("T")

_SLIPS = (
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    RecursionError,
    UnicodeError,
    OverflowError,
    zlib.error,
    httpx.HTTPError,
    httpx.ResponseNotRead,
)


def parse_response(
    provider: str, response: httpx.Response, *, max_body: int = MAX_BODY_BYTES
) -> ChatResponse:
    """The answer in a non-streaming 2xx body; raises the classified error for any other status.

    A body that still starts gzipped is gunzipped, up to ``max_body`` decoded bytes
    (:mod:`llmkit.decompress`); past that, InvalidResponseError.
    """
    adapter = _adapter(provider, response)
    plain = _guard(adapter.name, response, lambda: _decompressed(response, adapter.name, max_body))
    if not 200 <= plain.status_code < 300:
        raise _classify(adapter, plain)
    out = _guard(adapter.name, plain, lambda: adapter.parse_response(plain))
    return out.with_(headers=safe_headers(plain.headers))


def parse_stream(
    provider: str, response: httpx.Response, *, max_body: int = MAX_BODY_BYTES
) -> ChatResponse:
    """The answer in an SSE body already read into ``response`` (for Gemini, also the JSON
    array of chunks a stream requested without ``alt=sse`` returns).

    Raises the classified error for a non-2xx status or an error event inside the stream, and
    InvalidResponseError when the stream is truncated or malformed, or decodes to more than
    ``max_body`` bytes.
    """
    adapter = _adapter(provider, response)
    plain = _guard(adapter.name, response, lambda: _decompressed(response, adapter.name, max_body))
    if not 200 <= plain.status_code < 300:
        raise _classify(adapter, plain)

    def run() -> ChatResponse:
        parser = adapter.stream_parser(plain)
        if getattr(adapter, "json_array_streams", False) and plain.content.lstrip()[:1] == b"[":
            for event in array_events(plain.content):  # Gemini without ?alt=sse
                parser.feed(event)
            return parser.finish(clean=True)
        decoder = SSEDecoder()
        for event in decoder.feed(plain.content):
            parser.feed(event)
        tail, clean = decoder.close()
        for event in tail:
            parser.feed(event)
        return parser.finish(clean=clean)

    return _guard(adapter.name, plain, run).with_(headers=safe_headers(plain.headers))


def classify(
    provider: str, response: httpx.Response, *, max_body: int = MAX_BODY_BYTES
) -> LLMError:
    """The error a non-2xx response means (returned, not raised)."""
    adapter = _adapter(provider, response)
    try:
        plain = _decompressed(response, adapter.name, max_body)
    except LLMError as exc:
        return exc
    return _classify(adapter, plain)


# ----------------------------------------------------------------------------- internals


def _adapter(provider: str, response: httpx.Response) -> Adapter:
    try:
        path = response.request.url.path
    except RuntimeError:  # httpx: "The request instance has not been set on this response."
        path = ""
    return adapter_for(provider, path=path)


def _classify(adapter: Adapter, response: httpx.Response) -> LLMError:
    try:
        err = adapter.classify(response)
    except LLMError as exc:
        return exc
    except _SLIPS:
        err = None
    if isinstance(err, LLMError):
        return err
    return error_for_status(
        response.status_code, "", provider=adapter.name, headers=response.headers
    )


def _guard(provider: str, response: httpx.Response, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except LLMError:
        raise
    except _SLIPS as exc:
        raise InvalidResponseError(
            f"could not parse the response: {type(exc).__name__}",
            provider=provider,
            status=response.status_code,
        ) from exc


def _decompressed(response: httpx.Response, provider: str, max_body: int) -> httpx.Response:
    """The response itself, or a copy with its body gunzipped when it still starts gzipped
    (a recorder or proxy that kept the bytes but dropped ``Content-Encoding``), capped."""
    try:
        raw = response.content
    except httpx.ResponseNotRead as exc:
        raise InvalidResponseError(
            "response body was not read", provider=provider, status=response.status_code
        ) from exc
    if raw[:2] != b"\x1f\x8b":
        return response
    status = response.status_code
    body = b"".join(decode_body([raw], "gzip", max_body=max_body, provider=provider, status=status))
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length")
    ]
    try:
        request: httpx.Request | None = response.request
    except RuntimeError:
        request = None
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=request,
        extensions=dict(response.extensions),
    )
