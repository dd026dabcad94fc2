"""In-process LRU cache with TTL on the injected clock. For one process; nothing persists."""

from __future__ import annotations

import threading
from collections import OrderedDict

from llmkit.clock import Clock, system_clock

__all__ = ["MemoryCache"]


class MemoryCache:
    """At most ``max_entries`` values; the least recently used goes first. Thread-safe."""

    blocking = False
    """Never waits on I/O: an async cache layer calls it inline, not in a worker thread."""

    def __init__(self, max_entries: int = 1024, *, clock: Clock = system_clock) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self.clock = clock
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            value, expires = item
            if expires is not None and self.clock.wall() >= expires:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, *, ttl: float | None) -> None:
        expires = None if ttl is None else self.clock.wall() + ttl
        with self._lock:
            self._data[key] = (value, expires)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def close(self) -> None:
        self.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"MemoryCache(entries={len(self._data)}, max_entries={self.max_entries})"
