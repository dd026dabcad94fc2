"""Circuit breaker: the state machine on a virtual clock, and the layer around a fake handler."""

from __future__ import annotations

import asyncio
import json

import pytest

from llmkit.breaker import (
    BreakerConfig,
    BreakerEvent,
    BreakerLayer,
    BreakerOutcome,
    BreakerState,
    CircuitBreaker,
    Outcome,
    classify_outcome,
)
from llmkit.client import AsyncClient, Client
from llmkit.clock import VirtualClock
from llmkit.errors import (
    AuthError,
    BadRequestError,
    CircuitOpenError,
    DeadlineExceededError,
    ErrorKind,
    LLMError,
    OverloadedError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from llmkit.layers import CallContext
from llmkit.testing import Scripted, ScriptedTransport
from llmkit.types import ChatRequest, ChatResponse, Message

CFG = BreakerConfig(failure_rate=0.5, window=10, min_requests=4, cooldown=30.0)


class Recorder:
    def __init__(self) -> None:
        self.events: list[BreakerEvent] = []

    def on_breaker_event(self, event: BreakerEvent) -> None:
        self.events.append(event)


def run(b: CircuitBreaker, error: Exception | None) -> Outcome:
    return b.record(b.acquire(), error)


def test_classification_counts_only_health_failures() -> None:
    assert classify_outcome(None) is Outcome.SUCCESS
    assert classify_outcome(ServerError("x")) is Outcome.FAILURE
    assert classify_outcome(OverloadedError("x")) is Outcome.FAILURE
    assert classify_outcome(TimeoutError("x")) is Outcome.FAILURE
    assert classify_outcome(BadRequestError("x")) is Outcome.SUCCESS
    assert classify_outcome(AuthError("x")) is Outcome.SUCCESS
    assert classify_outcome(RateLimitError("x")) is Outcome.NEUTRAL
    assert classify_outcome(DeadlineExceededError("x")) is Outcome.NEUTRAL
    assert classify_outcome(CircuitOpenError("t")) is Outcome.NEUTRAL


def test_opens_on_failure_rate_only_after_min_requests() -> None:
    clock = VirtualClock()
    rec = Recorder()
    b = CircuitBreaker("a", CFG, clock=clock, listeners=[rec])
    for _ in range(3):
        run(b, ServerError("boom"))
    assert b.state is BreakerState.CLOSED  # 3 < min_requests
    run(b, ServerError("boom"))
    assert b.state is BreakerState.OPEN
    assert [(e.old, e.new) for e in rec.events] == [(BreakerState.CLOSED, BreakerState.OPEN)]
    assert rec.events[0].failure_rate == 1.0


def test_bad_requests_do_not_open_the_circuit() -> None:
    b = CircuitBreaker("a", CFG, clock=VirtualClock())
    for _ in range(20):
        run(b, BadRequestError("your fault"))
        run(b, RateLimitError("slow down"))
    assert b.state is BreakerState.CLOSED
    assert b.failure_rate() == 0.0


def test_rate_below_threshold_stays_closed() -> None:
    b = CircuitBreaker("a", CFG, clock=VirtualClock())
    for i in range(10):
        run(b, ServerError("x") if i % 3 == 2 else None)  # 3 of 10 fail, never >= 0.5
    assert b.state is BreakerState.CLOSED
    assert b.failure_rate() == pytest.approx(0.3)


def test_open_refuses_without_counting_and_says_when() -> None:
    clock = VirtualClock()
    b = CircuitBreaker("a", CFG, clock=clock)
    for _ in range(4):
        run(b, ServerError("x"))
    clock.advance(10)
    with pytest.raises(CircuitOpenError) as info:
        b.acquire()
    err = info.value
    assert err.kind is ErrorKind.OVERLOADED
    assert err.code == "circuit_open"
    assert not err.retryable
    assert err.retry_after == pytest.approx(20.0)


def test_half_open_limits_probes_then_closes_on_success() -> None:
    clock = VirtualClock()
    rec = Recorder()
    cfg = BreakerConfig(min_requests=2, cooldown=5, half_open_probes=1, probe_successes=2)
    b = CircuitBreaker("a", cfg, clock=clock, listeners=[rec])
    run(b, ServerError("x"))
    run(b, ServerError("x"))
    clock.advance(5)
    p1 = b.acquire()
    assert p1.probe
    assert b.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError):
        b.acquire()  # only one probe in flight
    b.record(p1, None)
    assert b.state is BreakerState.HALF_OPEN  # needs two successful probes
    b.record(b.acquire(), None)
    assert b.state is BreakerState.CLOSED
    assert [e.new for e in rec.events] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]
    assert b.failure_rate() is None  # closing starts a fresh window


