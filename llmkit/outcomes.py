"""Typed outcomes: what each layer reports about a call, and the telemetry columns made of them.

A layer never reads or writes another layer's private state. Instead it owns a small frozen
dataclass -- its *outcome* -- and attaches it to the call context with
``ctx.report(outcome)`` (one per type and call; a later report of the same type replaces the
earlier one, so an outcome that accumulates is rebuilt with ``dataclasses.replace``). Anyone
may read it back by type: ``ctx.outcome(ThrottleOutcome)``.

Telemetry turns outcomes into columns through one registration point::

    register_columns(ThrottleOutcome,
        Column("throttle_wait", "llmkit.throttle.wait", call=lambda o: o.waited, absent=0.0))

A :class:`Column` names its record attribute (``name``), its ``as_dict()`` / OpenTelemetry-style
key (``key``) and how to read its value from the outcome: ``call(outcome)`` for the call record,
``attempt(outcome, n)`` for the record of attempt ``n``. A column with an ``attempt`` reader and
no ``call`` reader gives the call record the value of the call's last attempt. ``absent`` is the
call record's value when the layer reported nothing (attempt records then get None, or the
record field's default). Values must be JSON-friendly (str, int, float, bool, None, lists).

The transport reports each attempt as a neutral :class:`AttemptOutcome` (appended to
``ctx.attempts``): what was sent, what came back, how long it took, the response headers.
Telemetry builds attempt records from those; the throttle learns rate limits from their headers.

A layer that wants an event row (something worth a line of its own, such as a quota running
out) calls ``ctx.event("quota.exhausted", target="acct-1", reason="tokens_per_day", used=12)``;
telemetry emits it as an ``EventRecord`` before the call record.

This module imports nothing from the rest of llmkit but the value types, so every layer can
import it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from llmkit.types import ChatResponse

__all__ = [
    "AttemptOutcome",
    "Column",
    "Event",
    "register_columns",
    "registered_columns",
    "unregister_columns",
]

OutcomeT = TypeVar("OutcomeT")


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptOutcome:
    """One attempt as the transport saw it (no telemetry format, no layer's opinion)."""

    number: int
    """1-based attempt number within the call."""
    provider: str
    model: str
    stream: bool
    wall: float
    """Wall-clock time when the attempt started (seconds since the epoch)."""
    latency: float
    ttft: float | None = None
    status: int | None = None
    """HTTP status, None when no response arrived."""
    response: ChatResponse | None = None
    error: BaseException | None = None
    """The failure (an ``LLMError`` once mapped; a cancellation or a bug otherwise)."""
    cancelled: bool = False
    """Ended from outside (a hedge that lost, a stream closed early): neither answer nor error."""
    headers: Mapping[str, str] | None = None
    """Response headers (rate-limit headers for the throttle), None when no response arrived."""
    server_address: str | None = None
    read_timeout: float | None = None
    deadline_remaining: float | None = None
    """Seconds left before the call's deadline when the attempt started."""
    partial: ChatResponse | None = None
    """A stream that ended without its answer (cut, failed, closed early): the usage it had
    used, priced (``cost``), so it is charged and counted; no text. None otherwise."""
    usage_estimated: bool = False
    """``partial``'s counts include llmkit's own where the provider had not reported one (the
    input by the request's estimate, the output by the tokens that arrived: upper bounds)."""

    @property
    def billed(self) -> ChatResponse | None:
        """What the provider charges this attempt for: its answer, or a stream's partial."""
        return self.response if self.response is not None else self.partial


@dataclass(frozen=True, slots=True)
class Event:
    """Something a layer wants on a row of its own (telemetry: an ``EventRecord``)."""

    event: str
    """Dotted name, ``<layer>.<what>``: ``quota.exhausted``, ``budget.denied``."""
    target: str
    reason: str
    at: float
    """``ctx.clock.now()`` when it happened."""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    """Extra JSON-friendly values; keys become ``as_dict()`` keys as given."""


@dataclass(frozen=True, slots=True)
class Column(Generic[OutcomeT]):
    """One telemetry column read from an outcome of type ``O`` (see the module docstring)."""

    name: str
    """Record attribute and DataFrame-friendly name: ``budget_spent``."""
    key: str
    """``as_dict()`` key, OpenTelemetry style: ``llmkit.budget.spent``."""
    call: Callable[[OutcomeT], Any] | None = None
    attempt: Callable[[OutcomeT, int], Any] | None = None
    absent: Any = None
    doc: str = ""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"column name must be a lowercase identifier, got {self.name!r}")
        if not _KEY.fullmatch(self.key):
            raise ValueError(f"column key must be dotted lowercase words, got {self.key!r}")
        if self.call is None and self.attempt is None:
            raise ValueError(f"column {self.name!r} needs a call or an attempt reader")


_NAME = re.compile(r"[a-z][a-z0-9_]*")
_KEY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")

_lock = threading.Lock()
_registry: dict[type[Any], tuple[Column[Any], ...]] = {}
_version = [0]


def register_columns(outcome: type[OutcomeT], *columns: Column[OutcomeT]) -> None:
    """Make telemetry read ``columns`` from ``outcome`` (replaces an earlier registration of
    the same type). Names and keys must be unique across all registered outcome types."""
    with _lock:
        taken = {
            part: t
            for t, cols in _registry.items()
            if t is not outcome
            for c in cols
            for part in (c.name, c.key)
        }
        mine: set[str] = set()
        for c in columns:
            for part in (c.name, c.key):
                if part in taken or part in mine:
                    owner = taken.get(part, outcome)
                    raise ValueError(f"column {part!r} is already registered for {owner.__name__}")
                mine.add(part)
        _registry[outcome] = tuple(columns)
        _version[0] += 1


def unregister_columns(outcome: type[Any]) -> None:
    """Forget ``outcome``'s columns (tests that register a layer of their own)."""
    with _lock:
        if _registry.pop(outcome, None) is not None:
            _version[0] += 1


def registered_columns() -> tuple[int, tuple[tuple[type[Any], Column[Any]], ...]]:
    """``(version, ((outcome type, column), ...))`` in registration order; the version changes
    whenever the registry does (telemetry caches its plan by it)."""
    with _lock:
        return _version[0], tuple((t, c) for t, cols in _registry.items() for c in cols)
