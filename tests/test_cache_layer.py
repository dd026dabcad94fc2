"""The cache layer around a fake inner handler, on a virtual clock."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from llmkit.cache import (
    CacheLayer,
    CacheOutcome,
    CacheUnavailableError,
    MemoryCache,
    SQLiteCache,
    cache_key,
    replay_stream,
)
from llmkit.clock import VirtualClock
from llmkit.layers import CallContext
from llmkit.types import ChatRequest, ChatResponse, Message, ToolCall, Usage

REQ = ChatRequest(model="m", messages=(Message("user", "What is 2+2?"),), temperature=0)


class Inner:
    def __init__(self, response: ChatResponse | None = None, latency: float = 2.0) -> None:
        self.calls = 0
        self.latency = latency
        self.response = response or ChatResponse(
            "4", "m", "openai", usage=Usage(12, 3), finish_reason="stop"
        )

    def __call__(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        self.calls += 1
        ctx.clock.sleep(self.latency)
        return self.response.with_(latency=self.latency)

    async def acall(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        self.calls += 1
        await ctx.clock.asleep(self.latency)
        return self.response.with_(latency=self.latency)


class Prices:
    def cost(
        self, provider: str, model: str | None, usage: Usage, *, at: float | None = None
    ) -> Decimal | None:
        if model != "m":
            return None
        return Decimal("0.001") * (usage.input_tokens or 0) + Decimal("0.002") * (
            usage.output_tokens or 0
        )


def ctx(clock: VirtualClock) -> CallContext:
    return CallContext("openai", clock=clock)


def test_miss_then_hit_with_stats() -> None:
    clock = VirtualClock()
    layer = CacheLayer(MemoryCache(clock=clock), ttl=60, pricer=Prices())
    inner = Inner()
    c1 = ctx(clock)
    first = layer.handle(REQ, c1, inner)
    assert (first.cached, c1.outcome(CacheOutcome)) == (False, CacheOutcome("store"))
    c2 = ctx(clock)
    t0 = clock.now()
    second = layer.handle(REQ.with_(tags={"job": "x"}), c2, inner)
    assert inner.calls == 1
    assert second.cached
    assert second.text == "4"
    assert second.latency == 0.0
    assert clock.now() == t0  # a hit costs no (virtual) time
    assert c2.outcome(CacheOutcome) == CacheOutcome("hit")
    s = layer.stats
    assert (s.hits, s.misses, s.stores) == (1, 1, 1)
    assert s.tokens_saved == 15
    assert s.latency_saved == 2.0
    assert s.cost_saved == Decimal("0.018")
    assert s.hit_rate == 0.5


def test_cost_saved_is_none_when_prices_are_unknown() -> None:
    clock = VirtualClock()
    layer = CacheLayer(MemoryCache(clock=clock))
    inner = Inner()
    layer.handle(REQ, ctx(clock), inner)
    layer.handle(REQ, ctx(clock), inner)
    assert layer.stats.cost_saved is None
    assert layer.stats.unpriced_hits == 1
    priced = CacheLayer(MemoryCache(clock=clock), pricer=Prices())
    other = Inner(ChatResponse("x", "unknown-model", "openai", finish_reason="stop"))
    priced.handle(REQ, ctx(clock), other)
    priced.handle(REQ, ctx(clock), other)
    assert priced.stats.cost_saved is None


def test_entries_expire_after_ttl() -> None:
    clock = VirtualClock()
    layer = CacheLayer(MemoryCache(clock=clock), ttl=60)
    inner = Inner()
    layer.handle(REQ, ctx(clock), inner)
    clock.advance(61)
    layer.handle(REQ, ctx(clock), inner)
    assert inner.calls == 2


def test_nondeterministic_requests_bypass_the_cache() -> None:
    clock = VirtualClock()
    layer = CacheLayer(MemoryCache(clock=clock))
    inner = Inner()
    warm = REQ.with_(temperature=0.8)
    layer.handle(warm, ctx(clock), inner)
    layer.handle(warm, ctx(clock), inner)
    assert inner.calls == 2
    assert layer.stats.skipped == 2
    opted = CacheLayer(MemoryCache(clock=clock), opt_in=True)
    opted.handle(warm, ctx(clock), inner)
    opted.handle(warm, ctx(clock), inner)
    assert inner.calls == 3


@pytest.mark.parametrize(
    "response",
    [
        ChatResponse("", "m", "openai", finish_reason="content_filter"),
        ChatResponse("partial", "m", "openai", finish_reason=None),
        ChatResponse("canned", "m", "openai", finish_reason="stop", degraded="canned"),
    ],
)
def test_incomplete_or_degraded_answers_are_not_stored(response: ChatResponse) -> None:
    clock = VirtualClock()
    layer = CacheLayer(MemoryCache(clock=clock))
    inner = Inner(response)
    layer.handle(REQ, ctx(clock), inner)
    layer.handle(REQ, ctx(clock), inner)
    assert inner.calls == 2
    assert layer.stats.stores == 0


def test_corrupt_entry_is_logged_ignored_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = VirtualClock()
    backend = SQLiteCache(tmp_path / "c.db", clock=clock)
    layer = CacheLayer(backend)
    key = cache_key(REQ, "openai")
    backend.set(key, b'{"v": 1, "key": "' + key.encode() + b'", "response": SECRET-ish', ttl=None)
    inner = Inner()
    with caplog.at_level(logging.WARNING, logger="llmkit.cache"):
        r = layer.handle(REQ, ctx(clock), inner)
    assert r.text == "4"
    assert inner.calls == 1
    assert layer.stats.corrupt == 1
    assert "corrupt cache entry" in caplog.text
    assert "SECRET" not in caplog.text
    assert layer.handle(REQ, ctx(clock), inner).cached  # replaced by the fresh answer
    backend.close()


class Broken:
    def get(self, key: str) -> bytes | None:
        raise CacheUnavailableError("redis down")

    def set(self, key: str, value: bytes, *, ttl: float | None) -> None:
        raise CacheUnavailableError("redis down")

    def delete(self, key: str) -> None:
        raise CacheUnavailableError("redis down")

    def clear(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_broken_backend_never_breaks_the_call(caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock()
    layer = CacheLayer(Broken())
    with caplog.at_level(logging.WARNING, logger="llmkit.cache"):
        r = layer.handle(REQ, ctx(clock), Inner())
    assert r.text == "4"
    assert layer.stats.errors == 2  # the read and the write
    assert "continuing without cache" in caplog.text


def test_async_layer() -> None:
    clock = VirtualClock()
    layer = CacheLayer(MemoryCache(clock=clock))
    inner = Inner()

    async def main() -> list[ChatResponse]:
        a = await layer.ahandle(REQ, ctx(clock), inner.acall)
        b = await layer.ahandle(REQ, ctx(clock), inner.acall)
        return [a, b]

    a, b = asyncio.run(main())
    assert (a.cached, b.cached, inner.calls) == (False, True, 1)
    assert clock.now() == 2.0


def test_replayed_stream_rebuilds_the_answer() -> None:
    r = ChatResponse(
        "x" * 150,
        "m",
        "openai",
        usage=Usage(1, 2),
        tool_calls=(ToolCall("c1", "f", '{"a": 1}'),),
        finish_reason="tool_calls",
        reasoning="why",
        id="id1",
    )
    events = list(replay_stream(r, chunk_chars=64))
    assert [e.type for e in events] == [
        "meta", "reasoning", "text", "text", "text", "tool_call", "usage", "finish",
    ]  # fmt: skip
    assert "".join(e.text for e in events if e.type == "text") == r.text
    assert events[5].name == "f"
    assert events[5].text == '{"a": 1}'
    assert events[-2].usage == r.usage
    assert events[-1].finish_reason == "tool_calls"
    assert events[0].id == "id1"


# ------------------------------------------------------------------ through llmkit.Client


def test_client_cache_for_calls_and_streams(tmp_path: Path) -> None:
    from llmkit import Client
    from llmkit.sim import SimTransport, Simulator
    from llmkit.telemetry import MemorySink

    clock = VirtualClock()
    sim = Simulator("healthy", clock)
    sink = MemorySink()
    cache = CacheLayer(SQLiteCache(tmp_path / "c.db", clock=clock), ttl=3600)
    client = Client(
        "openai",
        api_key="sk-test-123",
        transport=SimTransport(sim),
        clock=clock,
        telemetry=sink,
        layers=[cache],
    )
    msg = [{"role": "user", "content": "Name a colour."}]
    first = client.chat(model="gpt-4o-mini", messages=msg, temperature=0)
    t = clock.now()
    again = client.chat(model="gpt-4o-mini", messages=msg, temperature=0, tags={"run": "2"})
    assert again.cached
    assert again.text == first.text
    assert clock.now() == t
    assert sim.requests == 1
    assert [c.cache_hit for c in sink.calls()] == [None, True]
    assert cache.stats.latency_saved == pytest.approx(first.latency)

    # A delivered stream is stored when it ends; the next one replays from the cache.
    smsg = [{"role": "user", "content": "Count to three."}]
    with client.stream(model="gpt-4o-mini", messages=smsg, temperature=0) as s:
        live = "".join(e.text for e in s if e.type == "text")
    assert sim.requests == 2
    with client.stream(model="gpt-4o-mini", messages=smsg, temperature=0) as s:
        replayed = "".join(e.text for e in s if e.type == "text")
        final = s.response
    assert sim.requests == 2
    assert replayed == live
    assert final is not None
    assert final.cached
    client.close()


@pytest.mark.parametrize(
    ("answer", "stored_by_default", "stored_if_asked"),
    [
        (ChatResponse("4", "m", "openai", finish_reason="stop"), True, True),
        (ChatResponse("", "m", "openai", finish_reason="tool_calls"), True, True),
        (ChatResponse("Four is", "m", "openai", finish_reason="length"), False, True),
        (ChatResponse("", "m", "openai", finish_reason="stop", refusal="I can't"), False, True),
        (ChatResponse("", "m", "openai", finish_reason="content_filter"), False, False),
        (ChatResponse("4", "m", "openai", finish_reason=None), False, False),
    ],
)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_only_complete_answers_are_cached_unless_asked(
    answer: ChatResponse, stored_by_default: bool, stored_if_asked: bool, mode: str
) -> None:
    for store_incomplete, expected in ((False, stored_by_default), (True, stored_if_asked)):
        clock = VirtualClock()
        layer = CacheLayer(MemoryCache(clock=clock), store_incomplete=store_incomplete)
        inner = Inner(answer)
        for _ in range(2):
            if mode == "sync":
                layer.handle(REQ, ctx(clock), inner)
            else:
                asyncio.run(layer.ahandle(REQ, ctx(clock), inner.acall))
        assert (layer.stats.stores, inner.calls) == ((1, 1) if expected else (0, 2))


def test_savings_are_priced_at_the_hits_own_time() -> None:
    # A replay runs on a virtual clock set to the recording's time: the saving must be priced
    # then, not at today's prices, or a notebook's dollar figures drift as prices change.
    class Dated:
        def __init__(self) -> None:
            self.asked: list[float | None] = []

        def cost(
            self, provider: str, model: str | None, usage: Usage, *, at: float | None = None
        ) -> Decimal | None:
            self.asked.append(at)
            return Decimal("0.25") if at is not None and at < 1_800_000_000 else Decimal(1)

    clock = VirtualClock(start=1_767_225_600.0)  # 2026-01-01
    pricer = Dated()
    layer = CacheLayer(MemoryCache(clock=clock), ttl=None, pricer=pricer)
    inner = Inner()
    layer.handle(REQ, ctx(clock), inner)
    clock.advance(3600)
    layer.handle(REQ, ctx(clock), inner)
    assert pricer.asked == [clock.wall()]
    assert layer.stats.cost_saved == Decimal("0.25")


def test_without_a_pricer_a_hit_saves_what_the_call_cost() -> None:
    clock = VirtualClock()
    paid = ChatResponse("4", "m", "openai", finish_reason="stop", cost=Decimal("0.0031"))
    layer = CacheLayer(MemoryCache(clock=clock))
    inner = Inner(paid)
    layer.handle(REQ, ctx(clock), inner)
    layer.handle(REQ, ctx(clock), inner)
    assert (layer.stats.cost_saved, layer.stats.unpriced_hits) == (Decimal("0.0031"), 0)