def test_failed_probe_reopens_with_a_new_cooldown() -> None:
    clock = VirtualClock()
    b = CircuitBreaker("a", BreakerConfig(min_requests=1, cooldown=5), clock=clock)
    run(b, ServerError("x"))
    clock.advance(5)
    run(b, TimeoutError("still down"))
    assert b.state is BreakerState.OPEN
    clock.advance(4.9)
    assert b.state is BreakerState.OPEN
    clock.advance(0.1)
    assert b.state is BreakerState.HALF_OPEN


def test_cancelled_probe_frees_its_slot() -> None:
    clock = VirtualClock()
    b = CircuitBreaker("a", BreakerConfig(min_requests=1, cooldown=1), clock=clock)
    run(b, ServerError("x"))
    clock.advance(1)
    b.release(b.acquire())
    assert b.state is BreakerState.HALF_OPEN
    b.record(b.acquire(), None)  # the slot is free again
    assert b.state is BreakerState.CLOSED


def test_results_from_before_a_state_change_are_ignored() -> None:
    clock = VirtualClock()
    b = CircuitBreaker("a", BreakerConfig(min_requests=1, cooldown=1), clock=clock)
    old = b.acquire()  # admitted while closed, slow
    run(b, ServerError("x"))
    clock.advance(1)
    probe = b.acquire()
    b.record(old, None)  # a late success from the old generation must not close it
    assert b.state is BreakerState.HALF_OPEN
    b.record(probe, None)
    assert b.state is BreakerState.CLOSED


def test_time_window_forgets_old_failures() -> None:
    clock = VirtualClock()
    cfg = BreakerConfig(window_seconds=60, min_requests=3, failure_rate=0.5)
    b = CircuitBreaker("a", cfg, clock=clock)
    run(b, ServerError("x"))
    run(b, ServerError("x"))
    clock.advance(61)
    run(b, ServerError("x"))
    assert b.state is BreakerState.CLOSED  # only one outcome left in the window
    run(b, None)
    assert b.state is BreakerState.CLOSED  # a success never trips it
    run(b, ServerError("x"))
    assert b.state is BreakerState.OPEN  # 2 of 3 within 60 s


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="failure_rate"):
        BreakerConfig(failure_rate=0)
    with pytest.raises(ValueError, match="min_requests"):
        BreakerConfig(min_requests=0)


REQ = ChatRequest(model="m", messages=(Message("user", "hi"),))
OK = ChatResponse(text="ok", model="m", provider="p", finish_reason="stop")


