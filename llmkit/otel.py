"""Telemetry into OpenTelemetry: GenAI spans, events and the two GenAI client metrics.

:class:`OpenTelemetrySink` is a telemetry sink like the others (``telemetry=``). Per call it
emits what the OpenTelemetry GenAI semantic conventions describe:

- one span named ``"{gen_ai.operation.name} {gen_ai.request.model}"`` (kind CLIENT) with
  ``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
  ``gen_ai.response.model``, ``gen_ai.response.id``, ``gen_ai.response.finish_reasons``,
  ``gen_ai.usage.input_tokens``/``output_tokens``, ``server.address``, ``error.type`` (and
  status ERROR on a failure), plus llmkit's own columns (``llmkit.*``, tags as
  ``llmkit.tag.<name>``);
- one child span ``llmkit.attempt`` per HTTP attempt, with its status code, error, timeouts
  and tokens, placed at its real start and end;
- span events for what the layers decided: ``llmkit.retry`` (after each retried attempt,
  with the error and the wait), ``llmkit.retry.budget_denied``, ``llmkit.fallback`` (the
  path through the targets), ``llmkit.cache.hit``, ``llmkit.degraded``, ``llmkit.hedge``;
  a layer's own events (``ctx.event``: a budget or quota refusal) join the span of the call
  they belong to (telemetry emits them just before that call's record, in the same thread);
  a circuit breaker's state change (``breaker.open`` ...) is an event on the span current
  when it happens, or a short ``llmkit.breaker`` span when there is none;
- the metrics ``gen_ai.client.operation.duration`` (s) and ``gen_ai.client.token.usage``
  (``{token}``, one point per ``gen_ai.token.type``: ``input``, ``output``), with the
  conventions' advisory bucket boundaries.

No prompt or completion text is exported: llmkit's records never hold any (the conventions
make content opt-in; llmkit has nothing to opt into). Tags and the request fingerprint (a hash)
are exported; keep secrets out of tags.

Spans are built when the call's record arrives, with the recorded start and end times, so
the sink adds nothing to a call's latency but a few microseconds per record; attempts wait in a
bounded buffer until their call ends. The call span's parent is the context current when the
call ends (the caller's own span, when there is one).

``opentelemetry-api`` and ``-sdk`` are the ``otel`` extra; ``import llmkit`` does not import
them, only building a sink does. Sending to an OTLP collector takes the SDK's own set-up::

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_EXPORTER_* env
    client = llmkit.Client(telemetry=llmkit.OpenTelemetrySink(tracer_provider=provider))
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from llmkit.telemetry.records import AttemptRecord, CallRecord, EventRecord, Record

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["OpenTelemetrySink"]

SCOPE = "llmkit"

# The GenAI semantic conventions' advisory explicit bucket boundaries.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)  # fmt: skip
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)  # fmt: skip

# Keys set by hand (or never exported) rather than copied from as_dict().
_SKIP = frozenset({"llmkit.record", "timestamp", "llmkit.tags", "gen_ai.client.operation.duration"})
_MAX_LOOSE_EVENTS = 64
_METRIC_KEYS = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
                "gen_ai.response.model", "server.address")  # fmt: skip


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _value(value: Any) -> Any:
    """An OpenTelemetry attribute value: primitives and lists of them pass, others as text."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (str, bool, int, float)) for v in value
    ):
        return list(value)
    return str(value)


def _event_attributes(event: EventRecord) -> dict[str, Any]:
    return {
        k: _value(v)
        for k, v in event.as_dict().items()
        if v is not None and k not in ("llmkit.record", "timestamp")
    }


