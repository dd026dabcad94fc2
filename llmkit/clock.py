"""Time as a dependency: the real clock, and a virtual one where sleeping is instant.

Every layer that waits or measures takes a :class:`Clock`. Under :class:`VirtualClock`, a
two-minute retry storm replays in milliseconds while every timestamp still shows the real
timeline.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
import weakref
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "VirtualClock", "system_clock"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds, for durations and deadlines."""
        ...

    def wall(self) -> float:
        """Unix seconds, for timestamps in records."""
        ...

    def sleep(self, seconds: float) -> None: ...

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "SystemClock()"


system_clock = SystemClock()


class VirtualClock:
    """A clock that only moves when told to. ``sleep`` advances it at once.

    ``start`` is the wall time of ``now() == 0``, so records carry believable timestamps.
    Thread-safe.

    ``asleep`` runs asyncio in virtual time, as a discrete-event scheduler: a sleeping task
    registers its wake-up time and waits; when no task on the loop is runnable any more, the
    clock jumps to the earliest wake-up and wakes every task due by then. So 50 tasks that each
    sleep 1 s concurrently take 1 virtual second, not 50, and a hedge timer racing a slow call
    fires at the right virtual instant. A cancelled sleep never moves the clock. Real I/O in
    flight does not hold the clock back (when nothing is runnable, time jumps), so drive
    virtual-time races through in-process transports, not sockets.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._t = 0.0
        self._start = start
        self._lock = threading.Lock()
        self._seq = itertools.count()
        # Per event loop: a heap of (wake_at, seq, future) and whether a tick is scheduled.
        self._waiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWaiters] = (
            weakref.WeakKeyDictionary()
        )

    def now(self) -> float:
        return self._t

    def wall(self) -> float:
        return self._start + self._t

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._t += seconds

    def set(self, t: float) -> None:
        """Move to ``t`` if it is later than now (used by replays that know the timeline)."""
        with self._lock:
            self._t = max(self._t, t)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        state = self._waiters.get(loop)
        if state is None:
            state = self._waiters[loop] = _LoopWaiters()
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(state.heap, (self._t + seconds, next(self._seq), fut))
        if not state.tick_scheduled:
            state.tick_scheduled = True
            loop.call_soon(self._tick, loop, state)
        await fut

    def pending_sleeps(self) -> int:
        """Tasks sleeping on this clock in the running loop (for tests and debugging)."""
        state = self._waiters.get(asyncio.get_running_loop())
        return 0 if state is None else sum(not f.done() for _, _, f in state.heap)

    def _tick(self, loop: asyncio.AbstractEventLoop, state: _LoopWaiters) -> None:
        """Wake due sleepers; if the loop is otherwise idle, jump to the next wake-up."""
        heap = state.heap
        while heap and heap[0][2].done():  # cancelled sleeps do not move the clock
            heapq.heappop(heap)
        if not heap:
            state.tick_scheduled = False
            return
        if heap[0][0] > self._t and not _loop_idle(loop):
            loop.call_soon(self._tick, loop, state)
            return
        self.set(heap[0][0])
        while heap and heap[0][0] <= self._t:
            _, _, fut = heapq.heappop(heap)
            if not fut.done():
                fut.set_result(None)
        if heap:
            loop.call_soon(self._tick, loop, state)
        else:
            state.tick_scheduled = False

    def __repr__(self) -> str:
        return f"VirtualClock(t={self._t:.3f})"


class _LoopWaiters:
    __slots__ = ("heap", "tick_scheduled")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self.tick_scheduled = False


def _loop_idle(loop: asyncio.AbstractEventLoop) -> bool:
    """True when no callback other than the running one is ready on ``loop``.

    Reads the ready queue of CPython's BaseEventLoop; a loop without one (uvloop) is treated
    as idle, so virtual time then advances one wake-up per loop turn.
    """
    ready = getattr(loop, "_ready", None)
    return ready is None or len(ready) == 0
