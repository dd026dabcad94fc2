"""The simulator over real HTTP on 127.0.0.1 (aiohttp), for SDKs and out-of-process clients.

One server answers every provider's paths: point the OpenAI SDK at ``{url}/v1``, the Anthropic
SDK at ``{url}`` and OpenRouter clients at ``{url}/api/v1``. Delays really sleep here, divided
by ``time_scale``; the simulator's own clock runs ``time_scale`` times faster than the wall, so
fault windows and rate-limit minutes shrink with it, and headers (``retry-after``, resets)
speak simulated seconds. Resets and truncation are real: the connection is aborted, or the
body ends early.

``virtual_time=True`` (``llmkit sim serve --virtual-time``) never sleeps: each request says the
client's virtual time in ``x-llmkit-sim-time`` and the answer comes at once, with the planned
timing in ``x-llmkit-sim-*`` headers (see :mod:`llmkit.sim.vtime`). Fault windows and rate
limits then run on the client's clock, so a recorder on a VirtualClock gets exactly what it
would get in process, over a real socket. Resets and the end of hangs still close the
connection for real.

The per-request path is kept lean (no access log, one dict lookup per route, sleeps batched
when the scaled delay is under a millisecond) because benchmarks push thousands of requests a
second through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from llmkit.clock import Clock, VirtualClock, system_clock
from llmkit.sim.core import Simulator
from llmkit.sim.plan import SimResponse
from llmkit.sim.scenarios import Scenario
from llmkit.sim.vtime import TIME_HEADER, parse_time, plan_headers

__all__ = ["ScaledClock", "SimServer", "make_app", "serve"]

_MIN_SLEEP = 0.001
"""Real seconds: shorter waits are carried over and slept in one go."""


class ScaledClock:
    """Simulated time that runs ``scale`` times faster than ``base`` (sleeps are shortened)."""

    __slots__ = ("_base", "_t0", "_wall0", "scale")

    def __init__(self, scale: float = 1.0, base: Clock = system_clock) -> None:
        if not scale > 0:
            raise ValueError("time_scale must be > 0")
        self.scale = scale
        self._base = base
        self._t0 = base.now()
        self._wall0 = base.wall()

    def now(self) -> float:
        return (self._base.now() - self._t0) * self.scale

    def wall(self) -> float:
        return self._wall0 + self.now()

    def sleep(self, seconds: float) -> None:
        self._base.sleep(seconds / self.scale)

    async def asleep(self, seconds: float) -> None:
        await self._base.asleep(seconds / self.scale)

    def __repr__(self) -> str:
        return f"ScaledClock(scale={self.scale})"


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def _close(request: web.Request) -> None:
    """End the connection after what was written has gone out (a cut the peer can see)."""
    transport = request.transport
    if transport is not None:
        transport.close()


_NO_TIME = (
    b'{"error":{"message":"this simulator runs on virtual time: send x-llmkit-sim-time '
    b'(the client clock, seconds >= 0) with every request","type":"llmkit_sim_error"}}'
)


def _virtual_handler(sim: Simulator, clock: VirtualClock) -> Callable[..., Any]:
    """Answer at once at the client's virtual time, timing in ``x-llmkit-sim-*`` headers."""

    async def handle(request: web.Request) -> web.StreamResponse:
        t = parse_time(request.headers.get(TIME_HEADER))
        if t is None:
            return web.Response(status=400, body=_NO_TIME, content_type="application/json")
        body = await request.read()
        clock.set(t)  # set and handle run without an await between: no other request interleaves
        plan = sim.handle(request.method, request.path_qs, request.headers, body)
        timing = plan_headers(plan)
        if not plan.headers_sent:  # the headers only carry the timing; then the cut
            resp = web.StreamResponse(status=200, headers=timing)
            await resp.prepare(request)
            _close(request)
            raise asyncio.CancelledError
        if len(plan.chunks) == 1 and plan.abort is None and not plan.stream:
            return web.Response(
                status=plan.status, headers=[*plan.headers, *timing], body=plan.chunks[0].data
            )
        resp = web.StreamResponse(status=plan.status, headers=[*plan.headers, *timing])
        await resp.prepare(request)
        await resp.write(plan.body)
        if plan.abort is not None:
            _close(request)
            raise asyncio.CancelledError
        await resp.write_eof()
        return resp

    return handle


