"""OpenTelemetrySink against the SDK's in-memory span exporter and metric reader."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmkit import OpenTelemetrySink
from llmkit.client import Client
from llmkit.clock import VirtualClock
from llmkit.telemetry import CallRecord, EventRecord
from llmkit.testing import Scripted, ScriptedTransport

PROMPT = "the secret plan for project walrus"
ANSWER = "walrus answer text"
BODY = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini-2024",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 30, "completion_tokens": 12},
}
RATE = Scripted(
    status=429,
    json={"error": {"message": "slow down", "type": "rate_limit_exceeded"}},
    headers={"retry-after": "2"},
    latency=0.1,
)
OK = Scripted(json=BODY, latency=0.4)


class Rig:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.sink = OpenTelemetrySink(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        assert data is not None
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out[metric.name] = list(metric.data.data_points)
        return out


def _call(rig: Rig, script: list[Scripted], key: str = "sk-test-" + "q" * 24) -> Any:
    clock = VirtualClock()
    client = Client(
        transport=ScriptedTransport(clock, script),
        clock=clock,
        telemetry=rig.sink,
        seed=1,
        budget=False,
        api_key=key,
        base_url="http://127.0.0.1:9/v1",
    )
    with client:
        return client.chat(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": PROMPT}],
            tags={"workflow": "triage"},
        )


def test_a_call_is_one_genai_span_with_a_child_per_attempt() -> None:
    rig = Rig()
    reply = _call(rig, [RATE, OK])
    assert reply.text == ANSWER
    spans = rig.finished()
    [call] = [s for s in spans if s.name == "chat gpt-4o-mini"]
    attempts = sorted(
        (s for s in spans if s.name == "llmkit.attempt"), key=lambda s: s.start_time or 0
    )
    assert len(spans) == 3
    assert call.kind == trace.SpanKind.CLIENT
    a = call.attributes or {}
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (30, 12)
    assert a["server.address"] == "127.0.0.1"
    assert a["llmkit.tag.workflow"] == "triage"
    assert "error.type" not in a
    assert [s.parent.span_id for s in attempts if s.parent] == [call.context.span_id] * 2
    assert (attempts[0].attributes or {})["error.type"] == "rate_limit"
    assert attempts[0].status.status_code == trace.StatusCode.ERROR
    assert (attempts[1].attributes or {})["http.response.status_code"] == 200
    # Spans sit at the recorded times: the retry waited at least the server's retry-after.
    assert attempts[0].end_time is not None
    assert attempts[1].start_time is not None
    assert attempts[1].start_time - attempts[0].end_time >= 2e9 - 1
    assert call.start_time == attempts[0].start_time
    [retry] = [e for e in call.events if e.name == "llmkit.retry"]
    assert (retry.attributes or {})["error.type"] == "rate_limit"
    assert (retry.attributes or {})["llmkit.retry.delay"] >= 2.0


def test_the_two_genai_client_metrics() -> None:
    rig = Rig()
    _call(rig, [OK])
    metrics = rig.metrics()
    [duration] = metrics["gen_ai.client.operation.duration"]
    assert duration.count == 1
    assert duration.sum == pytest.approx(0.4, abs=0.05)
    assert duration.attributes["gen_ai.provider.name"] == "openai"
    assert list(duration.explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"]
    }
    assert tokens == {"input": 30, "output": 12}


def test_a_failed_call_has_error_type_and_error_status() -> None:
    rig = Rig()
    with pytest.raises(Exception, match="slow down"):
        _call(rig, [RATE] * 10)
    [call] = [s for s in rig.finished() if s.name.startswith("chat ")]
    assert (call.attributes or {})["error.type"] == "rate_limit"
    assert call.status.status_code == trace.StatusCode.ERROR
    [duration] = rig.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "rate_limit"


def test_no_prompt_answer_or_key_is_exported() -> None:
    rig = Rig()
    key = "sk-canary-" + "k" * 30
    _call(rig, [RATE, OK], key=key)
    dump = json.dumps([json.loads(s.to_json()) for s in rig.finished()]) + str(rig.metrics())
    for secret in (PROMPT, ANSWER, key, "walrus"):
        assert secret not in dump


def test_the_call_span_joins_the_callers_trace() -> None:
    rig = Rig()
    tracer = rig.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as parent:
        _call(rig, [OK])
    [call] = [s for s in rig.finished() if s.name.startswith("chat ")]
    assert call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id
    assert call.context.trace_id == parent.get_span_context().trace_id


def test_layer_outcomes_become_events() -> None:
    rig = Rig()
    rig.sink.emit(
        CallRecord(
            call_id="c1",
            timestamp=1000.0,
            provider="openai",
            request_model="gpt-4o",
            latency=1.5,
            fallback_path="primary=overloaded>backup=ok",
            target="backup",
            cache_status="hit",
            cache_hit=True,
            degraded="stale_cache",
        )
    )
    [span] = rig.finished()
    events = {e.name: dict(e.attributes or {}) for e in span.events}
    assert events["llmkit.fallback"] == {
        "llmkit.fallback.path": "primary=overloaded>backup=ok",
        "llmkit.target": "backup",
    }
    assert "llmkit.cache.hit" in events
    assert events["llmkit.degraded"] == {"llmkit.degraded": "stale_cache"}
    assert (span.start_time, span.end_time) == (1000 * 10**9, 1001.5 * 10**9)


def test_breaker_changes_are_events_on_the_current_span_or_their_own() -> None:
    rig = Rig()
    event = EventRecord(
        timestamp=5.0,
        event="breaker.open",
        target="openai",
        reason="failure_rate",
        previous="closed",
    )
    rig.sink.emit(event)
    [alone] = rig.finished()
    assert alone.name == "llmkit.breaker"
    assert [e.name for e in alone.events] == ["breaker.open"]
    with rig.tracer_provider.get_tracer("app").start_as_current_span("work"):
        rig.sink.emit(event)
    work = next(s for s in rig.finished() if s.name == "work")
    assert [(e.name, (e.attributes or {})["llmkit.event.reason"]) for e in work.events] == [
        ("breaker.open", "failure_rate")
    ]


def test_pending_attempts_are_bounded() -> None:
    from llmkit.telemetry import AttemptRecord

    sink = Rig().sink
    small = OpenTelemetrySink(tracer_provider=TracerProvider(), max_pending=3)
    for i in range(10):
        small.emit(
            AttemptRecord(call_id=str(i), timestamp=0.0, provider="openai", request_model="m")
        )
    assert repr(small) == "OpenTelemetrySink(pending_calls=3)"
    assert repr(sink) == "OpenTelemetrySink(pending_calls=0)"


class _QuotaNote:
    """A layer that reports an event about its call, as a quota or budget layer does."""

    def handle(self, request: Any, ctx: Any, next: Any) -> Any:
        ctx.event(
            "quota.near", target="acct-1", reason="tokens_per_day", **{"llmkit.quota.used": 9}
        )
        return next(request, ctx)

    async def ahandle(self, request: Any, ctx: Any, next: Any) -> Any:
        ctx.event("quota.near", target="acct-1", reason="tokens_per_day")
        return await next(request, ctx)


def test_a_layers_own_events_join_its_call_span() -> None:
    rig = Rig()
    clock = VirtualClock()
    with Client(
        transport=ScriptedTransport(clock, [OK]),
        clock=clock,
        telemetry=rig.sink,
        api_key="k",
        base_url="http://127.0.0.1:9/v1",
        layers=[_QuotaNote()],
    ) as client:
        client.chat(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])
    spans = rig.finished()
    [call] = [s for s in spans if s.name.startswith("chat ")]
    assert [s.name for s in spans if s.name == "llmkit.breaker"] == []
    [event] = [e for e in call.events if e.name == "quota.near"]
    attrs = dict(event.attributes or {})
    assert (attrs["llmkit.target"], attrs["llmkit.event.reason"]) == ("acct-1", "tokens_per_day")
    assert attrs["llmkit.quota.used"] == 9
