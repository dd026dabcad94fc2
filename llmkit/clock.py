"""Time as a dependency: the real clock, and a virtual one where sleeping is instant.

Every layer that waits or measures takes a :class:`Clock`. Under :class:`VirtualClock`, a
two-minute retry storm replays in milliseconds while every timestamp still shows the real
timeline.
"""

from __future__ import annotations

import asyncio
import threading
import time
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
    Thread-safe; ``asleep`` yields to the event loop once so concurrent tasks interleave.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._t = 0.0
        self._start = start
        self._lock = threading.Lock()

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
        if seconds > 0:
            self.advance(seconds)
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"VirtualClock(t={self._t:.3f})"
