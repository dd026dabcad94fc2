"""Typed layer outcomes and the telemetry columns registered from them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmkit import Client, MemorySink
from llmkit.clock import VirtualClock
from llmkit.errors import ServerError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns, registered_columns, unregister_columns
from llmkit.retry import RetryOutcome
from llmkit.telemetry import AttemptRecord, CallRecord, JSONLSink, TelemetryLayer
from llmkit.testing import Scripted, ScriptedTransport
from llmkit.types import ChatRequest, ChatResponse, Message

MSGS = [{"role": "user", "content": "hi"}]
OK = {
    "id": "c1",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}  # fmt: skip

# The record columns, in order, with their as_dict() (OpenTelemetry-style) keys. A change
# here is a change of every dashboard built on them: make it deliberately.
COLUMNS = [
    ("kind", "llmkit.record"),
    ("call_id", "llmkit.call_id"),
    ("timestamp", "timestamp"),
    ("provider", "gen_ai.provider.name"),
    ("operation", "gen_ai.operation.name"),
    ("request_model", "gen_ai.request.model"),
    ("response_model", "gen_ai.response.model"),
    ("stream", "gen_ai.request.stream"),
    ("attempt", "llmkit.attempt"),
    ("latency", "gen_ai.client.operation.duration"),
    ("ttft", "gen_ai.response.time_to_first_chunk"),
    ("status", "http.response.status_code"),
    ("error_type", "error.type"),
    ("retry_after", "llmkit.retry_after"),
    ("input_tokens", "gen_ai.usage.input_tokens"),
    ("output_tokens", "gen_ai.usage.output_tokens"),
    ("cache_read_tokens", "gen_ai.usage.cache_read.input_tokens"),
    ("cache_write_tokens", "gen_ai.usage.cache_creation.input_tokens"),
    ("reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),
    ("finish_reasons", "gen_ai.response.finish_reasons"),
    ("response_id", "gen_ai.response.id"),
    ("request_id", "llmkit.request_id"),
    ("server_address", "server.address"),
    ("cost", "llmkit.cost"),
    ("usage_source", "llmkit.usage.source"),
    ("cache_hit", "llmkit.cache_hit"),
    ("tags", "llmkit.tags"),
    ("fingerprint", "llmkit.request.fingerprint"),
    ("retry_delay", "llmkit.retry.delay"),
    ("retry_decision", "llmkit.retry.decision"),
    ("budget_denied", "llmkit.retry.budget_denied"),
    ("read_timeout", "llmkit.timeout.read"),
    ("deadline_remaining", "llmkit.deadline.remaining"),
    ("degraded", "llmkit.degraded"),
    ("cache_status", "llmkit.cache.status"),
    ("target", "llmkit.target"),
    ("fallback_path", "llmkit.fallback.path"),
    ("fallback_skipped", "llmkit.fallback.skipped"),
    ("hedged", "llmkit.hedged"),
    ("hedge_won", "llmkit.hedge.won"),
    ("throttle_wait", "llmkit.throttle.wait"),
]


def test_the_forty_one_columns_keep_their_names_and_keys() -> None:
    assert len(COLUMNS) == 41
    fields = [f.name for f in dataclasses.fields(CallRecord) if f.name != "extra"]
    assert sorted(["kind", *fields]) == sorted(name for name, _ in COLUMNS)
    clock = VirtualClock()
    sink = MemorySink()
    client = Client(
        transport=ScriptedTransport(clock, [Scripted(500), Scripted(json=OK)]),
        clock=clock,
        telemetry=sink,
        seed=1,
    )
    client.chat(model="m", messages=MSGS)
    keys = [key for _, key in COLUMNS]
    for record in sink.records:
        assert list(record.as_dict()) == keys
    first, second, call = sink.records
    assert (first.retry_decision, first.status, second.retry_decision) == ("retry", 500, None)
    assert (call.attempt, call.status, call.retry_decision) == (2, 200, None)
    assert call.retry_delay == first.retry_delay
    assert call.retry_delay is not None
    assert call.retry_delay > 0


# ------------------------------------------------------------------- a layer of the tests' own


@dataclass(frozen=True, slots=True)
class SpendOutcome:
    """What a made-up spending layer reports."""

    spent: float
    per_attempt: tuple[float, ...]


@pytest.fixture
def spend_columns() -> Iterator[None]:
    register_columns(
        SpendOutcome,
        Column(
            "spend_total",
            "llmkit.spend.total",
            call=lambda o: o.spent,
            attempt=lambda o, n: o.per_attempt[n - 1] if n <= len(o.per_attempt) else None,
        ),
        Column("spend_limited", "llmkit.spend.limited", call=lambda o: o.spent > 1.0),
    )
    yield
    unregister_columns(SpendOutcome)


class SpendLayer:
    """Charges 0.75 per attempt and reports it, like a budget layer would."""

    def _charge(self, ctx: CallContext) -> None:
        old = ctx.outcome(SpendOutcome) or SpendOutcome(0.0, ())
        ctx.report(SpendOutcome(old.spent + 0.75, (*old.per_attempt, 0.75)))
        if old.spent:
            ctx.event("spend.high", target="acct-1", reason="second_attempt", spent=old.spent)

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        self._charge(ctx)
        return next(request, ctx)

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        self._charge(ctx)
        return await next(request, ctx)


def test_a_new_layer_adds_its_columns_without_touching_telemetry(
    spend_columns: None, tmp_path: Path
) -> None:
    clock = VirtualClock()
    sink = MemorySink()
    jsonl = JSONLSink(tmp_path / "t.jsonl")
    client = Client(
        transport=ScriptedTransport(clock, [Scripted(503), Scripted(json=OK)]),
        clock=clock,
        telemetry=[sink, jsonl],
        attempt_layers=[SpendLayer()],
        seed=1,
    )
    client.chat(model="m", messages=MSGS)
    jsonl.close()
    a1, a2, call = sink.records
    assert isinstance(a1, AttemptRecord)
    assert isinstance(call, CallRecord)
    assert (a1.extra["llmkit.spend.total"], a2.extra["llmkit.spend.total"]) == (0.75, 0.75)
    assert "llmkit.spend.limited" not in a1.extra  # a call column only
    assert call.extra == {"llmkit.spend.total": 1.5, "llmkit.spend.limited": True}
    row = call.as_dict()
    assert row["llmkit.spend.total"] == 1.5
    assert row["llmkit.retry.decision"] is None  # the built-in columns are all still there
    (event,) = sink.events()
    assert (event.event, event.target, event.reason) == ("spend.high", "acct-1", "second_attempt")
    assert event.as_dict()["spent"] == 0.75
    lines = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [x["llmkit.record"] for x in lines] == ["attempt", "attempt", "event", "call"]
    assert lines[-1]["llmkit.spend.limited"] is True
    df = sink.to_dataframe()
    assert list(df["llmkit.spend.total"]) == [0.75, 0.75, 1.5]


def test_a_call_without_the_layer_has_no_such_column(spend_columns: None) -> None:
    sink = MemorySink()
    handler = TelemetryLayer(sink)
    req = ChatRequest(model="m", messages=(Message("user", "hi"),))
    handler.handle(req, CallContext("p", clock=VirtualClock()), lambda r, c: _ok())
    (call,) = sink.records
    assert call.extra == {}
    assert "llmkit.spend.total" not in call.as_dict()


def _ok() -> ChatResponse:
    return ChatResponse("ok", "m", "p", finish_reason="stop")


def test_registration_refuses_clashes() -> None:
    @dataclass(frozen=True)
    class Other:
        n: int

    with pytest.raises(ValueError, match="already registered"):
        register_columns(Other, Column("retry_delay", "llmkit.other", call=lambda o: o.n))
    with pytest.raises(ValueError, match="already registered"):
        register_columns(Other, Column("other", "llmkit.retry.delay", call=lambda o: o.n))
    with pytest.raises(ValueError, match="lowercase"):
        Column("Bad Name", "llmkit.x", call=lambda o: o)
    with pytest.raises(ValueError, match="reader"):
        Column("x", "llmkit.x")
    register_columns(Other, Column("request_model", "llmkit.model", call=lambda o: o.n))
    try:  # a built-in field keeps its key: the clash shows when records are built
        sink = MemorySink()
        req = ChatRequest(model="m", messages=(Message("user", "hi"),))
        ctx = CallContext("p", clock=VirtualClock())
        ctx.report(Other(1))
        TelemetryLayer(sink).handle(req, ctx, lambda r, c: _ok())
        assert sink.records == []  # logged, never raised into the call
    finally:
        unregister_columns(Other)
    assert all(t is not Other for t, _ in registered_columns()[1])


def test_retry_outcome_is_typed() -> None:
    clock = VirtualClock()
    seen: list[RetryOutcome | None] = []

    class Peek:
        def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
            try:
                return next(request, ctx)
            finally:
                seen.append(ctx.outcome(RetryOutcome))

        async def ahandle(
            self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
        ) -> ChatResponse:
            return await next(request, ctx)

    client = Client(
        transport=ScriptedTransport(clock, [Scripted(500)]),
        clock=clock,
        layers=[Peek()],
        seed=3,
    )
    with pytest.raises(ServerError):
        client.chat(model="m", messages=MSGS)
    (out,) = seen
    assert out is not None
    assert [(n, word) for n, word, _ in out.decisions] == [
        (1, "retry"),
        (2, "retry"),
        (3, "max_attempts"),
    ]
    assert out.slept == pytest.approx(sum(d for _, _, d in out.decisions if d is not None))
