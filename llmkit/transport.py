"""The innermost handler: one attempt over HTTP through a provider adapter.

An attempt: check the deadline, build the request with the adapter, put the effective
timeouts in ``request.extensions["timeout"]``, send it with httpx, read the body (or the SSE
stream), classify a non-2xx answer, append an attempt record. Every failure leaves as exactly
one :class:`~llmkit.errors.LLMError`, never a raw httpx exception::

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
``Client.stream`` sets ``ctx.deliver_stream``: the attempt returns as soon as the first event
has arrived and leaves a :class:`ChatStream` in ``ctx.stream``; from then on errors go to the
reader. Each attempt ends as one neutral :class:`~llmkit.outcomes.AttemptOutcome` in
``ctx.attempts`` (status, answer or error, timings, response headers for ``llmkit.throttle``);
telemetry builds its attempt records from those. The sans-IO parts (timeouts, error mapping,
stream state, records) are shared; the sync and async classes only do I/O.

:class:`ScriptedTransport` is a test double for httpx that advances a virtual clock by a
scripted latency and honours the timeouts in ``request.extensions``.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import collections
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from llmkit.clock import SystemClock, VirtualClock
from llmkit.deadline import AttemptTimeouts, Timeouts, check_can_start
from llmkit.errors import (
    ConnectionError,
    DeadlineExceededError,
    InvalidResponseError,
    LLMError,
    TimeoutError,
)
from llmkit.layers import CallContext
from llmkit.outcomes import AttemptOutcome
from llmkit.providers.base import Adapter, StreamParser
from llmkit.secrets import APIKey, redact_url
from llmkit.sse import SSEDecoder
from llmkit.types import ChatRequest, ChatResponse, StreamEvent
from llmkit.watchdog import Watch, watchdog

__all__ = [
    "AsyncChatStream",
    "AsyncHTTPTransport",
    "ChatStream",
    "Endpoint",
    "HTTPTransport",
    "Scripted",
    "ScriptedTransport",
    "map_error",
]

_httpx_log = logging.getLogger("httpx")
"""httpx's logger: direct sends log the line ``AsyncClient.send`` would."""
_CONTENT = frozenset({"text", "reasoning", "tool_call"})
_PHASE: dict[type[BaseException], str] = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


class _Attempt:
    """Bookkeeping of one attempt in flight."""

    __slots__ = ("number", "remaining", "stream", "t0", "timeouts", "timer", "wall", "watch")

    def __init__(self, ctx: CallContext, timeouts: Timeouts, stream: bool) -> None:
        check_can_start(ctx)
        ctx.attempt += 1
        self.number = ctx.attempt
        self.stream = stream
        self.remaining = ctx.remaining()
        self.timeouts: AttemptTimeouts = timeouts.for_attempt(self.remaining, stream=stream)
        self.t0 = ctx.clock.now()
        self.wall = ctx.clock.wall()
        self.timer: asyncio.Timeout | None = None
        """The ``asyncio.timeout`` bounding an async attempt by the deadline, if any."""
        self.watch: Watch | None = None
        """The watchdog registration cutting a sync attempt's socket at the deadline, if any."""


def map_error(
    exc: BaseException,
    provider: str,
    timeouts: AttemptTimeouts | None = None,
    *,
    idle: bool = False,
) -> LLMError | None:
    """The LLMError for a transport exception, or None for an exception that is a bug."""
    if isinstance(exc, LLMError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException) and _refused(exc):
        # httpx-aiohttp maps every aiohttp ClientConnectionError (refused, DNS, and a server
        # that disconnects: ServerDisconnectedError) to ConnectTimeout.
        return ConnectionError(f"{name}: {exc}", provider=provider)
    if isinstance(exc, httpx.TimeoutException | builtins.TimeoutError):
        phase = _PHASE.get(type(exc), "read")
        limit = getattr(timeouts, phase) if timeouts is not None else None
        secs = f" after {limit:.3g}s" if limit is not None else ""
        if timeouts is not None and phase in timeouts.shrunk:
            return DeadlineExceededError(
                f"call deadline exceeded: {phase} timeout shrunk to the time left{secs} ({name})",
                provider=provider,
            )
        what = "stream idle" if idle and phase == "read" else f"{phase} timeout"
        return TimeoutError(f"{what}{secs} ({name})", provider=provider)
    if isinstance(exc, httpx.DecodingError | httpx.TooManyRedirects):
        return InvalidResponseError(f"{name}: {exc}", provider=provider)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return ConnectionError(f"{name}: {exc}", provider=provider, retryable=False)
    if isinstance(exc, httpx.HTTPError | OSError):
        return ConnectionError(f"{name}: {exc}" if str(exc) else name, provider=provider)
    return None


