"""The innermost handler: one attempt over HTTP through a provider adapter.

An attempt: check the deadline, build the request with the adapter, put the effective
timeouts in ``request.extensions["timeout"]``, send it with httpx, read the body (or the SSE
stream), classify a non-2xx answer, report a neutral :class:`~llmkit.outcomes.AttemptOutcome`
in ``ctx.attempts`` (status, answer or error, timings, response headers; telemetry builds its
attempt records from those, the throttle reads the rate-limit headers). Every failure leaves
as exactly one :class:`~llmkit.errors.LLMError`, never a raw httpx exception::

    httpx ConnectTimeout/ReadTimeout/WriteTimeout/PoolTimeout -> TimeoutError
        (DeadlineExceededError when the deadline had shrunk that timeout)
    ConnectError/ReadError/WriteError/RemoteProtocolError/ProxyError/OSError -> ConnectionError
        (a body cut by the peer arrives as RemoteProtocolError: retryable ConnectionError)
    UnsupportedProtocol/LocalProtocolError -> ConnectionError, not retryable (a bad base_url)
    DecodingError/TooManyRedirects -> InvalidResponseError
    a stream that ends without its terminal event -> InvalidResponseError (from the parser)

Deadline on the real clock: an async attempt runs under ``asyncio.timeout``; a sync attempt,
once its response headers are in, registers with :mod:`llmkit.watchdog`, which shuts its
socket down at the deadline so a read blocked then returns at once (mapped to
DeadlineExceededError). Before the headers, the connect/write/read timeouts shrunk to the time
left bound each socket operation.

Streams: ``chat(stream=True)`` reads the whole stream inside the attempt (so a mid-stream
failure can still be retried: nothing was delivered) and returns the aggregate with ``ttft``.
``Client.stream`` sets ``ctx.deliver_stream``: the attempt returns as soon as the first content
event has arrived (a failure before it, after a ``message_start`` say, is still retried) and
leaves a :class:`ChatStream` in ``ctx.stream``; from then on errors go to the
reader.

The modules, in the order a request meets them:

=================  ==============================================================
``endpoint``       :class:`Endpoint` (adapter, URL, key, timeouts) and one attempt's
                   bookkeeping; sans-IO
``http``           :class:`HTTPTransport` / :class:`AsyncHTTPTransport`: send, read, parse
``body``           the body deadline and the watchdog that cuts a sync read at the deadline
``streams``        :class:`ChatStream` / :class:`AsyncChatStream` over one sans-IO state
``mapping``        :func:`map_error`: httpx and OS exceptions to the error tree
=================  ==============================================================

The test double (``ScriptedTransport``) lives in :mod:`llmkit.testing`.
"""

from __future__ import annotations

from typing import Any

from llmkit.transport.endpoint import Endpoint
from llmkit.transport.http import AsyncHTTPTransport, HTTPTransport
from llmkit.transport.mapping import map_error
from llmkit.transport.streams import AsyncChatStream, ChatStream

__all__ = [
    "AsyncChatStream",
    "AsyncHTTPTransport",
    "ChatStream",
    "Endpoint",
    "HTTPTransport",
    "map_error",
]


def __getattr__(name: str) -> Any:
    """``Scripted`` and ``ScriptedTransport`` moved to :mod:`llmkit.testing`; old imports
    keep working."""
    if name in {"Scripted", "ScriptedTransport"}:
        import llmkit.testing  # noqa: PLC0415 - only for the old import path

        return getattr(llmkit.testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
