"""Streams of one attempt: :class:`ChatStream` (sync) and :class:`AsyncChatStream` (async).

Everything but the reads is one sans-IO state (:class:`StreamState`): decode SSE chunks, turn
them into events with the provider's parser, note the time to the first token, check the
deadline after each chunk, finish into the aggregate answer, map a failure, report the attempt
and tell the layers waiting for the end, exactly once. The two classes add only the reading
(``next`` / ``anext``) and the closing (``close`` / ``aclose``).

A stream that ends without its answer -- cut by the network, failed by the provider, closed
early by its reader -- was still paid for: the provider bills the input and every token it
generated. So the state keeps what arrived and the last usage the provider reported, and such
an attempt is reported with a ``partial`` answer: the provider's counts where it had sent them
(Anthropic reports the input at the start, Gemini reports as it goes), llmkit's count where it
had not (the input by :func:`~llmkit.tokens.estimate_request_tokens`, the output by the tokens
of what arrived; both upper bounds, flagged ``usage_estimated``), priced like an answer. The
quota layer charges it and telemetry writes it, so a stream cut after 300 tokens costs 300
tokens, not 0. Reasoning tokens the provider hid and never reported cannot be counted.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Self

import httpx

from llmkit.errors import ConnectionError, DeadlineExceededError, InvalidResponseError
from llmkit.layers import CallContext
from llmkit.providers.base import StreamParser, safe_headers
from llmkit.sse import SSEDecoder
from llmkit.tokens import estimate_request_tokens, text_tokens
from llmkit.transport.body import adecoded, decoded, framed_by_close
from llmkit.transport.endpoint import Attempt, Endpoint
from llmkit.types import ChatRequest, ChatResponse, StreamEvent, Usage

__all__ = ["AsyncChatStream", "ChatStream", "StreamState"]

_CONTENT = frozenset({"text", "reasoning", "tool_call"})
_log = logging.getLogger("llmkit.transport")


class StreamState:
    """Sans-IO half of a stream: decode chunks, keep events, finish, record, notify."""

    def __init__(
        self,
        endpoint: Endpoint,
        request: ChatRequest,
        ctx: CallContext,
        att: Attempt,
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
        self.partial: ChatResponse | None = None
        """What a stream that ended without its answer had delivered, with its usage and cost
        (see the module docstring); None until then, and for a stream that ended cleanly."""
        self._got: list[str] = []
        self._usage: Usage | None = None
        self._since_usage = False
        self._priming = False
        self._error: BaseException | None = None
        self._pending: BaseException | None = None
        """The failure to raise once the events that arrived before it have been read."""

    @classmethod
    def completed(cls, response: ChatResponse) -> Self:
        """A stream over an answer that is already complete (served by cache, for example)."""
        self = cls.__new__(cls)
        events: list[StreamEvent] = []
        if response.text:
            events.append(StreamEvent("text", text=response.text))
        for i, call in enumerate(response.tool_calls):
            events.append(
                StreamEvent("tool_call", text=call.arguments, index=i, id=call.id, name=call.name)
            )
        events.append(StreamEvent("usage", usage=response.usage))
        events.append(StreamEvent("finish", finish_reason=response.finish_reason))
        self._buffer = collections.deque(events)
        self._eof = self._ended = True
        self.response, self.ttft, self.partial = response, response.ttft, None
        self._pending = self._error = None
        return self

    def _wants(self) -> bool:
        """True while the body has more to give and nothing is buffered -- or, while priming,
        no content is (``prime``)."""
        if self._eof:
            return False
        return self.ttft is None if self._priming else not self._buffer

    def _feed(self, chunk: bytes | None) -> None:
        """Take the next body chunk (None: the body ended)."""
        if chunk is None:
            self._on_eof()
            return
        for sse in self._decoder.feed(chunk):
            for ev in self._parser.feed(sse):
                self._keep(ev)
        remaining = self._ctx.remaining()
        if remaining is not None and remaining < 0:
            raise DeadlineExceededError(
                f"call deadline exceeded while streaming ({-remaining:.3f}s over)",
                provider=self._endpoint.provider,
            )

    def _on_eof(self) -> None:
        self._eof = True
        events, clean = self._decoder.close()
        for sse in events:
            for ev in self._parser.feed(sse):
                self._keep(ev)
        try:
            final = self._parser.finish(clean=clean)
        except InvalidResponseError as exc:
            if not framed_by_close(self._http):
                raise
            # No length, not chunked: the body ends where the connection does. A stream that
            # stops short of its end then lost its connection (a reset reads as EOF to some
            # clients, as an error to others): the same retryable error either way.
            raise ConnectionError(
                f"connection closed before the stream's end ({exc.message})",
                provider=self._endpoint.provider,
            ) from exc
        ctx = self._ctx
        latency = ctx.clock.now() - (ctx.started if ctx.deliver_stream else self._att.t0)
        self.response = self._endpoint.priced(final, self._att).with_(
            ttft=self.ttft, latency=latency, headers=safe_headers(self._http.headers)
        )

    def _keep(self, ev: StreamEvent) -> None:
        """Buffer ``ev`` for the reader and note what it says was generated."""
        self._buffer.append(ev)
        if ev.type in _CONTENT:
            if self.ttft is None:  # the first content: also what ``prime`` waits for
                self.ttft = self._ctx.clock.now() - self._att.t0
            if ev.text:
                self._got.append(ev.text)
                self._since_usage = True
        elif ev.type == "usage" and ev.usage is not None:
            self._usage, self._since_usage = ev.usage, False

    def _partial(self) -> tuple[ChatResponse | None, bool]:
        """``(partial answer, usage_estimated)`` of a stream that ended without its answer."""
        if not self._got and self._usage is None:
            return None, False  # nothing arrived: nothing to say it was generated
        reported = self._usage or Usage()
        estimated = False
        input_tokens = reported.input_tokens
        if input_tokens is None:
            input_tokens = estimate_request_tokens(
                self._request, self._endpoint.provider, self._endpoint.adapter
            )
            estimated = True
        output_tokens = reported.output_tokens
        if output_tokens is None or self._since_usage:
            # Content arrived after the last report (or there was none): count what arrived.
            counted = text_tokens("".join(self._got))
            if output_tokens is None or counted > output_tokens:
                output_tokens, estimated = counted, True
        partial = ChatResponse(
            text="",
            model=self._request.model,
            provider=self._endpoint.provider,
            usage=Usage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=reported.cache_read_tokens,
                cache_write_tokens=reported.cache_write_tokens,
                reasoning_tokens=reported.reasoning_tokens,
                cost=reported.cost,
            ),
            ttft=self.ttft,
        )
        return self._endpoint.priced(partial, self._att), estimated

    def _failure(self, exc: BaseException) -> tuple[BaseException, BaseException | None]:
        """``(what the attempt failed with, what to raise instead of exc or None)``."""
        mapped = self._endpoint.error(exc, self._att, idle=True)
        return mapped or exc, mapped if mapped is not None and mapped is not exc else None

    def _defer(self, raised: BaseException) -> bool:
        """Hold ``raised`` back while events that arrived before it are unread (the reader
        gets every token the provider sent, then the error); False: raise it now."""
        if not self._buffer or not isinstance(raised, Exception):
            return False
        if self._priming and self.ttft is None:
            return False  # no content yet: fail the attempt, so it can be retried
        self._pending = raised
        return True

    def _hold(self, exc: BaseException, instead: BaseException | None) -> BaseException | None:
        """What a read that failed with ``exc`` raises now (``instead``, its mapped error, or
        ``exc`` itself), or None when it waits behind the events that arrived before it."""
        if instead is not None:
            instead.__cause__ = exc
        raised = exc if instead is None else instead
        return None if self._defer(raised) else raised

    def _raise_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            raise pending

    def _end(self, response: ChatResponse | None, error: BaseException | None) -> None:
        """Report the attempt and tell the layers, exactly once."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        ctx = self._ctx
        estimated = False
        if response is None:
            try:
                self.partial, estimated = self._partial()
            except Exception:  # counting must never stop the attempt from being reported
                _log.exception("could not count the usage of a stream that ended early")
        self._endpoint.record(
            ctx,
            self._request,
            self._att,
            status=self._http.status_code,
            response=response,
            error=error,
            ttft=self.ttft,
            headers=self._http.headers,
            partial=self.partial,
            usage_estimated=estimated,
        )
        if ctx.stream is self:
            ctx.stream_result = (response, error)
            for callback in ctx.on_stream_end or ():
                callback(response, error)

    def deliver(self) -> None:
        """Hand this primed stream to the layers; one that already ended reports at once."""
        ctx = self._ctx
        ctx.stream = self
        ctx.stream_result = (self.response, self._error) if self._ended else None
        ctx.on_stream_end = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'done' if self._eof else 'open'}>"