def test_layer_skips_next_when_open_and_notes_state() -> None:
    clock = VirtualClock()
    b = CircuitBreaker("primary", BreakerConfig(min_requests=2, cooldown=10), clock=clock)
    layer = BreakerLayer(b)
    calls = 0

    def failing(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        nonlocal calls
        calls += 1
        raise ServerError("down", provider="p", status=500)

    for _ in range(2):
        with pytest.raises(ServerError):
            layer.handle(REQ, CallContext("p", clock=clock), failing)
    ctx = CallContext("p", clock=clock)
    with pytest.raises(CircuitOpenError):
        layer.handle(REQ, ctx, failing)
    assert calls == 2  # the refused call never reached the handler
    assert ctx.outcome(BreakerOutcome) == BreakerOutcome({"primary": "open"})


def test_async_layer_records_outcomes() -> None:
    clock = VirtualClock()
    b = CircuitBreaker("primary", BreakerConfig(min_requests=1, cooldown=3), clock=clock)
    layer = BreakerLayer(b)

    async def slow_fail(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        await ctx.clock.asleep(1)
        raise OverloadedError("busy", status=529)

    async def ok(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        return OK

    async def main() -> None:
        with pytest.raises(OverloadedError):
            await layer.ahandle(REQ, CallContext("p", clock=clock), slow_fail)
        assert b.state is BreakerState.OPEN
        await clock.asleep(3)
        assert await layer.ahandle(REQ, CallContext("p", clock=clock), ok) is OK
        assert b.state is BreakerState.CLOSED

    asyncio.run(main())
    assert clock.now() == pytest.approx(4.0)


# --------------------------------------------------------------------------- delivered streams


def _sse(obj: object) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def _delta(text: str) -> bytes:
    return _sse({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": text}}]})


_MIDSTREAM_ERROR = _sse({"error": {"message": "overloaded", "type": "server_error"}})
_FULL = [
    _delta("ok"),
    _sse(
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    ),
    b"data: [DONE]\n\n",
]
_MSGS = [{"role": "user", "content": "hi"}]


def _stream_client(
    mode: str, chunks: list[bytes]
) -> tuple[CircuitBreaker, VirtualClock, Client | AsyncClient]:
    clock = VirtualClock()
    b = CircuitBreaker("p", BreakerConfig(min_requests=1, cooldown=10), clock=clock)
    transport = ScriptedTransport(clock, [Scripted(chunks=chunks)])
    opts: dict[str, object] = {"transport": transport, "clock": clock, "retry": 1, "seed": 0}
    if mode == "sync":
        return b, clock, Client(attempt_layers=[BreakerLayer(b)], **opts)  # type: ignore[arg-type]
    return b, clock, AsyncClient(attempt_layers=[BreakerLayer(b)], **opts)  # type: ignore[arg-type]


def _drain(mode: str, client: Client | AsyncClient) -> list[str]:
    got: list[str] = []
    if isinstance(client, Client):
        for ev in client.stream(model="m", messages=_MSGS):
            got.append(ev.type)
        return got

    async def main() -> None:
        async for ev in await client.stream(model="m", messages=_MSGS):
            got.append(ev.type)

    asyncio.run(main())
    return got


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_failing_after_first_event_is_a_breaker_failure(mode: str) -> None:
    b, _, client = _stream_client(mode, [_delta("a"), _MIDSTREAM_ERROR])
    with pytest.raises(LLMError) as info:
        _drain(mode, client)
    assert info.value.kind in b.config.failure_kinds
    assert b.state is BreakerState.OPEN  # min_requests=1: the one mid-stream failure opens it


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_outcome_waits_for_the_end(mode: str) -> None:
    b, _, client = _stream_client(mode, _FULL)
    if isinstance(client, Client):
        stream = client.stream(model="m", messages=_MSGS)
        assert b.failure_rate() is None  # delivered, not finished: nothing recorded yet
        assert [ev.text for ev in stream if ev.type == "text"] == ["ok"]
    else:
        assert "text" in _drain(mode, client)
    assert b.failure_rate() == 0.0
    assert b.state is BreakerState.CLOSED


def test_abandoned_stream_is_neutral() -> None:
    b, _, client = _stream_client("sync", [_delta("a"), _delta("b"), _MIDSTREAM_ERROR])
    assert isinstance(client, Client)
    with client.stream(model="m", messages=_MSGS) as stream:
        next(iter(stream))
    assert b.failure_rate() is None  # closed early by the caller: says nothing about health
    assert b.state is BreakerState.CLOSED