def _attributes(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.as_dict().items():
        if key in _SKIP or value is None or value == [] or isinstance(value, dict):
            continue
        out[key] = _value(value)
    for name, value in record.tags.items():
        out[f"llmkit.tag.{name}"] = str(value)
    return out


class OpenTelemetrySink:
    """A telemetry sink that turns llmkit's records into OpenTelemetry spans and metrics.

    ``tracer_provider``/``meter_provider`` default to the global ones (set by your
    OpenTelemetry set-up; no-ops when there is none). ``max_pending`` bounds the attempts held
    while their call is in flight (the oldest calls' attempts are dropped beyond it).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        max_pending: int = 4096,
    ) -> None:
        try:
            from opentelemetry import metrics, trace  # noqa: PLC0415 - optional extra
        except ImportError as exc:  # pragma: no cover - the extra is part of dev
            raise ImportError(
                "OpenTelemetrySink needs the otel extra: pip install 'llmkit[otel]'"
            ) from exc
        self._trace = trace
        self._tracer = trace.get_tracer(SCOPE, _version(), tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, _version(), meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS),
        )
        self._pending: OrderedDict[str, list[AttemptRecord]] = OrderedDict()
        self._local = threading.local()
        self._max_pending = max_pending
        self._lock = threading.Lock()

    # -- the sink protocol

    def emit(self, record: Record | EventRecord) -> None:
        if isinstance(record, EventRecord):
            if record.previous is None:  # a layer's event about the call whose record is next
                pending = self._local.__dict__.setdefault("events", [])
                pending.append(record)
                if len(pending) > _MAX_LOOSE_EVENTS:
                    self._event(pending.pop(0))
            else:
                self._event(record)
        elif isinstance(record, AttemptRecord):
            with self._lock:
                self._pending.setdefault(record.call_id, []).append(record)
                while len(self._pending) > self._max_pending:
                    self._pending.popitem(last=False)
        elif isinstance(record, CallRecord):
            with self._lock:
                attempts = self._pending.pop(record.call_id, [])
            events: list[EventRecord] = self._local.__dict__.pop("events", [])
            self._call(record, attempts, events)
            self._metrics(record)

    # -- spans

    def _call(
        self, call: CallRecord, attempts: list[AttemptRecord], events: list[EventRecord]
    ) -> None:
        trace = self._trace
        start = _ns(call.timestamp)
        end = _ns(call.timestamp + (call.latency or 0.0))
        span = self._tracer.start_span(
            f"{call.operation} {call.request_model}",
            kind=trace.SpanKind.CLIENT,
            attributes=_attributes(call),
            start_time=start,
        )
        context = trace.set_span_in_context(span)
        for att in attempts:
            self._attempt(att, context, span)
        self._call_events(call, span, end)
        for ev in events:
            span.add_event(ev.event, _event_attributes(ev), timestamp=_ns(ev.timestamp))
        if call.error_type:
            span.set_status(trace.Status(trace.StatusCode.ERROR, call.error_type))
        span.end(end_time=end)

    def _attempt(self, att: AttemptRecord, context: Any, parent: Span) -> None:
        trace = self._trace
        start = _ns(att.timestamp)
        end = _ns(att.timestamp + (att.latency or 0.0))
        span = self._tracer.start_span(
            "llmkit.attempt",
            context=context,
            kind=trace.SpanKind.CLIENT,
            attributes=_attributes(att),
            start_time=start,
        )
        if att.error_type:
            span.set_status(trace.Status(trace.StatusCode.ERROR, att.error_type))
        span.end(end_time=end)
        if att.retry_decision == "retry":
            parent.add_event(
                "llmkit.retry",
                {
                    "llmkit.attempt": att.attempt,
                    "error.type": att.error_type or "",
                    "llmkit.retry.delay": att.retry_delay or 0.0,
                },
                timestamp=end,
            )
        if att.budget_denied:
            parent.add_event(
                "llmkit.retry.budget_denied", {"llmkit.attempt": att.attempt}, timestamp=end
            )

    def _call_events(self, call: CallRecord, span: Span, end: int) -> None:
        if call.fallback_path and (">" in call.fallback_path or call.target):
            attrs: dict[str, Any] = {"llmkit.fallback.path": call.fallback_path}
            if call.target:
                attrs["llmkit.target"] = call.target
            span.add_event("llmkit.fallback", attrs, timestamp=end)
        if call.cache_status == "hit" or call.cache_hit:
            span.add_event("llmkit.cache.hit", {"llmkit.cache.status": "hit"}, timestamp=end)
        if call.degraded:
            span.add_event("llmkit.degraded", {"llmkit.degraded": call.degraded}, timestamp=end)
        if call.hedged:
            span.add_event("llmkit.hedge", {"llmkit.hedge.won": bool(call.hedge_won)})

    def _event(self, event: EventRecord) -> None:
        attrs = _event_attributes(event)
        when = _ns(event.timestamp)
        current = self._trace.get_current_span()
        if current.is_recording():
            current.add_event(event.event, attrs, timestamp=when)
            return
        span = self._tracer.start_span("llmkit.breaker", attributes=attrs, start_time=when)
        span.add_event(event.event, attrs, timestamp=when)
        span.end(end_time=when)

    # -- metrics

    def _metrics(self, call: CallRecord) -> None:
        data = call.as_dict()
        attrs = {k: data[k] for k in _METRIC_KEYS if data.get(k) is not None}
        if call.error_type:
            attrs["error.type"] = call.error_type
        if call.latency is not None:
            self._duration.record(call.latency, attrs)
        for kind, count in (("input", call.input_tokens), ("output", call.output_tokens)):
            if count is not None:
                self._tokens.record(count, {**attrs, "gen_ai.token.type": kind})

    def __repr__(self) -> str:
        return f"OpenTelemetrySink(pending_calls={len(self._pending)})"


def _version() -> str:
    from llmkit import __version__  # noqa: PLC0415 - the package imports this module

    return __version__
