"""Where records go: memory (``to_dataframe()``), JSONL, ``logging``, several at once; and the
listener that turns circuit breaker state changes into event rows."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from llmkit.clock import Clock, system_clock
from llmkit.telemetry.records import AttemptRecord, CallRecord, EventRecord, Record

if TYPE_CHECKING:
    import pandas as pd

    from llmkit.breaker import BreakerEvent, CircuitBreaker

__all__ = [
    "BreakerTelemetry",
    "EventSink",
    "JSONLSink",
    "LoggingSink",
    "MemorySink",
    "MultiSink",
    "TelemetrySink",
    "as_sink",
    "watch_breaker",
]

_log = logging.getLogger("llmkit.telemetry")

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


# --------------------------------------------------------------------------- breakers


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
