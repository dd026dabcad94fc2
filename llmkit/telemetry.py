"""Telemetry: one record per attempt and one per call, never prompt text, never keys.

Records are frozen dataclasses; ``as_dict()`` names their fields after the OpenTelemetry GenAI
semantic conventions where one exists, and ``llmkit.*`` otherwise::

    field                 as_dict() key                                  meaning
    kind                  llmkit.record                                  "attempt" | "call"
    call_id               llmkit.call_id                                 joins attempts to call
    timestamp             timestamp                                      wall clock at start (s)
    provider              gen_ai.provider.name                           openai, anthropic, ...
    operation             gen_ai.operation.name                          "chat"
    request_model         gen_ai.request.model
    response_model        gen_ai.response.model
    stream                gen_ai.request.stream
    attempt               llmkit.attempt                                 1-based; call: count
    latency               gen_ai.client.operation.duration               seconds
    ttft                  gen_ai.response.time_to_first_chunk            seconds (streams)
    status                http.response.status_code                      None: no response
    error_type            error.type                                     ErrorKind value
    retry_after           llmkit.retry_after                             seconds asked by server
    input_tokens          gen_ai.usage.input_tokens                      inclusive of cache
    output_tokens         gen_ai.usage.output_tokens                     inclusive of reasoning
    cache_read_tokens     gen_ai.usage.cache_read.input_tokens
    cache_write_tokens    gen_ai.usage.cache_creation.input_tokens
    reasoning_tokens      gen_ai.usage.reasoning.output_tokens
    finish_reasons        gen_ai.response.finish_reasons                 list
    response_id           gen_ai.response.id
    request_id            llmkit.request_id                              provider's request id
    server_address        server.address
    cost                  llmkit.cost                                    None until priced
    cache_hit             llmkit.cache_hit                               True on a hit, else None
    tags                  llmkit.tags                                    account/workflow/job
    fingerprint           llmkit.request.fingerprint                     hash, never the text
    retry_delay           llmkit.retry.delay          attempt: sleep before the next attempt;
                                                      call: total seconds slept
    retry_decision        llmkit.retry.decision       attempt: retry | not_retryable |
                                                      max_attempts | deadline |
                                                      retry_after_too_long | budget_denied
    budget_denied         llmkit.retry.budget_denied  the retry budget refused a retry
    read_timeout          llmkit.timeout.read         attempt: effective read timeout (s)
    deadline_remaining    llmkit.deadline.remaining   attempt: seconds left at its start
    degraded              llmkit.degraded             call: why the answer is degraded
    cache_status          llmkit.cache.status         call: hit | miss | store | skip;
                                                      None: no cache layer
    target                llmkit.target               call: fallback target that answered
                                                      (its name; Target.of_client names it
                                                      provider:model), degrade:<reason>
    fallback_path         llmkit.fallback.path        call: every target in order,
                                                      "a=overloaded>b=circuit_open>c=ok"
    fallback_skipped      llmkit.fallback.skipped     call: targets that did not answer
    hedged                llmkit.hedged               call: a hedge request was sent
    hedge_won             llmkit.hedge.won            call: the hedge's answer was used
    throttle_wait         llmkit.throttle.wait        call: seconds the throttle held it,
                                                      summed over attempts (0.0: none)

The other resilience columns are None when their layer is not in the stack (``cache_hit`` is
set only on a hit: read ``llmkit.cache.status`` to tell a miss from "no cache"). The words in
``llmkit.fallback.path`` after ``=`` are: ``ok`` (answered), an error kind (failed there),
``circuit_open`` (skipped, nothing sent), ``deadline`` (skipped, no time left), ``passed_over``
(unfit for that failure, e.g. same provider after a quota error).

Circuit breaker state changes become :class:`EventRecord` rows (``watch_breaker(breaker, sink)``)::

    field          as_dict() key                 meaning
    kind           llmkit.record                 "event"
    timestamp      timestamp                     wall clock of the change (s)
    event          llmkit.event                  breaker.open | breaker.half_open | breaker.closed
    target         llmkit.target                 the breaker's target
    reason         llmkit.event.reason           failure_rate | probe_failed |
                                                 cooldown_elapsed | probes_succeeded
    previous       llmkit.breaker.previous       the state it left
    failure_rate   llmkit.breaker.failure_rate   window's failure rate (closed -> open)
    threshold      llmkit.breaker.threshold      configured failure_rate to open

The fingerprint is a blake2b hash of the normalized request (model, messages, parameters,
tools; not tags or the stream flag), so identical requests can be grouped without storing
what they said.

Sinks implement :class:`TelemetrySink` (one ``emit`` method). :class:`MemorySink` keeps
records for notebooks and tests (``to_dataframe()`` imports pandas only when called),
:class:`JSONLSink` appends one JSON object per line, :class:`LoggingSink` logs through
stdlib ``logging``. A failing sink never fails the call (the error is logged). Event records
go to the same sinks; ``MemorySink`` keeps them apart (``events()``, ``events_dataframe()``) so
``records`` and ``to_dataframe()`` stay one row per attempt or call.

Cost: records are built on every call; they are plain frozen slotted dataclasses (about 4 µs
each, under 1% of a loopback call), and ``as_dict`` reads every field with one ``attrgetter``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, Literal, Protocol, cast, runtime_checkable

from llmkit.clock import Clock, system_clock
from llmkit.errors import LLMError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import AttemptOutcome, Column, Event, registered_columns
from llmkit.types import ChatRequest, ChatResponse, Usage

if TYPE_CHECKING:
    import pandas as pd

    from llmkit.breaker import BreakerEvent, CircuitBreaker

__all__ = [
    "AttemptRecord",
    "BreakerTelemetry",
    "CallRecord",
    "EventRecord",
    "EventSink",
    "JSONLSink",
    "LoggingSink",
    "MemorySink",
    "MultiSink",
    "Record",
    "TelemetryLayer",
    "TelemetrySink",
    "fingerprint",
    "watch_breaker",
]

_log = logging.getLogger("llmkit.telemetry")

_KEYS: tuple[tuple[str, str], ...] = (
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
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Fields shared by attempt and call records (see the module docstring for the keys)."""

    kind: ClassVar[Literal["attempt", "call"]]
    call_id: str
    timestamp: float
    provider: str
    request_model: str
    operation: str = "chat"
    response_model: str | None = None
    stream: bool = False
    attempt: int = 1
    latency: float | None = None
    ttft: float | None = None
    status: int | None = None
    error_type: str | None = None
    retry_after: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reasons: tuple[str, ...] = ()
    response_id: str | None = None
    request_id: str | None = None
    server_address: str | None = None
    cost: float | None = None
    cache_hit: bool | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    fingerprint: str | None = None
    retry_delay: float | None = None
    retry_decision: str | None = None
    budget_denied: bool = False
    read_timeout: float | None = None
    deadline_remaining: float | None = None
    degraded: str | None = None
    cache_status: str | None = None
    target: str | None = None
    fallback_path: str | None = None
    fallback_skipped: int | None = None
    hedged: bool | None = None
    hedge_won: bool | None = None
    throttle_wait: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Columns registered by other layers (``llmkit.outcomes.register_columns``), by key."""

    def as_dict(self) -> dict[str, Any]:
        out = dict(zip(_OUT_KEYS, _read_all(self), strict=True))
        out["llmkit.tags"] = dict(self.tags)
        out["gen_ai.response.finish_reasons"] = list(self.finish_reasons)
        if self.extra:
            out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRecord(Record):
    """One HTTP attempt (or one answer from a layer that short-circuits)."""

    kind: ClassVar[Literal["attempt", "call"]] = "attempt"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord(Record):
    """One logical call: all its attempts, sleeps and layers together."""

    kind: ClassVar[Literal["attempt", "call"]] = "call"


_read_all = attrgetter(*(attr for attr, _ in _KEYS))
_OUT_KEYS = tuple(key for _, key in _KEYS)


def usage_fields(usage: Usage | None) -> dict[str, int | None]:
    if usage is None:
        return {}
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }


def response_fields(response: ChatResponse | None) -> dict[str, Any]:
    if response is None:
        return {}
    out: dict[str, Any] = usage_fields(response.usage)
    out["response_model"] = response.model
    out["response_id"] = response.id
    out["request_id"] = response.request_id
    out["finish_reasons"] = (response.finish_reason,) if response.finish_reason else ()
    return out


def error_fields(error: BaseException | None) -> dict[str, Any]:
    if error is None:
        return {}
    if isinstance(error, LLMError):
        return {
            "error_type": error.kind.value,
            "status": error.status,
            "retry_after": error.retry_after,
            "request_id": error.request_id,
        }
    return {"error_type": type(error).__name__}


def fingerprint(request: ChatRequest) -> str:
    """Stable short hash of what was asked (never the text itself).

    Cheap on the hot path: strings are fed to blake2b with separators; JSON is built only for
    tools and extra parameters, when there are any.
    """
    h = hashlib.blake2b(digest_size=10)
    put = h.update
    put(request.model.encode())
    put(f"\x1e{request.max_tokens}\x1f{request.temperature}".encode())
    for m in request.messages:
        put(f"\x1e{m.role}\x1f{m.name}\x1f{m.tool_call_id}\x1f".encode())
        put(m.content.encode("utf-8", "surrogatepass"))
        for c in m.tool_calls:
            put(f"\x1d{c.id}\x1f{c.name}\x1f".encode())
            put(c.arguments.encode("utf-8", "surrogatepass"))
    if request.tools or request.extra:
        tools = [[t.name, t.description, t.parameters] for t in request.tools]
        blob = json.dumps(
            [tools, request.extra], sort_keys=True, separators=(",", ":"), default=str
        )
        put(b"\x1c" + blob.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    """Something that happened outside any one call (a circuit breaker changing state)."""

    kind: ClassVar[Literal["event"]] = "event"
    timestamp: float
    event: str
    target: str
    reason: str
    previous: str | None = None
    failure_rate: float | None = None
    threshold: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    """A layer's own values (``ctx.event(..., **attributes)``), keys as given."""

    def as_dict(self) -> dict[str, Any]:
        out = {
            "llmkit.record": "event",
            "timestamp": self.timestamp,
            "llmkit.event": self.event,
            "llmkit.target": self.target,
            "llmkit.event.reason": self.reason,
            "llmkit.breaker.previous": self.previous,
            "llmkit.breaker.failure_rate": self.failure_rate,
            "llmkit.breaker.threshold": self.threshold,
        }
        if self.attributes:
            out.update(self.attributes)
        return out


