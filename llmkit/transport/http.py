"""The innermost handlers: :class:`HTTPTransport` (sync) and :class:`AsyncHTTPTransport`.

One attempt: start it (:class:`~llmkit.transport.endpoint.Endpoint`), send the request, then
either hand the body to a stream or read it whole and parse it. Every ending is reported by
the endpoint; only the I/O differs between the two classes.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from llmkit.clock import SystemClock
from llmkit.layers import CallContext
from llmkit.secrets import redact_url
from llmkit.transport.body import BodyDeadline, arm_watchdog
from llmkit.transport.endpoint import Attempt, Endpoint
from llmkit.transport.streams import AsyncChatStream, ChatStream
from llmkit.types import ChatRequest, ChatResponse
from llmkit.watchdog import watchdog

__all__ = ["AsyncHTTPTransport", "HTTPTransport"]

_httpx_log = logging.getLogger("httpx")
"""httpx's logger: direct sends log the line ``Client.send`` would."""


class HTTPTransport:
    """The sync innermost handler: ``transport(request, ctx) -> ChatResponse``.

    ``direct``: as :class:`AsyncHTTPTransport`'s. On the system clock, once the headers are in,
    the watchdog cuts the socket at the deadline (:mod:`llmkit.transport.body`).
    """

    __slots__ = ("direct", "endpoint", "http")

    def __init__(
        self, endpoint: Endpoint, http: httpx.Client, *, direct: httpx.BaseTransport | None = None
    ) -> None:
        self.endpoint = endpoint
        self.http = http
        self.direct = direct

    def _send(self, request: httpx.Request) -> httpx.Response:
        direct = self.direct
        if direct is None or self.http.is_closed:  # a closed client raises as httpx does
            return self.http.send(request, stream=True)
        try:
            return _sent(request, direct.handle_request(request))
        except httpx.RequestError as exc:
            exc.request = request
            raise

    def __call__(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        ep = self.endpoint
        http_request, att = ep.start(request, ctx)
        try:
            response = self._send(http_request)
        except Exception as exc:
            if (err := ep.failed(ctx, request, att, exc)) is None:
                raise
            raise err from exc
        streaming = request.stream and response.is_success
        if ctx.deadline is not None:
            if type(ctx.clock) is SystemClock:  # virtual seconds are not the watchdog's
                att.watch = arm_watchdog(response, ctx.deadline)
            if att.watch is not None or not streaming:  # streams check after each chunk
                response.stream = BodyDeadline(
                    response.stream, ep, ctx, att.watch, check=not streaming
                )
        if streaming:
            return self._stream(request, ctx, att, response)
        try:
            response.read()
        except Exception as exc:
            if (err := ep.failed(ctx, request, att, exc, response)) is None:
                raise
            raise err from exc
        finally:
            response.close()
            if att.watch is not None:
                watchdog.cancel(att.watch)  # done by the body's close; again in case it was not
        return ep.parse(ctx, request, att, response)

    def _stream(
        self, request: ChatRequest, ctx: CallContext, att: Attempt, response: httpx.Response
    ) -> ChatResponse:
        stream = ChatStream(self.endpoint, request, ctx, att, response)
        if ctx.deliver_stream:
            stream._pull()  # the first event, so failures before it can still be retried
            stream.deliver()
            return self.endpoint.placeholder(request)
        return stream.get_final_response()

    def close(self) -> None:
        self.http.close()


class AsyncHTTPTransport:
    """The async innermost handler; works with any ``httpx.AsyncClient`` transport.

    On the system clock the whole attempt also runs under ``asyncio.timeout(time left)``, so
    neither a slow connect nor a trickling body outlives the call's deadline (httpx's timeouts
    bound each socket operation, not their sum). A cancelled attempt (a hedge that lost) is
    reported as cancelled before the cancellation goes on.

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
            return _sent(request, await direct.handle_async_request(request))
        except httpx.RequestError as exc:
            exc.request = request
            raise

    async def _attempt(
        self, request: ChatRequest, ctx: CallContext, att: Attempt, http_request: httpx.Request
    ) -> ChatResponse:
        ep = self.endpoint
        try:
            response = await self._send(http_request)
        except BaseException as exc:  # CancelledError too: a cancelled attempt is reported
            if (err := ep.failed(ctx, request, att, exc)) is None:
                raise
            raise err from exc
        if request.stream and response.is_success:
            stream = AsyncChatStream(ep, request, ctx, att, response)
            if ctx.deliver_stream:
                await stream._pull()
                stream.deliver()
                return ep.placeholder(request)
            return await stream.get_final_response()
        if ctx.deadline is not None and att.timer is None:  # the timer covers the body too
            response.stream = BodyDeadline(response.stream, ep, ctx)
        try:
            await response.aread()
        except BaseException as exc:
            if (err := ep.failed(ctx, request, att, exc, response)) is None:
                raise
            raise err from exc
        finally:
            await response.aclose()
        return ep.parse(ctx, request, att, response)

    async def aclose(self) -> None:
        await self.http.aclose()


def _sent(request: httpx.Request, response: httpx.Response) -> httpx.Response:
    """What ``Client.send`` does after a send that matters here, for a direct send: link the
    response to its request and log httpx's ``HTTP Request:`` line."""
    response.request = request
    if _httpx_log.isEnabledFor(logging.INFO):
        _httpx_log.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            redact_url(str(request.url)),
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )
    return response
