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
    cache_hit             llmkit.cache_hit                               None: no cache layer
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

The fingerprint is a blake2b hash of the normalized request (model, messages, parameters,
tools; not tags or the stream flag), so identical requests can be grouped without storing
what they said.

Sinks implement :class:`TelemetrySink` (one ``emit`` method). :class:`MemorySink` keeps
records for notebooks and tests (``to_dataframe()`` imports pandas only when called),
:class:`JSONLSink` appends one JSON object per line, :class:`LoggingSink` logs through
stdlib ``logging``. A failing sink never fails the call (the error is logged).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from llmkit.errors import LLMError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.types import ChatRequest, ChatResponse, Usage

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AttemptRecord",
    "CallRecord",
    "JSONLSink",
    "LoggingSink",
    "MemorySink",
    "MultiSink",
    "Record",
    "TelemetryLayer",
    "TelemetrySink",
    "fingerprint",
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

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr, key in _KEYS:
            value = getattr(self, attr)
            if attr == "tags":
                value = dict(value)
            elif attr == "finish_reasons":
                value = list(value)
            out[key] = value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRecord(Record):
    """One HTTP attempt (or one answer from a layer that short-circuits)."""

    kind: ClassVar[Literal["attempt", "call"]] = "attempt"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord(Record):
    """One logical call: all its attempts, sleeps and layers together."""

    kind: ClassVar[Literal["attempt", "call"]] = "call"


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


# --------------------------------------------------------------------------- sinks


@runtime_checkable
class TelemetrySink(Protocol):
    def emit(self, record: Record) -> None: ...


class MemorySink:
    """Keeps every record in order; for tests and notebooks."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._lock = threading.Lock()

    def emit(self, record: Record) -> None:
        with self._lock:
            self.records.append(record)

    def calls(self) -> list[CallRecord]:
        return [r for r in self.records if isinstance(r, CallRecord)]

    def attempts(self) -> list[AttemptRecord]:
        return [r for r in self.records if isinstance(r, AttemptRecord)]

    def clear(self) -> None:
        with self._lock:
            self.records.clear()

    def to_dataframe(self) -> pd.DataFrame:
        """One row per record, OTel column names; tags become ``llmkit.tags.<name>`` columns."""
        import pandas as pd  # noqa: PLC0415 - `import llmkit` must not import pandas

        return pd.DataFrame([_flat(r.as_dict()) for r in self.records])

    def __repr__(self) -> str:
        return f"MemorySink({len(self.records)} records)"


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

    def emit(self, record: Record) -> None:
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

    def emit(self, record: Record) -> None:
        if self.logger.isEnabledFor(self.level):
            data = record.as_dict()
            self.logger.log(self.level, "%s", json.dumps(data, default=str), extra={"llmkit": data})

    def __repr__(self) -> str:
        return f"LoggingSink({self.logger.name!r})"


class MultiSink:
    """Sends every record to several sinks."""

    def __init__(self, sinks: Iterable[TelemetrySink]) -> None:
        self.sinks: tuple[TelemetrySink, ...] = tuple(sinks)

    def emit(self, record: Record) -> None:
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


# --------------------------------------------------------------------------- the layer


class TelemetryLayer:
    """Outermost layer: gives the call an attempt log and emits its records when it ends.

    Attempt records are buffered in ``ctx.attempt_log`` (the retry layer annotates each with
    its decision) and emitted, then the call record, when the call ends -- for a delivered
    stream, when the stream ends.
    """

    __slots__ = ("sink",)

    def __init__(self, sink: TelemetrySink) -> None:
        self.sink = sink

    def _start(self, request: ChatRequest, ctx: CallContext) -> tuple[float, float]:
        ctx.attempt_log = []
        ctx.notes["fingerprint"] = fingerprint(request)
        return ctx.clock.now(), ctx.clock.wall()

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        start = self._start(request, ctx)
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
        start = self._start(request, ctx)
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
        """Emit the buffered attempt records, then the call record (``start``: now, wall)."""
        try:
            for rec in ctx.attempt_log or ():
                self.sink.emit(rec)
            self.sink.emit(call_record(request, ctx, start, response, error))
        except Exception:  # a broken sink must not break the product
            _log.exception("telemetry sink %r failed", self.sink)

    def __repr__(self) -> str:
        return f"TelemetryLayer({self.sink!r})"


def call_record(
    request: ChatRequest,
    ctx: CallContext,
    start: tuple[float, float],
    response: ChatResponse | None,
    error: BaseException | None,
) -> CallRecord:
    """The record of a whole call; ``start`` is ``(clock.now(), clock.wall())`` at its start."""
    t0, wall = start
    log: list[AttemptRecord] = ctx.attempt_log or []
    last = log[-1] if log else None
    notes = ctx.notes
    fields: dict[str, Any] = {
        "status": last.status if last else None,
        "server_address": last.server_address if last else None,
        "ttft": response.ttft if response is not None else None,
    }
    fields.update(response_fields(response))
    fields.update(error_fields(error))
    if response is None and error is None:
        fields["error_type"] = "cancelled"  # a delivered stream closed before its end
    cache_hit = notes.get("cache_hit")
    if cache_hit is None and response is not None and response.cached:
        cache_hit = True
    return CallRecord(
        call_id=ctx.call_id,
        timestamp=wall,
        provider=notes.get("served_by") or ctx.provider,
        request_model=request.model,
        stream=request.stream,
        attempt=ctx.attempt,
        latency=ctx.clock.now() - t0,
        tags=request.tags,
        fingerprint=notes.get("fingerprint"),
        retry_delay=notes.get("retry_delay", 0.0),
        retry_decision=last.retry_decision if last else None,
        budget_denied=bool(notes.get("budget_denied", False)),
        cost=notes.get("cost"),
        cache_hit=cache_hit,
        degraded=(response.degraded if response is not None else None) or notes.get("degraded"),
        **fields,
    )
