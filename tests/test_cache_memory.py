"""In-memory LRU backend."""

from __future__ import annotations

import threading

import pytest

from llmkit.cache import MemoryCache
from llmkit.clock import VirtualClock


def test_get_set_delete_clear() -> None:
    c = MemoryCache()
    assert c.get("a") is None
    c.set("a", b"1", ttl=None)
    assert c.get("a") == b"1"
    c.delete("a")
    assert c.get("a") is None
    c.set("b", b"2", ttl=None)
    c.clear()
    assert len(c) == 0


def test_ttl_on_the_injected_clock() -> None:
    clock = VirtualClock()
    c = MemoryCache(clock=clock)
    c.set("a", b"1", ttl=10)
    clock.advance(9.99)
    assert c.get("a") == b"1"
    clock.advance(0.01)
    assert c.get("a") is None


def test_least_recently_used_goes_first() -> None:
    c = MemoryCache(max_entries=2)
    c.set("a", b"1", ttl=None)
    c.set("b", b"2", ttl=None)
    assert c.get("a") == b"1"  # a is now the most recent
    c.set("c", b"3", ttl=None)
    assert c.get("b") is None
    assert (c.get("a"), c.get("c")) == (b"1", b"3")


def test_threads_share_it_safely() -> None:
    c = MemoryCache(max_entries=50)

    def work(n: int) -> None:
        for i in range(500):
            c.set(f"{n}-{i % 60}", str(i).encode(), ttl=None)
            c.get(f"{(n + 1) % 4}-{i % 60}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(c) == 50


def test_rejects_zero_capacity() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(max_entries=0)