_BREAKER_REASONS: dict[tuple[str, str], str] = {
    ("closed", "open"): "failure_rate",
    ("half_open", "open"): "probe_failed",
    ("open", "half_open"): "cooldown_elapsed",
    ("half_open", "closed"): "probes_succeeded",
}


class BreakerTelemetry:
    """A ``BreakerListener`` that sends each state change to ``sink`` as an :class:`EventRecord`.

    ``clock`` must be the breaker's (events carry ``clock.now()``; the record gets wall time).
    A failing sink is logged, never raised into the breaker (and so into the call).
    """

    __slots__ = ("clock", "sink", "threshold")

    def __init__(
        self, sink: EventSink, clock: Clock = system_clock, *, threshold: float | None = None
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.threshold = threshold

    def on_breaker_event(self, event: BreakerEvent) -> None:
        old, new = str(event.old), str(event.new)
        record = EventRecord(
            timestamp=self.clock.wall() - (self.clock.now() - event.at),
            event=f"breaker.{new}",
            target=event.target,
            reason=_BREAKER_REASONS.get((old, new), f"{old}->{new}"),
            previous=old,
            failure_rate=event.failure_rate,
            threshold=self.threshold if new == "open" and old == "closed" else None,
        )
        try:
            self.sink.emit(record)
        except Exception:
            _log.exception("telemetry sink %r failed on a breaker event", self.sink)

    def __repr__(self) -> str:
        return f"BreakerTelemetry({self.sink!r})"


def watch_breaker(breaker: CircuitBreaker, sink: EventSink) -> BreakerTelemetry:
    """Send ``breaker``'s state changes to ``sink``: ``watch_breaker(breaker, collector)``."""
    listener = BreakerTelemetry(sink, breaker.clock, threshold=breaker.config.failure_rate)
    breaker.listeners.append(listener)
    return listener


# --------------------------------------------------------------------------- sinks


@runtime_checkable
class TelemetrySink(Protocol):
    def emit(self, record: Record) -> None: ...


@runtime_checkable
class EventSink(Protocol):
    """A sink that also takes event records (every built-in sink does)."""

    def emit(self, record: EventRecord) -> None: ...


class MemorySink:
    """Keeps every record in order; for tests and notebooks. Events are kept apart."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.event_records: list[EventRecord] = []

    def emit(self, record: Record | EventRecord) -> None:
        # No lock: list.append and list.clear are atomic, and a lock per record costs.
        if isinstance(record, EventRecord):
            self.event_records.append(record)
        else:
            self.records.append(record)

    def calls(self) -> list[CallRecord]:
        return [r for r in self.records if isinstance(r, CallRecord)]

    def attempts(self) -> list[AttemptRecord]:
        return [r for r in self.records if isinstance(r, AttemptRecord)]

    def events(self) -> list[EventRecord]:
        return list(self.event_records)

    def clear(self) -> None:
        self.records.clear()
        self.event_records.clear()

    def to_dataframe(self) -> pd.DataFrame:
        """One row per record, OTel column names; tags become ``llmkit.tags.<name>`` columns."""
        import pandas as pd  # noqa: PLC0415 - `import llmkit` must not import pandas

        return pd.DataFrame([_flat(r.as_dict()) for r in self.records])

    def events_dataframe(self) -> pd.DataFrame:
        """One row per event (breaker state changes), in order."""
        import pandas as pd  # noqa: PLC0415 - `import llmkit` must not import pandas

        cols = list(EventRecord(timestamp=0, event="", target="", reason="").as_dict())
        return pd.DataFrame([e.as_dict() for e in self.event_records], columns=cols)

    def __repr__(self) -> str:
        n = len(self.event_records)
        return f"MemorySink({len(self.records)} records{f', {n} events' if n else ''})"


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    tags = row.pop("llmkit.tags", None) or {}
    for k, v in tags.items():
        row[f"llmkit.tags.{k}"] = v
    return row


class JSONLSink:
    """Appends one JSON object per record to ``path`` (opened lazily, flushed per line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = None
        self._lock = threading.Lock()

    def emit(self, record: Record | EventRecord) -> None:
        line = json.dumps(record.as_dict(), separators=(",", ":"), default=str)
        with self._lock:
            if self._fh is None:
                self._fh = self.path.open("a", encoding="utf-8")
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __repr__(self) -> str:
        return f"JSONLSink({str(self.path)!r})"


class LoggingSink:
    """Logs each record as one JSON message; the dict is also in ``extra={"llmkit": ...}``."""

    def __init__(
        self, logger: str | logging.Logger = "llmkit.telemetry", level: int = logging.INFO
    ):
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level

    def emit(self, record: Record | EventRecord) -> None:
        if self.logger.isEnabledFor(self.level):
            data = record.as_dict()
            self.logger.log(self.level, "%s", json.dumps(data, default=str), extra={"llmkit": data})

    def __repr__(self) -> str:
        return f"LoggingSink({self.logger.name!r})"


class MultiSink:
    """Sends every record to several sinks (events too: each sink must take them)."""

    def __init__(self, sinks: Iterable[TelemetrySink]) -> None:
        self.sinks: tuple[TelemetrySink, ...] = tuple(sinks)

    def emit(self, record: Record | EventRecord) -> None:
        if isinstance(record, EventRecord):
            for sink in self.sinks:
                try:  # one sink that only knows call records must not starve the others
                    cast("EventSink", sink).emit(record)
                except Exception:
                    _log.exception("telemetry sink %r failed on an event", sink)
            return
        for sink in self.sinks:
            sink.emit(record)

    def __repr__(self) -> str:
        return f"MultiSink({list(self.sinks)!r})"


def as_sink(value: TelemetrySink | Sequence[TelemetrySink] | None) -> TelemetrySink | None:
    if value is None:
        return None
    if isinstance(value, Sequence):
        return MultiSink(value) if len(value) != 1 else value[0]
    if not isinstance(value, TelemetrySink):
        raise TypeError(f"telemetry must be a sink with .emit(record), got {value!r}")
    return value


# --------------------------------------------------------------------------- columns of layers


class _Plan:
    """The registered columns (``llmkit.outcomes``), sorted once per registry version."""

    __slots__ = ("attempt", "call", "version")

    def __init__(self, version: int, columns: Sequence[tuple[type[Any], Column[Any]]]) -> None:
        self.version = version
        for _, col in columns:
            known = _FIELD_KEYS.get(col.name)
            if known is not None and known != col.key:
                raise ValueError(f"column {col.name!r} is {known!r}, not {col.key!r}")
            if known is None and col.key in _CORE_KEYS:
                raise ValueError(f"column key {col.key!r} belongs to the record field")
        self.attempt = tuple((t, c, c.name in _FIELD_KEYS) for t, c in columns if c.attempt)
        self.call = tuple((t, c, c.name in _FIELD_KEYS) for t, c in columns)


_FIELD_KEYS = dict(_KEYS)
_CORE_KEYS = frozenset(_FIELD_KEYS.values())
_plan_cache: list[_Plan] = []


def _plan() -> _Plan:
    version, columns = registered_columns()
    if not _plan_cache or _plan_cache[0].version != version:
        _plan_cache[:] = [_Plan(version, columns)]
    return _plan_cache[0]


def attempt_record(
    request: ChatRequest, ctx: CallContext, att: AttemptOutcome, fp: str | None, plan: _Plan
) -> AttemptRecord:
    """The record of one attempt, from the transport's outcome and the layers' columns."""
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    outcomes = ctx.outcomes
    for kind, col, builtin in plan.attempt:
        outcome = outcomes.get(kind)
        if outcome is None:
            continue
        value = col.attempt(outcome, att.number)  # type: ignore[misc]
        if not builtin:
            extra[col.key] = value
        elif value is not None:
            fields[col.name] = value
    fields.update(response_fields(att.response))
    fields.update(error_fields(att.error))
    if fields.get("status") is None:
        fields["status"] = att.status
    if att.cancelled:
        fields["error_type"] = "cancelled"
    return AttemptRecord(
        call_id=ctx.call_id,
        timestamp=att.wall,
        provider=att.provider,
        request_model=att.model,
        stream=att.stream,
        attempt=att.number,
        latency=att.latency,
        ttft=att.ttft,
        server_address=att.server_address,
        tags=request.tags,
        fingerprint=fp,
        read_timeout=att.read_timeout,
        deadline_remaining=att.deadline_remaining,
        extra=extra,
        **fields,
    )


# --------------------------------------------------------------------------- the layer


class TelemetryLayer:
    """Outermost layer: emits the call's records when it ends.

    When the call ends -- for a delivered stream, when the stream ends -- it turns each
    attempt the transport reported (``ctx.attempts``) into an :class:`AttemptRecord`, emits
    the event rows layers asked for (``ctx.event``), then the :class:`CallRecord`. Columns of
    other layers come from their typed outcomes through ``llmkit.outcomes.register_columns``.
    """

    __slots__ = ("sink",)

    def __init__(self, sink: TelemetrySink) -> None:
        self.sink = sink

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        start = ctx.clock.now(), ctx.clock.wall()
        try:
            response = next(request, ctx)
        except BaseException as exc:
            self.finish(request, ctx, start, None, exc)
            raise
        self._done(request, ctx, start, response)
        return response

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        start = ctx.clock.now(), ctx.clock.wall()
        try:
            response = await next(request, ctx)
        except BaseException as exc:
            self.finish(request, ctx, start, None, exc)
            raise
        self._done(request, ctx, start, response)
        return response

    def _done(
        self, request: ChatRequest, ctx: CallContext, start: tuple[float, float], resp: ChatResponse
    ) -> None:
        if ctx.stream is not None:
            ctx.at_stream_end(lambda r, e: self.finish(request, ctx, start, r, e))
        else:
            self.finish(request, ctx, start, resp, None)

    def finish(
        self,
        request: ChatRequest,
        ctx: CallContext,
        start: tuple[float, float],
        response: ChatResponse | None,
        error: BaseException | None,
    ) -> None:
        """Emit the attempt records, the events, then the call record (``start``: now, wall)."""
        try:
            plan = _plan()
            fp = fingerprint(request)
            attempts = [attempt_record(request, ctx, a, fp, plan) for a in ctx.attempts]
            call = call_record(
                request, ctx, start, response, error, attempts=attempts, fp=fp, plan=plan
            )
            for rec in attempts:
                self.sink.emit(rec)
            for ev in ctx.events or ():
                self.sink.emit(_event_record(ev, ctx.clock))  # type: ignore[arg-type]
            self.sink.emit(call)
        except Exception:  # a broken sink must not break the product
            _log.exception("telemetry sink %r failed", self.sink)

    def __repr__(self) -> str:
        return f"TelemetryLayer({self.sink!r})"


def _event_record(ev: Event, clock: Clock) -> EventRecord:
    return EventRecord(
        timestamp=clock.wall() - (clock.now() - ev.at),
        event=ev.event,
        target=ev.target,
        reason=ev.reason,
        attributes=ev.attributes,
    )


def call_record(
    request: ChatRequest,
    ctx: CallContext,
    start: tuple[float, float],
    response: ChatResponse | None,
    error: BaseException | None,
    *,
    attempts: Sequence[AttemptRecord] = (),
    fp: str | None = None,
    plan: _Plan | None = None,
) -> CallRecord:
    """The record of a whole call; ``start`` is ``(clock.now(), clock.wall())`` at its start."""
    t0, wall = start
    last = attempts[-1] if attempts else None
    status = server = None
    if last is not None:
        status, server = last.status, last.server_address
    usage = response_model = response_id = request_id = ttft = degraded = cache_hit = None
    finish: tuple[str, ...] = ()
    if response is not None:
        usage, response_model, response_id = response.usage, response.model, response.id
        ttft, request_id, degraded = response.ttft, response.request_id, response.degraded
        if response.finish_reason:
            finish = (response.finish_reason,)
        if response.cached:
            cache_hit = True
    error_type = retry_after = None
    if error is not None:
        if isinstance(error, LLMError):
            error_type, status = error.kind.value, error.status
            retry_after, request_id = error.retry_after, error.request_id
        else:
            error_type = type(error).__name__
    elif response is None:
        error_type = "cancelled"  # a delivered stream closed before its end
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    outcomes = ctx.outcomes
    for kind, col, builtin in (plan or _plan()).call:
        outcome = outcomes.get(kind)
        if outcome is None:
            value = col.absent
            if value is None:
                continue
        elif col.call is not None:
            value = col.call(outcome)
        elif last is None:
            value = None
        else:
            value = getattr(last, col.name) if builtin else last.extra.get(col.key)
        if not builtin:
            extra[col.key] = value
        elif value is not None:
            fields[col.name] = value
    return CallRecord(
        call_id=ctx.call_id,
        timestamp=wall,
        provider=fields.pop("provider", ctx.provider),
        request_model=request.model,
        response_model=response_model,
        stream=request.stream,
        attempt=ctx.attempt,
        latency=ctx.clock.now() - t0,
        ttft=ttft,
        status=status,
        error_type=error_type,
        retry_after=retry_after,
        input_tokens=usage.input_tokens if usage is not None else None,
        output_tokens=usage.output_tokens if usage is not None else None,
        cache_read_tokens=usage.cache_read_tokens if usage is not None else None,
        cache_write_tokens=usage.cache_write_tokens if usage is not None else None,
        reasoning_tokens=usage.reasoning_tokens if usage is not None else None,
        finish_reasons=finish,
        response_id=response_id,
        request_id=request_id,
        server_address=server,
        cache_hit=fields.pop("cache_hit", cache_hit),
        tags=request.tags,
        fingerprint=fp,
        degraded=fields.pop("degraded", degraded),
        extra=extra,
        **fields,
    )
