"""Telemetry of the resilience layers: which target served and why, hedges, throttling,
breaker state changes as event records, and the cheaper record constructor."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from llmkit import telemetry
from llmkit.breaker import BreakerConfig, BreakerLayer, CircuitBreaker
from llmkit.clock import VirtualClock
from llmkit.errors import OverloadedError, QuotaExhaustedError
from llmkit.fallback import Canned, FallbackLayer, FallbackOutcome, FallbackStep, Target
from llmkit.hedge import HedgeLayer, HedgePolicy
from llmkit.layers import CallContext, compose, compose_async
from llmkit.telemetry import (
    CallRecord,
    EventRecord,
    JSONLSink,
    LoggingSink,
    MemorySink,
    MultiSink,
    Record,
    TelemetryLayer,
    watch_breaker,
)
from llmkit.throttle import ThrottleLayer
from llmkit.types import ChatRequest, ChatResponse, Message

PROMPT = "the walrus plan, in confidence"
MSG = [{"role": "user", "content": PROMPT}]
REQ = ChatRequest(model="m", messages=(Message("user", PROMPT),), temperature=0)
HAIKU = "anthropic:claude-haiku-4-5"


def answer(provider: str) -> ChatResponse:
    return ChatResponse(text="fine", model="m", provider=provider, finish_reason="stop")


def test_fallback_path_and_breaker_events_through_clients(tmp_path: Path) -> None:
    from llmkit import Client
    from llmkit.sim import SimTransport, Simulator

    clock = VirtualClock()
    sink = MemorySink()
    jsonl = JSONLSink(tmp_path / "t.jsonl")
    both = MultiSink([sink, jsonl])
    down, up = Simulator("overloaded-529", clock), Simulator("healthy", clock)
    breaker = CircuitBreaker("primary", BreakerConfig(min_requests=3, cooldown=30), clock=clock)
    watch_breaker(breaker, both)
    backup = Client("anthropic", api_key="sk-ant-test", transport=SimTransport(up), clock=clock)
    primary = Client(
        "openai",
        api_key="sk-test-123",
        transport=SimTransport(down),
        clock=clock,
        retry=False,
        telemetry=both,
        layers=[
            FallbackLayer([Target("primary"), Target.of_client(backup, model="claude-haiku-4-5")])
        ],
        attempt_layers=[BreakerLayer(breaker)],
    )
    for _ in range(4):
        primary.chat(model="gpt-4o-mini", messages=MSG)
    clock.advance(30)
    probe_wall = clock.wall()  # the next call asks the breaker first, before any latency
    primary.chat(model="gpt-4o-mini", messages=MSG)  # the half-open probe fails: open again
    primary.close()
    backup.close()
    jsonl.close()

    calls = sink.calls()
    assert [c.fallback_path for c in calls] == [
        f"primary=overloaded>{HAIKU}=ok",
        f"primary=overloaded>{HAIKU}=ok",
        f"primary=overloaded>{HAIKU}=ok",
        f"primary=circuit_open>{HAIKU}=ok",  # nothing sent: the breaker had opened
        f"primary=overloaded>{HAIKU}=ok",
    ]
    assert {(c.target, c.provider, c.fallback_skipped) for c in calls} == {(HAIKU, "anthropic", 1)}
    assert [c.hedged for c in calls] == [None] * 5  # no hedge layer in this stack
    assert down.requests == 4

    events = sink.events()
    assert [(e.event, e.previous, e.reason) for e in events] == [
        ("breaker.open", "closed", "failure_rate"),
        ("breaker.half_open", "open", "cooldown_elapsed"),
        ("breaker.open", "half_open", "probe_failed"),
    ]
    assert (events[0].target, events[0].failure_rate, events[0].threshold) == ("primary", 1.0, 0.5)
    assert events[1].timestamp == probe_wall  # wall time of the change, not monotonic
    assert events[0].timestamp <= probe_wall - 30
    assert len(sink.records) == 4 + 5 + 5  # attempts sent + calls; events are kept apart

    df = sink.to_dataframe()
    calls_df = df[df["llmkit.record"] == "call"]
    assert calls_df["llmkit.fallback.skipped"].sum() == 5
    assert calls_df["llmkit.target"].unique().tolist() == [HAIKU]
    ev = sink.events_dataframe()
    assert ev["llmkit.event"].tolist() == ["breaker.open", "breaker.half_open", "breaker.open"]
    assert ev["llmkit.record"].unique().tolist() == ["event"]

    lines = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [x["llmkit.event"] for x in lines if x["llmkit.record"] == "event"] == [
        "breaker.open",
        "breaker.half_open",
        "breaker.open",
    ]
    text = (tmp_path / "t.jsonl").read_text()
    assert "walrus" not in text
    assert "sk-test-123" not in text
    assert "sk-ant-test" not in text


def test_without_resilience_layers_the_columns_say_so() -> None:
    sink = MemorySink()
    handler = compose([TelemetryLayer(sink)], lambda r, c: answer("openai"))
    handler(REQ, CallContext("openai", clock=VirtualClock()))
    (call,) = sink.calls()
    assert (call.target, call.fallback_path, call.fallback_skipped) == (None, None, None)
    assert (call.hedged, call.hedge_won, call.cache_status) == (None, None, None)
    assert call.throttle_wait == 0.0


def test_degradation_step_ends_the_path() -> None:
    sink = MemorySink()
    layer = FallbackLayer(
        [Target("a", handler=_fails(OverloadedError("busy")))], degrade=[Canned("later")]
    )
    handler = compose([TelemetryLayer(sink), layer], _never)
    handler(REQ, CallContext("openai", clock=VirtualClock()))
    (call,) = sink.calls()
    assert (call.fallback_path, call.fallback_skipped) == ("a=overloaded>degrade:canned=ok", 1)
    assert (call.target, call.degraded, call.provider) == ("degrade:canned", "canned", "canned")


def test_passed_over_and_deadline_words() -> None:
    sink = MemorySink()
    layer = FallbackLayer(
        [
            Target("a", provider="openai", handler=_fails(QuotaExhaustedError("no money"))),
            Target("b", provider="openai", handler=_never),
            Target("c", provider="anthropic", handler=lambda r, c: answer("anthropic")),
        ]
    )
    compose([TelemetryLayer(sink), layer], _never)(REQ, CallContext("x", clock=VirtualClock()))
    (call,) = sink.calls()
    assert call.fallback_path == "a=quota_exhausted>b=passed_over>c=ok"
    assert (call.fallback_skipped, call.target, call.provider) == (2, "c", "anthropic")

    walk = FallbackOutcome((FallbackStep("a", "timeout"), FallbackStep("b", "deadline")))
    assert (walk.path, walk.skipped) == ("a=timeout>b=deadline", 2)


def test_hedge_columns() -> None:
    clock = VirtualClock()
    sink = MemorySink()
    started: list[float] = []

    async def slow_then_fast(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        started.append(clock.now())
        await clock.asleep(10.0 if len(started) == 1 else 1.0)
        return answer("openai")

    handler = compose_async(
        [TelemetryLayer(sink), HedgeLayer(HedgePolicy(delay=2.0))], slow_then_fast
    )

    async def twice() -> None:
        await handler(REQ, CallContext("openai", clock=clock))
        await handler(REQ, CallContext("openai", clock=clock))  # 10 s again, hedged again

    asyncio.run(twice())
    first = sink.calls()[0]
    assert (first.hedged, first.hedge_won) == (True, True)
    assert started[:2] == [0.0, 2.0]

    fast = MemorySink()

    async def quick(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        return answer("openai")

    h2 = compose_async([TelemetryLayer(fast), HedgeLayer(HedgePolicy(delay=2.0))], quick)

    async def once() -> None:
        await h2(REQ, CallContext("openai", clock=clock))

    asyncio.run(once())
    assert (fast.calls()[0].hedged, fast.calls()[0].hedge_won) == (False, False)


def test_throttle_wait_is_summed_over_attempts() -> None:
    clock = VirtualClock()
    sink = MemorySink()
    throttle = ThrottleLayer()
    limiter = throttle.limiter("openai", "m")
    tries: list[float] = []

    def twice(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        tries.append(clock.now())
        if len(tries) == 1:
            limiter.block_until(clock.now() + 4.0)
            raise OverloadedError("busy")
        return answer("openai")

    def again(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        try:
            return inner(request, ctx)
        except OverloadedError:
            return inner(request, ctx)  # a second attempt through the same per-attempt layer

    limiter.block_until(3.0)
    inner = compose([throttle], twice)
    compose([TelemetryLayer(sink)], again)(REQ, CallContext("openai", clock=clock))
    (call,) = sink.calls()
    assert tries == [3.0, 7.0]
    assert call.throttle_wait == pytest.approx(7.0)


def test_breaker_events_reach_logging_and_survive_broken_sinks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    breaker = CircuitBreaker("p", BreakerConfig(min_requests=2, cooldown=5), clock=clock)

    class CallsOnly:
        def emit(self, record: Record) -> None:
            assert isinstance(record, Record)  # knows nothing of events

    mem = MemorySink()
    watch_breaker(breaker, MultiSink([CallsOnly(), mem]))
    watch_breaker(breaker, LoggingSink("llmkit.test.breaker"))
    caplog.set_level(logging.INFO, logger="llmkit.test.breaker")
    for _ in range(2):
        breaker.record(breaker.acquire(), OverloadedError("x"))
    clock.advance(5)
    breaker.record(breaker.acquire(), None)  # half-open probe succeeds
    assert [e.event for e in mem.events()] == [
        "breaker.open",
        "breaker.half_open",
        "breaker.closed",
    ]
    assert mem.events()[-1].reason == "probes_succeeded"
    logged: list[Any] = [getattr(r, "llmkit", None) for r in caplog.records]
    assert [d["llmkit.event"] for d in logged if d] == [e.event for e in mem.events()]
    assert any("failed on an event" in r.getMessage() for r in caplog.records)


def test_a_failing_event_sink_never_reaches_the_breaker(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def emit(self, record: EventRecord) -> None:
            raise OSError("disk full")

    breaker = CircuitBreaker("p", BreakerConfig(min_requests=1), clock=VirtualClock())
    watch_breaker(breaker, Broken())
    breaker.record(breaker.acquire(), OverloadedError("x"))
    assert str(breaker.state) == "open"
    assert any("breaker event" in r.getMessage() for r in caplog.records)


def test_record_constructor_matches_the_dataclass() -> None:
    for cls in (telemetry.AttemptRecord, CallRecord):
        params = inspect.signature(cls).parameters
        assert list(params) == [f.name for f in dataclasses.fields(cls)]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                assert params[f.name].default == f.default
    a = CallRecord(call_id="c", timestamp=1.0, provider="p", request_model="m")
    b = CallRecord(call_id="c", timestamp=1.0, provider="p", request_model="m")
    assert a == b
    assert a.tags == {}
    assert a.tags is not b.tags  # default_factory still gives each record its own
    assert dataclasses.replace(a, latency=2.0).latency == 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.latency = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        CallRecord(call_id="c", timestamp=1.0, provider="p")  # type: ignore[call-arg]


def test_every_column_is_documented() -> None:
    doc = telemetry.__doc__ or ""
    row = CallRecord(call_id="c", timestamp=1.0, provider="p", request_model="m").as_dict()
    event = EventRecord(timestamp=1.0, event="breaker.open", target="t", reason="r").as_dict()
    for key in [*row, *event]:
        assert key in doc, key
    assert row["llmkit.record"] == "call"
    assert event["llmkit.record"] == "event"


def _fails(error: Exception) -> Any:
    def handler(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        raise error

    return handler


def _never(request: ChatRequest, ctx: CallContext) -> ChatResponse:
    raise AssertionError("not called")


def test_cache_status_tells_a_miss_from_no_cache() -> None:
    from llmkit import Client
    from llmkit.cache import CacheLayer, MemoryCache
    from llmkit.sim import SimTransport

    clock = VirtualClock()
    sink = MemorySink()
    client = Client(
        "openai",
        api_key="sk-test-123",
        transport=SimTransport("healthy", clock),
        clock=clock,
        telemetry=sink,
        layers=[CacheLayer(MemoryCache(clock=clock), ttl=3600)],
    )
    for temperature in (0.0, 0.0, 0.9):
        client.chat(model="gpt-4o-mini", messages=MSG, temperature=temperature)
    client.close()
    calls = sink.calls()
    assert [c.cache_status for c in calls] == ["store", "hit", "skip"]
    assert [c.cache_hit for c in calls] == [None, True, None]  # unchanged meaning


def test_a_client_with_telemetry_records_its_breakers_without_extra_wiring() -> None:
    from llmkit import Client
    from llmkit.sim import SimTransport, Simulator

    clock = VirtualClock()
    sink = MemorySink()
    breaker = CircuitBreaker("primary", BreakerConfig(min_requests=3, cooldown=30), clock=clock)
    client = Client(
        "anthropic",
        api_key="sim",
        clock=clock,
        retry=False,
        telemetry=sink,
        attempt_layers=[BreakerLayer(breaker)],
        transport=SimTransport(Simulator("overloaded-529", clock)),
    )
    Client(  # a second client sharing breaker and sink must not double the events
        "anthropic", api_key="sim", clock=clock, telemetry=sink,
        attempt_layers=[BreakerLayer(breaker)],
    )  # fmt: skip
    for _ in range(5):
        with pytest.raises((OverloadedError,)):
            client.chat(model="claude-haiku-4-5", messages=MSG)
    events = [e.event for e in sink.events()]
    assert events == ["breaker.open"]
    assert sink.events()[0].target == "primary"