def _refused(exc: BaseException) -> bool:
    """True when a "timeout" was caused by a non-timeout OSError (a refused connection) or by
    a non-timeout aiohttp error (a server that disconnected)."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, builtins.TimeoutError):
            return False
        if isinstance(cause, OSError) or type(cause).__module__.startswith("aiohttp."):
            return True
        cause = cause.__cause__
    return False


class Endpoint:
    """Where and how attempts go: the adapter, base URL, key and timeouts (no I/O here)."""

    __slots__ = (
        "_basic",
        "_path_base",
        "_query",
        "adapter",
        "api_key",
        "base_url",
        "host",
        "provider",
        "timeouts",
    )

    def __init__(
        self,
        adapter: Adapter,
        *,
        base_url: str | None = None,
        api_key: APIKey | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.adapter = adapter
        self.provider = adapter.name
        self.base_url = (base_url or adapter.default_base_url).rstrip("/")
        self.api_key = api_key
        self.timeouts = timeouts or Timeouts()
        url = httpx.URL(self.base_url)
        self.host = url.host or None
        # A query in the base URL (Azure's ``?api-version=...&api-key=...``, Gemini's ``?key=``)
        # goes on every request URL, after the adapter's path. Userinfo
        # (``https://user:pass@gateway``) becomes a Basic ``Authorization`` header, as httpx
        # does for a sync client (aiohttp refuses the pair), and leaves the URL: the request
        # objects in a traceback's locals then hold no password.
        self._query = url.params
        self._basic: str | None = None
        if url.userinfo:
            raw = f"{url.username}:{url.password}".encode()
            self._basic = "Basic " + base64.b64encode(raw).decode("ascii")
        if url.query or url.userinfo:
            url = url.copy_with(query=None, username=None, password=None)
            self._path_base = str(url).rstrip("/")
        else:
            self._path_base = self.base_url

    def start(self, request: ChatRequest, ctx: CallContext) -> tuple[httpx.Request, _Attempt]:
        att = _Attempt(ctx, self.timeouts, request.stream)
        http_request = self.adapter.build_request(
            request, base_url=self._path_base, api_key=self.api_key
        )
        if self._query:
            http_request.url = http_request.url.copy_merge_params(self._query)
        if self._basic is not None:
            http_request.headers["authorization"] = self._basic
        http_request.extensions["timeout"] = att.timeouts.as_extension()
        return http_request, att

    def error(self, exc: BaseException, att: _Attempt, *, idle: bool = False) -> LLMError | None:
        if isinstance(exc, asyncio.CancelledError):
            if att.timer is not None and att.timer.expired():
                return DeadlineExceededError(
                    f"call deadline exceeded: the attempt ran out of its "
                    f"{att.remaining or 0.0:.3g}s",
                    provider=self.provider,
                )
            return None  # cancelled from outside (a hedge that lost): recorded, re-raised
        watch = att.watch
        if (
            watch is not None
            and watch.fired
            and isinstance(exc, httpx.HTTPError | OSError | LLMError)
        ):
            # The watchdog shut the socket down: the read ended because the time ran out.
            return DeadlineExceededError(
                f"call deadline exceeded: the attempt's socket was cut at the deadline "
                f"({type(exc).__name__})",
                provider=self.provider,
            )
        return map_error(exc, self.provider, att.timeouts, idle=idle)

    def record(
        self,
        ctx: CallContext,
        request: ChatRequest,
        att: _Attempt,
        *,
        status: int | None = None,
        response: ChatResponse | None = None,
        error: BaseException | None = None,
        ttft: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Report the ended attempt as a neutral :class:`AttemptOutcome` in ``ctx.attempts``."""
        if isinstance(error, LLMError) and self.api_key is not None:
            error.redact(self.api_key)  # every failure passes here before it is raised
        if isinstance(error, LLMError) and status is None:
            status = error.status
        ctx.attempts.append(
            AttemptOutcome(
                number=att.number,
                provider=self.provider,
                model=request.model,
                stream=request.stream,
                wall=att.wall,
                latency=ctx.clock.now() - att.t0,
                ttft=ttft,
                status=status,
                response=response,
                error=error,
                cancelled=(response is None and error is None)
                or isinstance(error, asyncio.CancelledError),
                headers=headers,
                server_address=self.host,
                read_timeout=att.timeouts.read,
                deadline_remaining=att.remaining,
            )
        )

    def placeholder(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="", model=request.model, provider=self.provider)

    def __repr__(self) -> str:
        return (
            f"Endpoint({self.provider!r}, base_url={redact_url(self.base_url)!r}, "
            f"timeouts={self.timeouts!r})"
        )


