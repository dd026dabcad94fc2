"""Experiments with many clients on one virtual clock: what the notebooks run at scale.

A cassette holds one recording; the questions the notebooks ask -- what do two hundred
workers do after a blip, what does a retry storm do to a provider with limited capacity --
need many concurrent clients against one simulated provider. The pieces here are the
set-up, not the pattern being taught, so a notebook cell shows the ``llmkit`` call it
teaches (the client it builds, with its retry policy and budget) and leaves the plumbing
to this module:

* :func:`run_async` -- run a coroutine from a notebook cell (whose kernel already runs an
  event loop) or from plain code.
* :class:`CapacityGate` -- a provider's front door: at most ``per_second`` requests in any
  one-second window reach the simulator, the rest are shed at once with a 503 (with a
  ``retry-after`` when asked), as a load balancer in front of a recovering service does.
* :func:`fleet` -- ``clients`` workers, each with its own client (built by the caller's
  ``make_client``), making calls on a schedule against one shared simulator behind the gate,
  on a :class:`~llmkit.clock.VirtualClock`. Returns the telemetry as a DataFrame.

``import llmkit`` never imports this module; pandas is imported inside :func:`fleet`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import random
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from llmkit.clock import VirtualClock
from llmkit.errors import LLMError
from llmkit.telemetry import MemorySink

if TYPE_CHECKING:
    import pandas as pd

    from llmkit.client import AsyncClient

__all__ = ["CapacityGate", "ClientFactory", "fleet", "run_async"]

T = TypeVar("T")

ClientFactory = Callable[[httpx.AsyncClient, VirtualClock, MemorySink, int], "AsyncClient"]
"""``make_client(http, clock, sink, i)`` -> the :class:`~llmkit.client.AsyncClient` of worker
``i``: it must send through ``http``, run on ``clock`` and report to ``sink``."""


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``, also from a notebook cell: a Jupyter kernel already runs a loop,
    so there the coroutine runs in a worker thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class CapacityGate(httpx.AsyncBaseTransport):
    """At most ``per_second`` requests in any 1 s window reach ``inner``; the rest are shed at
    once with a 503 (``retry-after: <retry_after>`` when given). ``shed`` counts them."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        clock: VirtualClock,
        per_second: int,
        *,
        retry_after: float | None = None,
    ) -> None:
        if per_second < 1:
            raise ValueError("per_second must be >= 1")
        self.inner, self.clock, self.per_second = inner, clock, per_second
        self.retry_after = retry_after
        self.admitted: collections.deque[float] = collections.deque()
        self.shed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        now = self.clock.now()
        while self.admitted and self.admitted[0] <= now - 1.0:
            self.admitted.popleft()
        if len(self.admitted) >= self.per_second:
            self.shed += 1
            body = {"error": {"message": "The server is overloaded.", "type": "server_error"}}
            headers = {} if self.retry_after is None else {"retry-after": f"{self.retry_after:g}"}
            return httpx.Response(503, json=body, headers=headers, request=request)
        self.admitted.append(now)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def schedule(clients: int, calls_each: int, every_s: float, seed: int) -> list[list[float]]:
    """Each worker's planned call start times: all at t = 0 when ``every_s`` is 0, else
    ``calls_each`` calls ``every_s`` apart from a seeded random offset in ``[0, every_s)``."""
    plan = []
    for i in range(clients):
        start = random.Random(seed * 7_919 + i).uniform(0, every_s) if every_s else 0.0
        plan.append([start + k * every_s for k in range(calls_each)])
    return plan


def fleet(
    scenario: Any,
    make_client: ClientFactory,
    *,
    capacity: int,
    clients: int = 200,
    calls_each: int = 1,
    every_s: float = 0.0,
    seed: int = 1,
    retry_after: float | None = None,
    model: str = "gpt-4o-mini",
) -> pd.DataFrame:
    """Run ``clients`` workers against one simulator (``scenario``, ``seed``) behind a
    :class:`CapacityGate` of ``capacity`` requests/s, on a fresh virtual clock.

    Each worker makes its calls in order (a worker stuck retrying starts its next call late,
    as a real worker does) at the times :func:`schedule` plans. Returns :func:`llmkit.charts.frame`
    of the telemetry; ``df.attrs["scheduled"]`` holds every planned start time (the offered
    load, which stuck workers fall behind) and ``df.attrs["shed"]`` the gate's 503 count.
    """
    from llmkit.charts import frame  # noqa: PLC0415
    from llmkit.sim import AsyncSimTransport, Simulator  # noqa: PLC0415

    async def main() -> pd.DataFrame:
        clock = VirtualClock()
        sink = MemorySink()
        sim = Simulator(scenario, clock, seed=seed)
        gate = CapacityGate(AsyncSimTransport(sim), clock, capacity, retry_after=retry_after)
        http = httpx.AsyncClient(transport=gate)
        origin = clock.wall()
        plan = schedule(clients, calls_each, every_s, seed)

        async def worker(i: int) -> None:
            client = make_client(http, clock, sink, i)
            for k, at in enumerate(plan[i]):
                await clock.asleep(at - clock.now())
                with contextlib.suppress(LLMError):  # a failure is in the telemetry
                    await client.chat(
                        model=model,
                        messages=[{"role": "user", "content": f"job {i}.{k}"}],
                        max_tokens=16,
                    )

        await asyncio.gather(*(worker(i) for i in range(clients)))
        await http.aclose()
        df = frame(sink, origin=origin)
        df.attrs["scheduled"] = sorted(t for times in plan for t in times)
        df.attrs["shed"] = gate.shed
        return df

    return run_async(main())
