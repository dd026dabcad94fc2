"""Test doubles: a scripted httpx transport on a virtual clock (as httpx keeps its
``MockTransport`` apart from the real ones).

:class:`ScriptedTransport` answers each request with the next :class:`Scripted` step, advancing
a :class:`~llmkit.clock.VirtualClock` by the step's latency and honouring the timeouts llmkit
puts in ``request.extensions`` (a step slower than the read timeout raises
``httpx.ReadTimeout`` after that timeout, as a real socket would)::

    clock = VirtualClock()
    transport = ScriptedTransport(clock, [Scripted(529), Scripted(json=body)])
    client = llmkit.Client(transport=transport, clock=clock)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from llmkit.clock import VirtualClock

__all__ = ["Scripted", "ScriptedTransport"]


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