# --------------------------------------------------------------------------- streams


class _StreamState:
    """Sans-IO half of a stream: decode chunks, keep events, finish, record, notify."""

    def __init__(
        self,
        endpoint: Endpoint,
        request: ChatRequest,
        ctx: CallContext,
        att: _Attempt,
        response: httpx.Response,
    ) -> None:
        self._endpoint = endpoint
        self._request = request
        self._ctx = ctx
        self._att = att
        self._http = response
        self._decoder = SSEDecoder()
        self._parser: StreamParser = endpoint.adapter.stream_parser(response)
        self._buffer: collections.deque[StreamEvent] = collections.deque()
        self._eof = False
        self._ended = False
        self.ttft: float | None = None
        self.response: ChatResponse | None = None
        """The final aggregated answer, once the stream has ended cleanly."""

    @classmethod
    def _done_state(cls, response: ChatResponse) -> dict[str, Any]:
        events: list[StreamEvent] = []
        if response.text:
            events.append(StreamEvent("text", text=response.text))
        for i, call in enumerate(response.tool_calls):
            events.append(
                StreamEvent("tool_call", text=call.arguments, index=i, id=call.id, name=call.name)
            )
        events.append(StreamEvent("usage", usage=response.usage))
        events.append(StreamEvent("finish", finish_reason=response.finish_reason))
        return {
            "_buffer": collections.deque(events),
            "_eof": True,
            "_ended": True,
            "response": response,
            "ttft": response.ttft,
        }

    def _on_chunk(self, chunk: bytes) -> None:
        for sse in self._decoder.feed(chunk):
            for ev in self._parser.feed(sse):
                if self.ttft is None and ev.type in _CONTENT:
                    self.ttft = self._ctx.clock.now() - self._att.t0
                self._buffer.append(ev)
        remaining = self._ctx.remaining()
        if remaining is not None and remaining < 0:
            raise DeadlineExceededError(
                f"call deadline exceeded while streaming ({-remaining:.3f}s over)",
                provider=self._endpoint.provider,
            )

    def _on_eof(self) -> ChatResponse:
        self._eof = True
        events, clean = self._decoder.close()
        for sse in events:
            self._buffer.extend(self._parser.feed(sse))
        final = self._parser.finish(clean=clean)
        ctx = self._ctx
        latency = ctx.clock.now() - (ctx.started if ctx.deliver_stream else self._att.t0)
        self.response = final.with_(ttft=self.ttft, latency=latency)
        return self.response

    def _map(self, exc: BaseException) -> LLMError | None:
        return self._endpoint.error(exc, self._att, idle=True)

    def _end(self, response: ChatResponse | None, error: BaseException | None) -> None:
        """Record the attempt and tell the layers, exactly once."""
        if self._ended:
            return
        self._ended = True
        ctx = self._ctx
        self._endpoint.record(
            ctx,
            self._request,
            self._att,
            status=self._http.status_code,
            response=response,
            error=error,
            ttft=self.ttft,
            headers=self._http.headers,
        )
        if ctx.stream is self:
            ctx.stream_result = (response, error)
            for callback in ctx.on_stream_end or ():
                callback(response, error)


