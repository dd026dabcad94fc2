"""The innermost handlers: :class:`HTTPTransport` (sync) and :class:`AsyncHTTPTransport`.

One attempt: start it (:class:`~llmkit.transport.endpoint.Endpoint`), send the request, then
either hand the body to a stream or read it whole and parse it. Every ending is reported by
the endpoint; only the I/O differs between the two classes.
"""

from __future__ import annotations

import asyncio
import functools
import logging

import httpx

from llmkit.clock import SystemClock
from llmkit.layers import CallContext
from llmkit.netdeadline import attempt_deadline, install
from llmkit.secrets import redact_url
from llmkit.transport.body import BodyDeadline, adecoded, arm_watchdog, decoded, with_body
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
        # Each socket operation of an attempt gets at most the time left (headers included).
        install(direct if direct is not None else getattr(http, "_transport", None))

    def _send(self, request: httpx.Request) -> httpx.Response:
        direct = self.direct
        if direct is None or self.http.is_closed:  # a closed client raises as httpx does
            return self.http.send(_client_defaults(request, self.http), stream=True)
        try:
            return _sent(request, direct.handle_request(request))
        except httpx.RequestError as exc:
            exc.request = request
            raise

    def __call__(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        http_request, att = self.endpoint.start(request, ctx)
        with attempt_deadline(att.deadline):
            return self._attempt(request, ctx, att, http_request)

    def _attempt(
        self, request: ChatRequest, ctx: CallContext, att: Attempt, http_request: httpx.Request
    ) -> ChatResponse:
        ep = self.endpoint
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
            body = b"".join(decoded(response, ep))
        except Exception as exc:
            if (err := ep.failed(ctx, request, att, exc, response)) is None:
                raise
            raise err from exc
        finally:
            response.close()
            if att.watch is not None:
                watchdog.cancel(att.watch)  # done by the body's close; again in case it was not
        return ep.parse(ctx, request, att, with_body(response, body))

    def _stream(
        self, request: ChatRequest, ctx: CallContext, att: Attempt, response: httpx.Response
    ) -> ChatResponse:
        stream = ChatStream(self.endpoint, request, ctx, att, response)
        if ctx.deliver_stream:
            stream.prime()  # failures before the first content can still be retried
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
            return await self.http.send(_client_defaults(request, self.http), stream=True)
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
                await stream.prime()
                stream.deliver()
                return ep.placeholder(request)
            return await stream.get_final_response()
        if ctx.deadline is not None and att.timer is None:  # the timer covers the body too
            response.stream = BodyDeadline(response.stream, ep, ctx)
        try:
            body = b"".join([piece async for piece in adecoded(response, ep)])
        except BaseException as exc:
            if (err := ep.failed(ctx, request, att, exc, response)) is None:
                raise
            raise err from exc
        finally:
            await response.aclose()
        return ep.parse(ctx, request, att, with_body(response, body))

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


def _client_defaults(
    request: httpx.Request, http: httpx.Client | httpx.AsyncClient
) -> httpx.Request:
    """``request`` with the default headers and query params of the client it goes through.

    ``httpx.Client.send`` applies neither (``build_request`` does, and adapters build their
    requests themselves), so an injected client's ``api-key`` or ``HTTP-Referer`` header
    would silently stay behind. The request's own values win (the provider key included), and
    httpx's own defaults (user-agent, accept...) are left out as before.
    """
    headers = request.headers
    defaults = _httpx_defaults()
    for name, value in http.headers.multi_items():
        if name not in headers and defaults.get(name) != value:
            headers[name] = value
    if http.params:
        request.url = request.url.copy_with(params=http.params.merge(request.url.params))
    return request


@functools.cache
def _httpx_defaults() -> httpx.Headers:
    """The headers every ``httpx.Client`` starts with (user-agent, accept, ...)."""
    mock = httpx.MockTransport(lambda r: httpx.Response(204))
    return httpx.Client(transport=mock, trust_env=False).headers
