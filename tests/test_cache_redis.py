"""Redis backend against a real redis-server on loopback.

LLMKIT_REDIS_URL selects a server; otherwise a throwaway ``redis-server`` is started on a free
127.0.0.1 port when the binary exists, else the tests skip -- unless LLMKIT_REQUIRE_REDIS=1,
when a missing server fails them (CI sets it).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from llmkit.cache import CacheLayer, CacheUnavailableError, cache_key
from llmkit.cache.redis import RedisCache
from llmkit.clock import VirtualClock
from llmkit.layers import CallContext
from llmkit.types import ChatRequest, ChatResponse, Message, Usage

pytestmark = pytest.mark.redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cache(redis_url: str, request: pytest.FixtureRequest) -> Iterator[RedisCache]:
    c = RedisCache(redis_url, prefix=f"llmkit-test:{request.node.name}:")
    c.clear()
    yield c
    c.clear()
    c.close()


def test_round_trip_delete_and_ttl(cache: RedisCache) -> None:
    assert cache.get("a") is None
    cache.set("a", b"\x00\xffbytes", ttl=None)
    assert cache.get("a") == b"\x00\xffbytes"
    cache.set("b", b"x", ttl=30)
    ttl_ms = cache.client.pttl(cache.prefix + "b")
    assert isinstance(ttl_ms, int)
    assert 0 < ttl_ms <= 30_000
    assert cache.client.pttl(cache.prefix + "a") == -1  # no expiry
    cache.delete("a")
    assert cache.get("a") is None


def test_clear_only_touches_its_prefix(cache: RedisCache, redis_url: str) -> None:
    other = RedisCache(redis_url, prefix="llmkit-test:other:")
    other.set("keep", b"1", ttl=None)
    for i in range(1200):
        cache.set(f"k{i}", b"v", ttl=None)
    cache.clear()
    assert cache.get("k0") is None
    assert other.get("keep") == b"1"
    other.clear()
    other.close()


def test_many_threads_share_one_client(cache: RedisCache) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(100):
                cache.set(f"{n}-{i}", f"{n}:{i}".encode(), ttl=60)
                assert cache.get(f"{n}-{i}") == f"{n}:{i}".encode()
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_layer_on_redis_with_a_corrupt_entry(cache: RedisCache) -> None:
    clock = VirtualClock()
    layer = CacheLayer(cache, ttl=60)
    req = ChatRequest(model="m", messages=(Message("user", "hi"),), temperature=0)
    cache.set(cache_key(req, "openai"), b"garbage", ttl=None)
    calls = 0

    def inner(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        nonlocal calls
        calls += 1
        return ChatResponse("hello", "m", "openai", usage=Usage(3, 2), finish_reason="stop")

    assert not layer.handle(req, CallContext("openai", clock=clock), inner).cached
    assert layer.handle(req, CallContext("openai", clock=clock), inner).cached
    assert calls == 1
    assert (layer.stats.corrupt, layer.stats.hits, layer.stats.tokens_saved) == (1, 1, 5)


def test_unreachable_server_is_a_typed_error() -> None:
    dead = RedisCache(f"redis://:hunter2@127.0.0.1:{_free_port()}/0", socket_timeout=0.5)
    with pytest.raises(CacheUnavailableError) as info:
        dead.get("a")
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(dead)


def test_async_methods_round_trip_and_the_layer_uses_them(cache: RedisCache) -> None:
    from llmkit.cache import CacheLayer
    from llmkit.clock import VirtualClock
    from llmkit.types import ChatResponse

    layer = CacheLayer(cache)
    answer = ChatResponse(text="4", model="m", provider="openai", finish_reason="stop")

    async def main() -> tuple[bytes | None, bytes | None, str | None]:
        await cache.aset("k", b"v", ttl=5.0)
        got = await cache.aget("k")
        await cache.adelete("k")
        gone = await cache.aget("k")
        assert await layer.astore("q", answer, VirtualClock())
        entry = await layer.alookup("q")
        await cache.aclose()
        return got, gone, None if entry is None else entry.response.text

    assert asyncio.run(main()) == (b"v", None, "4")
