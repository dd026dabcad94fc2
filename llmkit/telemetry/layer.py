"""The telemetry layer: builds the records of each call from typed outcomes and emits them.

Attempt records come from the transport's neutral ``AttemptOutcome`` values; the columns of
other layers from their outcomes, through ``llmkit.outcomes.register_columns``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from llmkit.clock import Clock
from llmkit.errors import LLMError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import AttemptOutcome, Column, Event, registered_columns
from llmkit.telemetry.records import (
    RECORD_KEYS,
    AttemptRecord,
    CallRecord,
    EventRecord,
    error_fields,
    fingerprint,
    response_fields,
)
from llmkit.telemetry.sinks import TelemetrySink
from llmkit.types import ChatRequest, ChatResponse, Usage

__all__ = ["TelemetryLayer", "attempt_record", "call_record"]

_log = logging.getLogger("llmkit.telemetry")


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


_FIELD_KEYS = dict(RECORD_KEYS)
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
    billed = att.billed
    fields.update(response_fields(billed))
    if billed is not None and billed.usage.total_tokens is not None:
        fields["usage_source"] = _source(att)
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


def _source(att: AttemptOutcome) -> str:
    if att.response is not None:
        return "answer"
    return "estimated" if att.usage_estimated else "partial"


def _billed(attempts: Sequence[AttemptOutcome]) -> tuple[Usage | None, float | None, str | None]:
    """``(usage, cost, usage_source)`` over every attempt the provider charges for: the cost
    sums them all (a retried or hedged call paid for each; None if any is unpriced), the usage
    is the partials' sum (the call's answer, when there is one, replaces it)."""
    billed = [(a, b) for a in attempts if (b := a.billed) is not None]
    if not billed:
        return None, None, None
    costs = [b.cost for _, b in billed]
    cost = None if any(c is None for c in costs) else float(sum(c for c in costs if c))
    parts = [(a, b.usage) for a, b in billed if a.response is None]
    if not parts:
        return None, cost, None
    usage = Usage(
        input_tokens=sum(u.input_tokens or 0 for _, u in parts),
        output_tokens=sum(u.output_tokens or 0 for _, u in parts),
    )
    return usage, cost, "estimated" if any(a.usage_estimated for a, _ in parts) else "partial"


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
    response_model = response_id = request_id = ttft = degraded = cache_hit = None
    finish: tuple[str, ...] = ()
    usage, cost, source = _billed(ctx.attempts)
    if response is not None:
        if not ctx.attempts:  # answered by a layer (cache, a static fallback): its own cost
            cost = None if response.cost is None else float(response.cost)
        if response.usage.total_tokens is not None:
            source = "answer"
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
    cache_hit = fields.pop("cache_hit", cache_hit)
    if cache_hit:
        cost = 0.0  # answered without asking the provider
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
        cost=fields.pop("cost", cost),
        usage_source=source,
        cache_hit=cache_hit,
        tags=request.tags,
        fingerprint=fp,
        degraded=fields.pop("degraded", degraded),
        extra=extra,
        **fields,
    )
