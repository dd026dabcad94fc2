"""Run the simulator in process, as an httpx transport, on any clock.

Under a :class:`~llmkit.clock.VirtualClock` nothing sleeps: the clock advances by each
simulated delay, so a two-minute outage replays in milliseconds while timestamps, time to first
token and retry-after waits keep their real values. The read timeout from
``request.extensions["timeout"]["read"]`` is honoured the way a socket would: any gap longer
than it advances the clock by exactly the timeout and raises :class:`httpx.ReadTimeout`.
A reset raises :class:`httpx.RemoteProtocolError`, as httpx does when a peer hangs up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx

from llmkit.clock import Clock, VirtualClock
from llmkit.sim.core import Simulator
from llmkit.sim.plan import SimResponse
from llmkit.sim.scenarios import Scenario

__all__ = ["AsyncSimTransport", "SimTransport"]

_NO_RESPONSE = "Server disconnected without sending a response."
_CUT = "peer closed connection without sending complete message body (incomplete chunked read)"


def _simulator(sim: Simulator | Scenario | str, clock: Clock | None, seed: int | None) -> Simulator:
    if isinstance(sim, Simulator):
        if clock is not None and clock is not sim.clock:
            raise ValueError("pass the clock to the Simulator, not to the transport")
        if seed is not None:
            raise ValueError("pass the seed to the Simulator, not to the transport")
        return sim
    return Simulator(sim, clock if clock is not None else VirtualClock(), seed=seed)


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout")
    if isinstance(timeout, dict):
        value = timeout.get("read")
        return float(value) if value is not None else None
    return None


def _path(request: httpx.Request) -> str:
    return request.url.raw_path.decode("ascii", errors="replace")


class _Base:
    def __init__(
        self,
        sim: Simulator | Scenario | str = "healthy",
        clock: Clock | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        self.simulator = _simulator(sim, clock, seed)

    @property
    def clock(self) -> Clock:
        return self.simulator.clock

    def _response(
        self,
        request: httpx.Request,
        plan: SimResponse,
        stream: httpx.SyncByteStream | httpx.AsyncByteStream,
    ) -> httpx.Response:
        return httpx.Response(
            plan.status,
            headers=list(plan.headers),
            stream=stream,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )


class SimTransport(_Base, httpx.BaseTransport):
    """``httpx.Client(transport=SimTransport("flaky", clock))``."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        plan = self.simulator.handle(request.method, _path(request), request.headers, body)
        timeout = _read_timeout(request)
        clock = self.clock

        def wait(seconds: float) -> None:
            if timeout is not None and seconds > timeout:
                clock.sleep(timeout)
                raise httpx.ReadTimeout("timed out", request=request)
            clock.sleep(seconds)

        if not plan.headers_sent:
            wait(plan.hang_seconds if plan.abort == "hang" else plan.delay)
            raise httpx.RemoteProtocolError(_NO_RESPONSE, request=request)
        wait(plan.delay)

        def chunks() -> Iterator[bytes]:
            for chunk in plan.chunks:
                wait(chunk.delay)
                yield chunk.data
            if plan.abort == "hang":
                wait(plan.hang_seconds)
            if plan.abort is not None:
                raise httpx.RemoteProtocolError(_CUT, request=request)

        return self._response(request, plan, _SyncStream(chunks()))


class AsyncSimTransport(_Base, httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=AsyncSimTransport("flaky", clock))``."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        plan = self.simulator.handle(request.method, _path(request), request.headers, body)
        timeout = _read_timeout(request)
        clock = self.clock

        async def wait(seconds: float) -> None:
            if timeout is not None and seconds > timeout:
                await clock.asleep(timeout)
                raise httpx.ReadTimeout("timed out", request=request)
            await clock.asleep(seconds)

        if not plan.headers_sent:
            await wait(plan.hang_seconds if plan.abort == "hang" else plan.delay)
            raise httpx.RemoteProtocolError(_NO_RESPONSE, request=request)
        await wait(plan.delay)

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in plan.chunks:
                await wait(chunk.delay)
                yield chunk.data
            if plan.abort == "hang":
                await wait(plan.hang_seconds)
            if plan.abort is not None:
                raise httpx.RemoteProtocolError(_CUT, request=request)

        return self._response(request, plan, _AsyncStream(chunks()))


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, it: Iterator[bytes]) -> None:
        self._it = it

    def __iter__(self) -> Iterator[bytes]:
        yield from self._it


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, it: AsyncIterator[bytes]) -> None:
        self._it = it

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._it:
            yield chunk
