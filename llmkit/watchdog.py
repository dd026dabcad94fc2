"""One daemon thread that cuts sync work still blocked at its deadline.

Why: httpx's read timeout bounds each socket read, and the transport shrinks it to the time
left only when an attempt begins; a server that sends a byte just before the deadline makes
the next read wait up to that whole timeout. An async attempt is cancelled by
``asyncio.timeout``; a thread blocked in ``recv`` cannot be cancelled, but another thread can
shut its socket down, which makes the read return at once. One thread and one heap serve the
whole process: :meth:`Watchdog.watch` is a lock and a ``heappush`` (no thread per call),
:meth:`Watchdog.cancel` a lock and a flag. Deadlines are ``time.monotonic()`` seconds (the
system clock); nothing here runs under a virtual clock.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable

__all__ = ["Watch", "Watchdog", "watchdog"]

_log = logging.getLogger(__name__)
_COMPACT = 32
"""Rebuild the heap once more than this many cancelled entries are over half of it."""


class Watch:
    """One registration. ``fired`` is true once its callback ran (the deadline passed first)."""

    __slots__ = ("cut", "fired")

    def __init__(self, cut: Callable[[], None]) -> None:
        self.cut: Callable[[], None] | None = cut
        self.fired = False


class Watchdog:
    """A heap of ``(when, seq, Watch)`` and the daemon thread that fires them when due.

    Callbacks run on the watchdog thread *under its lock*, so once :meth:`cancel` returns the
    callback has either run completely or will never run: a socket handed back to a pool after
    ``cancel`` is never cut. Callbacks must therefore be quick and must not call back in.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Watch]] = []
        self._seq = itertools.count()
        self._stale = 0
        self._until = math.inf
        """When the thread will next look at the heap by itself."""
        self._thread: threading.Thread | None = None

    def watch(self, when: float, cut: Callable[[], None]) -> Watch:
        """Call ``cut()`` at monotonic time ``when`` unless :meth:`cancel` comes first."""
        w = Watch(cut)
        with self._lock:
            heapq.heappush(self._heap, (when, next(self._seq), w))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llmkit-watchdog")
                self._thread.daemon = True
                self._thread.start()
            elif when < self._until:
                self._wake.notify()
        return w

    def cancel(self, w: Watch) -> None:
        """Forget ``w``; after this its callback never runs (it may have run already)."""
        with self._lock:
            if w.cut is None:
                return
            w.cut = None  # drops the callback's references now; the entry leaves lazily
            self._stale += 1
            if self._stale > _COMPACT and 2 * self._stale > len(self._heap):
                self._heap = [e for e in self._heap if e[2].cut is not None]
                heapq.heapify(self._heap)
                self._stale = 0

    def pending(self) -> int:
        """Registrations neither fired nor cancelled (for tests and debugging)."""
        with self._lock:
            return sum(e[2].cut is not None for e in self._heap)

    def _run(self) -> None:
        with self._lock:
            while True:
                heap = self._heap
                now = time.monotonic()
                while heap and heap[0][0] <= now:
                    w = heapq.heappop(heap)[2]
                    cut, w.cut = w.cut, None
                    if cut is None:
                        self._stale -= 1
                        continue
                    w.fired = True
                    try:
                        cut()
                    except Exception:  # a cut that fails must not stop the watchdog
                        _log.exception("llmkit watchdog callback failed")
                self._until = heap[0][0] if heap else math.inf
                self._wake.wait(None if not heap else max(self._until - now, 0.0))

    def _after_fork(self) -> None:
        """The thread does not survive ``fork``; the child starts afresh."""
        self.__init__()  # type: ignore[misc]


watchdog = Watchdog()
"""The process's watchdog, started on first use."""

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=watchdog._after_fork)