class ChatStream(_StreamState):
    """Iterate for :class:`StreamEvent` values; ``response`` holds the aggregate at the end.

    Use as a context manager (or call :meth:`close`) so an abandoned stream frees its
    connection.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        request: ChatRequest,
        ctx: CallContext,
        att: _Attempt,
        response: httpx.Response,
    ) -> None:
        super().__init__(endpoint, request, ctx, att, response)
        self._chunks: Iterator[bytes] = response.iter_bytes()

    @classmethod
    def completed(cls, response: ChatResponse) -> ChatStream:
        """A stream over an answer that is already complete (served by cache, for example)."""
        self = cls.__new__(cls)
        for k, v in cls._done_state(response).items():
            setattr(self, k, v)
        return self

    def _pull(self) -> None:
        """Read until at least one event is buffered or the stream has ended."""
        try:
            while not self._buffer and not self._eof:
                try:
                    chunk = next(self._chunks)
                except StopIteration:
                    self._on_eof()
                    break
                self._on_chunk(chunk)
        except BaseException as exc:
            mapped = self._map(exc)
            self.close(error=mapped or exc)
            if mapped is not None and mapped is not exc:
                raise mapped from exc
            raise
        if self._eof:
            self.close(response=self.response)

    def __iter__(self) -> Iterator[StreamEvent]:
        while True:
            while self._buffer:
                yield self._buffer.popleft()
            if self._eof:
                return
            self._pull()

    def get_final_response(self) -> ChatResponse:
        """Read what is left and return the aggregated answer."""
        for _ in self:
            pass
        assert self.response is not None
        return self.response

    def close(
        self, *, response: ChatResponse | None = None, error: BaseException | None = None
    ) -> None:
        if self._ended:
            return
        self._http.close()
        self._end(response, error)

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "done" if self._eof else "open"
        return f"<ChatStream {state}>"


class AsyncChatStream(_StreamState):
    """``async for`` :class:`StreamEvent` values; ``response`` holds the aggregate at the end."""

    def __init__(
        self,
        endpoint: Endpoint,
        request: ChatRequest,
        ctx: CallContext,
        att: _Attempt,
        response: httpx.Response,
    ) -> None:
        super().__init__(endpoint, request, ctx, att, response)
        self._chunks: AsyncIterator[bytes] = response.aiter_bytes()

    @classmethod
    def completed(cls, response: ChatResponse) -> AsyncChatStream:
        self = cls.__new__(cls)
        for k, v in cls._done_state(response).items():
            setattr(self, k, v)
        return self

    async def _pull(self) -> None:
        try:
            while not self._buffer and not self._eof:
                try:
                    chunk = await self._chunks.__anext__()
                except StopAsyncIteration:
                    self._on_eof()
                    break
                self._on_chunk(chunk)
        except BaseException as exc:
            mapped = self._map(exc)
            await self.aclose(error=mapped or exc)
            if mapped is not None and mapped is not exc:
                raise mapped from exc
            raise
        if self._eof:
            await self.aclose(response=self.response)

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        while True:
            while self._buffer:
                yield self._buffer.popleft()
            if self._eof:
                return
            await self._pull()

    async def get_final_response(self) -> ChatResponse:
        async for _ in self:
            pass
        assert self.response is not None
        return self.response

    async def aclose(
        self, *, response: ChatResponse | None = None, error: BaseException | None = None
    ) -> None:
        if self._ended:
            return
        await self._http.aclose()
        self._end(response, error)

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "done" if self._eof else "open"
        return f"<AsyncChatStream {state}>"


# --------------------------------------------------------------------------- transports


class HTTPTransport:
    """The sync innermost handler: ``transport(request, ctx) -> ChatResponse``."""

    __slots__ = ("direct", "endpoint", "http")

    def __init__(
        self, endpoint: Endpoint, http: httpx.Client, *, direct: httpx.BaseTransport | None = None
    ) -> None:
        self.endpoint = endpoint
        self.http = http
        self.direct = direct
        """As :class:`AsyncHTTPTransport`'s ``direct``."""

    def _send(self, request: httpx.Request) -> httpx.Response:
        direct = self.direct
        if direct is None or self.http.is_closed:  # a closed client raises as httpx does
            return self.http.send(request, stream=True)
        try:
            response = direct.handle_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        _log_sent(request, response)
        return response

    def __call__(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        ep = self.endpoint
        http_request, att = ep.start(request, ctx)
        try:
            response = self._send(http_request)
        except Exception as exc:
            if (err := _fail(ep, ctx, request, att, exc)) is None:
                raise
            raise err from exc
        streaming = request.stream and response.is_success
        if ctx.deadline is not None:
            if type(ctx.clock) is SystemClock:  # virtual seconds are not the watchdog's
                att.watch = _arm(response, ctx.deadline)
            if att.watch is not None or not streaming:  # streams check after each chunk
                response.stream = _BodyDeadline(
                    response.stream, ep, ctx, att.watch, check=not streaming
                )
        if streaming:
            return self._stream(request, ctx, att, response)
        try:
            response.read()
        except Exception as exc:
            if (err := _fail(ep, ctx, request, att, exc, response=response)) is None:
                raise
            raise err from exc
        finally:
            response.close()
            if att.watch is not None:
                watchdog.cancel(att.watch)  # done by the body's close; again in case it was not
        return _parse(ep, ctx, request, att, response)

    def _stream(
        self, request: ChatRequest, ctx: CallContext, att: _Attempt, response: httpx.Response
    ) -> ChatResponse:
        stream = ChatStream(self.endpoint, request, ctx, att, response)
        if ctx.deliver_stream:
            stream._pull()  # the first event, so failures before it can still be retried
            _deliver(ctx, stream)
            return self.endpoint.placeholder(request)
        return stream.get_final_response()

    def close(self) -> None:
        self.http.close()


class AsyncHTTPTransport:
    """The async innermost handler; works with any ``httpx.AsyncClient`` transport.

    On the system clock the whole attempt also runs under ``asyncio.timeout(time left)``, so
    neither a slow connect nor a trickling body outlives the call's deadline (httpx's timeouts
    bound each socket operation, not their sum). A cancelled attempt (a hedge that lost) is
    recorded with ``error_type="cancelled"`` before the cancellation goes on.

    ``direct``: the transport every request of ``http`` goes to, when llmkit made ``http``
    itself (no auth, hooks, cookies or proxy mounts). Attempts then skip ``http.send`` and
    call ``direct.handle_async_request`` (~55 µs of CPU less per call, ~17% with aiohttp),
    doing the part of ``send`` that matters here: ``response.request``, the exception's
    request, httpx's ``HTTP Request:`` log line. ``response.elapsed`` is not set.
    """

    __slots__ = ("direct", "endpoint", "http")

    def __init__(
        self,
        endpoint: Endpoint,
        http: httpx.AsyncClient,
        *,
        direct: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.http = http
        self.direct = direct

    async def __call__(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        http_request, att = self.endpoint.start(request, ctx)
        if att.remaining is None or type(ctx.clock) is not SystemClock:
            # Other clocks' seconds are not the loop's; the body check below still applies.
            return await self._attempt(request, ctx, att, http_request)
        async with asyncio.timeout(att.remaining) as att.timer:
            return await self._attempt(request, ctx, att, http_request)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        direct = self.direct
        if direct is None or self.http.is_closed:  # a closed client raises as httpx does
            return await self.http.send(request, stream=True)
        try:
            response = await direct.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        _log_sent(request, response)
        return response

    async def _attempt(
        self, request: ChatRequest, ctx: CallContext, att: _Attempt, http_request: httpx.Request
    ) -> ChatResponse:
        ep = self.endpoint
        try:
            response = await self._send(http_request)
        except BaseException as exc:  # CancelledError too: a cancelled attempt is recorded
            if (err := _fail(ep, ctx, request, att, exc)) is None:
                raise
            raise err from exc
        if request.stream and response.is_success:
            stream = AsyncChatStream(ep, request, ctx, att, response)
            if ctx.deliver_stream:
                await stream._pull()
                _deliver(ctx, stream)
                return ep.placeholder(request)
            return await stream.get_final_response()
        if ctx.deadline is not None and att.timer is None:  # the timer covers the body too
            response.stream = _BodyDeadline(response.stream, ep, ctx)
        try:
            await response.aread()
        except BaseException as exc:
            if (err := _fail(ep, ctx, request, att, exc, response=response)) is None:
                raise
            raise err from exc
        finally:
            await response.aclose()
        return _parse(ep, ctx, request, att, response)

    async def aclose(self) -> None:
        await self.http.aclose()


class _BodyDeadline(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that stops waiting for more bytes once the call's deadline has passed.

    httpx's read timeout bounds each socket read, so a server trickling a byte every few
    seconds could hold a non-stream call far past its deadline. Between chunks this raises
    DeadlineExceededError (the call's time ran out; not retryable: no time is left to retry
    in). A chunk already received is never thrown away. That alone leaves one socket read of
    overrun (up to the read timeout shrunk when the attempt began); on the system clock the
    sync transport also holds a watchdog registration (``watch``) that shuts the socket down
    at the deadline, so that read returns at once. :meth:`close` cancels it *before* the
    connection goes back to the pool, so a pooled socket is never cut. ``check=False`` (a
    stream: its reader checks after each chunk) keeps only the watchdog part.
    """

    __slots__ = ("_check_each", "_ctx", "_endpoint", "_inner", "_watch")

    def __init__(
        self,
        inner: Any,
        endpoint: Endpoint,
        ctx: CallContext,
        watch: Watch | None = None,
        *,
        check: bool = True,
    ) -> None:
        self._inner = inner
        self._endpoint = endpoint
        self._ctx = ctx
        self._watch = watch
        self._check_each = check

    def _check(self) -> None:
        remaining = self._ctx.remaining()
        if remaining is not None and remaining < 0:
            raise DeadlineExceededError(
                f"call deadline exceeded while reading the body ({-remaining:.3f}s over)",
                provider=self._endpoint.provider,
            )

    def __iter__(self) -> Iterator[bytes]:
        if not self._check_each:
            yield from self._inner
            return
        for chunk in self._inner:
            yield chunk
            self._check()  # before waiting for the next one
        if self._watch is not None and self._watch.fired:
            self._check()  # a body without a length ends at the cut as if complete: it is not

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk
            self._check()

    def close(self) -> None:
        if self._watch is not None:
            watchdog.cancel(self._watch)  # first: the pool may hand the socket on below
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()


def _arm(response: httpx.Response, deadline: float) -> Watch | None:
    """Register a cut of ``response``'s socket at ``deadline`` (monotonic seconds).

    Only for an HTTP/1.x connection of httpcore's sync backend (the socket carries this one
    response; an HTTP/2 socket is shared, so it is left alone) -- otherwise None and the
    chunk checks alone apply.
    """
    ext = response.extensions
    stream = ext.get("network_stream")
    if stream is None or response.is_closed or ext.get("http_version", b"HTTP/1.1") not in _HTTP1:
        return None
    try:
        sock = stream.get_extra_info("socket")
    except Exception:  # a third-party stream: no socket to cut
        return None
    if not isinstance(sock, socket.socket):
        return None
    return watchdog.watch(deadline, lambda: _shutdown(sock))


_HTTP1 = (b"HTTP/1.1", b"HTTP/1.0")


def _shutdown(sock: socket.socket) -> None:
    """Make a read blocked on ``sock`` return now (EOF). ``socket.socket.shutdown`` directly:
    ``SSLSocket.shutdown`` also drops its SSL object, unsafe under a read in another thread."""
    with contextlib.suppress(OSError):  # already closed: nothing is blocked on it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _log_sent(request: httpx.Request, response: httpx.Response) -> None:
    """The line httpx's ``send`` logs for each request, for a direct send."""
    if _httpx_log.isEnabledFor(logging.INFO):
        _httpx_log.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            redact_url(str(request.url)),
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )


def _deliver(ctx: CallContext, stream: _StreamState) -> None:
    """Hand the primed stream to the layers; a stream that already ended reports at once."""
    ctx.stream = stream
    ctx.stream_result = (stream.response, None) if stream._ended else None
    ctx.on_stream_end = None


def _fail(
    ep: Endpoint,
    ctx: CallContext,
    request: ChatRequest,
    att: _Attempt,
    exc: BaseException,
    *,
    response: httpx.Response | None = None,
) -> LLMError | None:
    """Record a failed attempt; the LLMError to raise, or None to re-raise ``exc`` as it is
    (it is that LLMError already, a bug, or a cancellation from outside)."""
    mapped = ep.error(exc, att)
    status, headers = (None, None) if response is None else (response.status_code, response.headers)
    ep.record(ctx, request, att, status=status, error=mapped or exc, headers=headers)
    return None if mapped is exc else mapped


def _parse(
    ep: Endpoint, ctx: CallContext, request: ChatRequest, att: _Attempt, response: httpx.Response
) -> ChatResponse:
    status = response.status_code
    try:
        if not response.is_success:
            raise ep.adapter.classify(response)
        out = ep.adapter.parse_response(response)
    except LLMError as err:
        ep.record(ctx, request, att, status=status, error=err, headers=response.headers)
        raise
    ep.record(ctx, request, att, status=status, response=out, headers=response.headers)
    return out


# --------------------------------------------------------------------------- test double


@dataclass(frozen=True, slots=True)
class Scripted:
    """One scripted answer. ``latency`` is the time to the response headers (and body)."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    latency: float = 0.0
    chunks: Sequence[bytes] | None = None
    """SSE body, one chunk every ``chunk_gap`` seconds."""
    chunk_gap: float = 0.0
    error: type[httpx.TransportError] | None = None
    """Raise this (after ``latency``) instead of answering."""


class ScriptedTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A fake httpx transport on a :class:`VirtualClock`.

    Each request takes the next :class:`Scripted` step (the last one repeats). A step whose
    latency exceeds the request's read timeout advances the clock by that timeout and raises
    ``httpx.ReadTimeout``, as a real socket would; so do stream gaps longer than it.
    ``requests`` and ``timeouts`` keep what was sent, for assertions.
    """

    def __init__(
        self,
        clock: VirtualClock,
        script: Iterable[Scripted | Callable[[httpx.Request], Scripted]],
    ) -> None:
        self.clock = clock
        self.script = list(script)
        if not self.script:
            raise ValueError("a script needs at least one step")
        self.requests: list[httpx.Request] = []
        self.timeouts: list[dict[str, float]] = []

    def _answer(self, request: httpx.Request) -> httpx.Response:
        step = self.script[min(len(self.requests), len(self.script) - 1)]
        self.requests.append(request)
        if callable(step):
            step = step(request)
        timeout: dict[str, float] = dict(request.extensions.get("timeout") or {})
        self.timeouts.append(timeout)
        read = timeout.get("read")
        if step.error is not None:
            self.clock.advance(step.latency)
            raise step.error("scripted failure", request=request)
        if read is not None and step.latency > read:
            self.clock.advance(read)
            raise httpx.ReadTimeout("timed out", request=request)
        self.clock.advance(step.latency)
        headers = dict(step.headers)
        if step.chunks is not None:
            headers.setdefault("content-type", "text/event-stream")
            stream = _ClockedStream(self.clock, step.chunks, step.chunk_gap, read, request)
            return httpx.Response(step.status, headers=headers, stream=stream, request=request)
        if step.json is not None:
            return httpx.Response(step.status, headers=headers, json=step.json, request=request)
        return httpx.Response(step.status, headers=headers, content=step.body, request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._answer(request)


class _ClockedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(
        self,
        clock: VirtualClock,
        chunks: Sequence[bytes],
        gap: float,
        read: float | None,
        request: httpx.Request,
    ) -> None:
        self.clock, self.chunks, self.gap, self.read, self.request = (
            clock,
            chunks,
            gap,
            read,
            request,
        )

    def _wait(self) -> None:
        if self.read is not None and self.gap > self.read:
            self.clock.advance(self.read)
            raise httpx.ReadTimeout("timed out", request=self.request)
        self.clock.advance(self.gap)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self._wait()
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self._wait()
            yield chunk
