"""A slow cache backend stays inside the call's deadline and off the event loop; a lookup or
write past its budget is a miss or a skipped write, counted and in telemetry. Real sockets on
127.0.0.1 (a Redis that accepts and never answers), real SQLite files (a write lock held)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rawhttp import RawServer, answer, silent

from llmkit.cache import CacheLayer, SQLiteCache
from llmkit.cache.redis import RedisCache
from llmkit.client import AsyncClient, Client
from llmkit.telemetry import MemorySink

MSGS = [{"role": "user", "content": "hi"}]
BODY = json.dumps(
    {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
    }
).encode()


@pytest.fixture
def provider() -> Iterator[str]:
    with RawServer(answer(BODY)) as url:
        yield url


@pytest.fixture
def hung_redis() -> Iterator[str]:
    server = RawServer(silent, read_request=False)
    with server:
        yield f"redis://127.0.0.1:{server.srv.getsockname()[1]}/0"


@pytest.fixture
def locked_sqlite(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "cache.db"
    SQLiteCache(path).close()  # schema in place
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock throughout
    yield path
    holder.execute("ROLLBACK")
    holder.close()


def client(url: str, cache: CacheLayer, sink: MemorySink, deadline: float) -> Client:
    return Client(
        "compatible",
        base_url=url,
        api_key="sk-test",
        deadline=deadline,
        retry=False,
        telemetry=sink,
        layers=[cache],
    )


def test_sync_call_with_a_locked_sqlite_cache_ends_by_its_deadline(
    provider: str, locked_sqlite: Path
) -> None:
    backend = SQLiteCache(locked_sqlite, busy_timeout=6.0)
    cache = CacheLayer(backend, timeout=30.0)  # the deadline, not the layer's cap, binds
    sink = MemorySink()
    started = time.monotonic()
    with client(provider, cache, sink, deadline=1.0) as c:
        reply = c.chat(model="m", messages=MSGS, temperature=0)
    elapsed = time.monotonic() - started
    assert reply.text == "ok"
    assert elapsed < 1.0 + 0.3  # 6 s (the busy timeout) before
    assert cache.stats.timeouts == 1  # the write; a WAL read is never blocked
    assert cache.stats.stores == 0
    (call,) = sink.calls()
    assert call.cache_status == "write_timeout"
    backend.close()


def test_sync_call_with_a_hung_redis_ends_by_its_deadline(provider: str, hung_redis: str) -> None:
    backend = RedisCache(hung_redis, socket_timeout=5.0)
    cache = CacheLayer(backend, timeout=30.0)
    sink = MemorySink()
    started = time.monotonic()
    with client(provider, cache, sink, deadline=1.0) as c:
        reply = c.chat(model="m", messages=MSGS, temperature=0)
    elapsed = time.monotonic() - started
    assert reply.text == "ok"
    assert elapsed < 1.0 + 0.3  # 10 s (two socket timeouts) before
    assert cache.stats.timeouts == 2  # the lookup (a miss) and the write (skipped)
    assert cache.stats.misses == 1
    (call,) = sink.calls()
    assert call.cache_status == "write_timeout"
    backend.close()


def test_cache_timeout_caps_each_operation_without_a_deadline(
    provider: str, hung_redis: str
) -> None:
    backend = RedisCache(hung_redis, socket_timeout=5.0)
    cache = CacheLayer(backend, timeout=0.2)
    sink = MemorySink()
    started = time.monotonic()
    with client(provider, cache, sink, deadline=60.0) as c:
        assert c.chat(model="m", messages=MSGS, temperature=0).text == "ok"
    assert time.monotonic() - started < 0.4 + 0.3
    assert cache.stats.timeouts == 2
    backend.close()


async def _five_calls(url: str, cache: CacheLayer, deadline: float) -> tuple[list[float], float]:
    """Five concurrent calls: (each call's seconds, the longest the loop went unserved)."""
    stall = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal stall
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            stall = max(stall, now - last - 0.005)
            last = now

    async def one(c: AsyncClient) -> float:
        t = time.monotonic()
        reply = await c.chat(model="m", messages=MSGS, temperature=0)
        assert reply.text == "ok"
        return time.monotonic() - t

    tick = asyncio.create_task(ticker())
    kw: dict[str, Any] = {"base_url": url, "api_key": "sk-test", "retry": False}
    async with AsyncClient("compatible", deadline=deadline, layers=[cache], **kw) as c:
        times = await asyncio.gather(*(one(c) for _ in range(5)))
    stop.set()
    await tick
    return list(times), stall


def test_async_calls_with_a_hung_redis_end_by_the_deadline_and_never_stall_the_loop(
    provider: str, hung_redis: str
) -> None:
    backend = RedisCache(hung_redis, socket_timeout=5.0)
    cache = CacheLayer(backend, timeout=30.0)

    async def main() -> tuple[list[float], float]:
        try:
            return await _five_calls(provider, cache, deadline=1.0)
        finally:
            await backend.aclose()

    times, stall = asyncio.run(main())
    assert max(times) < 1.0 + 0.3
    assert stall < 0.1  # a blocking client once held the loop for 10 s
    assert cache.stats.timeouts == 10
    backend.close()


def test_async_calls_with_a_locked_sqlite_end_by_the_deadline_and_never_stall_the_loop(
    provider: str, locked_sqlite: Path
) -> None:
    backend = SQLiteCache(locked_sqlite, busy_timeout=6.0)
    cache = CacheLayer(backend, timeout=30.0)
    times, stall = asyncio.run(_five_calls(provider, cache, deadline=1.0))
    assert max(times) < 1.0 + 0.3
    assert stall < 0.1
    assert cache.stats.timeouts == 5
    backend.close()