class ChatStream(StreamState):
    """Iterate for :class:`StreamEvent` values; ``response`` holds the aggregate at the end,
    ``partial`` the usage and cost of a stream that ended without it.

    Use as a context manager (or call :meth:`close`) so an abandoned stream frees its
    connection.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        request: ChatRequest,
        ctx: CallContext,
        att: Attempt,
        response: httpx.Response,
    ) -> None:
        super().__init__(endpoint, request, ctx, att, response)
        self._chunks: Iterator[bytes] = decoded(response, endpoint)

    def _pull(self) -> None:
        """Read until at least one event is buffered or the stream has ended."""
        try:
            while self._wants():
                self._feed(next(self._chunks, None))
        except BaseException as exc:
            error, instead = self._failure(exc)
            self.close(error=error)
            raised = self._hold(exc, instead)
            if raised is exc:
                raise
            if raised is not None:
                raise raised from exc
            return
        if self._eof:
            self.close(response=self.response)

    def prime(self) -> None:
        """Read up to the first content event (or the end) before the stream is handed over:
        a failure before any content -- Anthropic's ``overloaded_error`` right after
        ``message_start`` -- raises here, where the attempt can still be retried."""
        self._priming = True
        try:
            self._pull()
        finally:
            self._priming = False

    def __iter__(self) -> Iterator[StreamEvent]:
        while True:
            while self._buffer:
                yield self._buffer.popleft()
            self._raise_pending()
            if self._eof or self._ended:
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

    def __del__(self) -> None:
        # Dropped without close() (its reader raised, or forgot): free the connection and
        # tell the layers it ended without a verdict, so a breaker's probe slot comes back.
        if not getattr(self, "_ended", True):
            self.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncChatStream(StreamState):
    """``async for`` :class:`StreamEvent` values; ``response`` holds the aggregate at the end,
    ``partial`` the usage and cost of a stream that ended without it."""

    def __init__(
        self,
        endpoint: Endpoint,
        request: ChatRequest,
        ctx: CallContext,
        att: Attempt,
        response: httpx.Response,
    ) -> None:
        super().__init__(endpoint, request, ctx, att, response)
        self._chunks: AsyncIterator[bytes] = adecoded(response, endpoint)

    async def _pull(self) -> None:
        try:
            while self._wants():
                self._feed(await anext(self._chunks, None))
        except BaseException as exc:
            error, instead = self._failure(exc)
            await self.aclose(error=error)
            raised = self._hold(exc, instead)
            if raised is exc:
                raise
            if raised is not None:
                raise raised from exc
            return
        if self._eof:
            await self.aclose(response=self.response)

    async def prime(self) -> None:
        """Read up to the first content event (or the end): see :meth:`ChatStream.prime`."""
        self._priming = True
        try:
            await self._pull()
        finally:
            self._priming = False

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        while True:
            while self._buffer:
                yield self._buffer.popleft()
            self._raise_pending()
            if self._eof or self._ended:
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

    def __del__(self) -> None:
        # Dropped without aclose(): no await is possible here, so the connection is left to
        # the pool's own clean-up, but the layers hear that it ended without a verdict.
        if not getattr(self, "_ended", True):
            self._end(None, None)

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