def make_app(
    sim: Simulator, time_scale: float = 1.0, *, virtual_clock: VirtualClock | None = None
) -> web.Application:
    """An aiohttp app that plays ``sim``'s plans out in real (scaled) time, or, given the
    simulator's ``virtual_clock``, answers at once on the client's virtual time."""
    scale = float(time_scale)
    if not scale > 0:
        raise ValueError("time_scale must be > 0")
    if virtual_clock is not None:
        if sim.clock is not virtual_clock:
            raise ValueError("the simulator must run on the virtual clock it is served with")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", _virtual_handler(sim, virtual_clock))
        return app
    sleep = asyncio.sleep

    async def play(request: web.Request, plan: SimResponse) -> web.StreamResponse:
        resp = web.StreamResponse(status=plan.status, headers=plan.headers)
        await resp.prepare(request)
        owed = 0.0
        pending: list[bytes] = []
        for chunk in plan.chunks:
            owed += chunk.delay / scale
            if owed >= _MIN_SLEEP:
                if pending:  # what is due now goes out before the pause
                    await resp.write(b"".join(pending))
                    pending.clear()
                await sleep(owed)
                owed = 0.0
            pending.append(chunk.data)
        if pending:
            await resp.write(b"".join(pending))
        if plan.abort == "hang":
            await sleep(plan.hang_seconds / scale)
        if plan.abort is not None:
            _abort(request)
            raise asyncio.CancelledError
        await resp.write_eof()
        return resp

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        plan = sim.handle(request.method, request.path_qs, request.headers, body)
        if plan.delay > 0:
            await sleep(plan.delay / scale)
        if not plan.headers_sent:
            if plan.abort == "hang":
                await sleep(plan.hang_seconds / scale)
            _abort(request)
            raise asyncio.CancelledError
        if len(plan.chunks) == 1 and plan.abort is None and not plan.stream:
            return web.Response(status=plan.status, headers=plan.headers, body=plan.chunks[0].data)
        return await play(request, plan)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


class SimServer:
    """A served simulator in a background thread, on a free port by default::

    with SimServer("rate-limited", time_scale=100) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0)

    ``virtual_time=True`` serves on the clients' virtual time instead (``time_scale`` is then
    unused): see :mod:`llmkit.sim.vtime`. The simulator's clock is a VirtualClock that only
    moves forward, to the time each request states.
    """

    def __init__(
        self,
        scenario: Scenario | str = "healthy",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        time_scale: float = 1.0,
        simulator: Simulator | None = None,
        virtual_time: bool = False,
    ) -> None:
        self.virtual_time = virtual_time
        self.clock: Clock = VirtualClock() if virtual_time else ScaledClock(time_scale)
        if virtual_time and simulator is not None and simulator.clock is not self.clock:
            self.clock = simulator.clock
            if not isinstance(self.clock, VirtualClock):
                raise ValueError("a virtual-time server needs a simulator on a VirtualClock")
        self.simulator = (
            simulator if simulator is not None else Simulator(scenario, self.clock, seed=seed)
        )
        self.host = host
        self.port = port
        self.time_scale = time_scale
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def openrouter_base_url(self) -> str:
        return self.base_url + "/api/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def gemini_base_url(self) -> str:
        return self.base_url + "/v1beta"

    async def _start(self) -> None:
        vclock = self.clock if self.virtual_time else None
        assert vclock is None or isinstance(vclock, VirtualClock)
        app = make_app(self.simulator, self.time_scale, virtual_clock=vclock)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        await site.start()
        self._runner = runner
        addr: Any = runner.addresses[0]
        self.port = int(addr[1])

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # report bind errors to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def start(self) -> str:
        """Start serving; returns the base URL once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(target=self._run, name="llmkit-sim", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise OSError(f"cannot serve on {self.host}:{self.port}: {self._error}") from (
                self._error
            )
        return self.base_url

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = self._loop = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(
    scenario: Scenario | str = "healthy",
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    seed: int | None = None,
    time_scale: float = 1.0,
    on_ready: Callable[[SimServer], None] | None = None,
    virtual_time: bool = False,
) -> None:
    """Serve until interrupted (the ``llmkit sim serve`` command)."""
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # stop cleanly under process managers
    server = SimServer(
        scenario, host=host, port=port, seed=seed, time_scale=time_scale, virtual_time=virtual_time
    )
    server.start()
    if on_ready is not None:
        on_ready(server)
    try:
        while server._thread is not None and server._thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
