"""Circuit breaking per target: stop sending to a provider that is failing, probe it later.

Three states, on the injected clock::

    closed ──(failure rate ≥ threshold over the window, with ≥ min_requests)──▶ open
    open ──(cooldown elapsed)──▶ half_open
    half_open ──(probe_successes probes succeed)──▶ closed
    half_open ──(a probe fails)──▶ open (cooldown starts again)

While open, :meth:`CircuitBreaker.acquire` raises :class:`CircuitOpenError` at once: no attempt
is spent and no request is sent. The fallback layer treats that as "skip this target". While
half-open only ``half_open_probes`` calls are let through at a time.

Only failures that say something about the provider's health count (``overloaded``,
``server_error``, ``timeout``, ``connection``, ``invalid_response`` by default). A
``bad_request``, ``auth`` or ``context_length`` error means the provider answered properly, so
it counts as a success for health; a 429 is about *our* usage, not its health, so by default it
is neutral (configurable). A call's own deadline running out is neutral too.

:class:`CircuitBreaker` is the policy (state machine, no I/O). :class:`BreakerLayer` drives it
around the next handler.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from llmkit.clock import Clock, system_clock
from llmkit.errors import CircuitOpenError, DeadlineExceededError, ErrorKind, LLMError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.types import ChatRequest, ChatResponse

__all__ = [
    "HEALTH_KINDS",
    "BreakerConfig",
    "BreakerEvent",
    "BreakerLayer",
    "BreakerListener",
    "BreakerOutcome",
    "BreakerState",
    "CircuitBreaker",
    "Outcome",
    "Permit",
    "classify_outcome",
]

HEALTH_KINDS: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.OVERLOADED,
        ErrorKind.SERVER_ERROR,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.INVALID_RESPONSE,
    }
)
"""Error kinds that indicate the provider is unhealthy (they count as breaker failures)."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"
    """Says nothing about health (a 429, the caller's deadline, a cancelled call)."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failure_rate: float = 0.5
    """Open when failures / outcomes in the window reach this (0 < rate ≤ 1)."""
    window: int = 20
    """Count-based window: the last ``window`` outcomes (used when ``window_seconds`` is None)."""
    window_seconds: float | None = None
    """Time-based window: outcomes from the last ``window_seconds`` on the clock."""
    min_requests: int = 10
    """No decision on fewer outcomes than this (one early failure must not open the circuit)."""
    cooldown: float = 30.0
    """Seconds open before half-open probes are allowed."""
    half_open_probes: int = 1
    """How many probe calls may be in flight at once while half-open."""
    probe_successes: int = 1
    """Successful probes needed to close again."""
    failure_kinds: frozenset[ErrorKind] = HEALTH_KINDS
    neutral_kinds: frozenset[ErrorKind] = frozenset({ErrorKind.RATE_LIMIT})

    def __post_init__(self) -> None:
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.window < 1:
            raise ValueError("window must be >= 1")
        if self.window_seconds is not None and self.window_seconds <= 0:
            raise ValueError("window_seconds must be > 0")
        if self.min_requests < 1:
            raise ValueError("min_requests must be >= 1")
        if self.cooldown < 0:
            raise ValueError("cooldown must be >= 0")
        if self.half_open_probes < 1 or self.probe_successes < 1:
            raise ValueError("half_open_probes and probe_successes must be >= 1")


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """A state change, for telemetry."""

    target: str
    old: BreakerState
    new: BreakerState
    at: float
    """``clock.now()`` of the change."""
    failure_rate: float | None = None
    """The window's failure rate when the circuit opened from closed."""


class BreakerListener(Protocol):
    def on_breaker_event(self, event: BreakerEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to send one call; hand it back with the outcome."""

    generation: int
    probe: bool


def classify_outcome(
    error: BaseException | None, config: BreakerConfig = BreakerConfig()
) -> Outcome:
    """What a call's result says about provider health (pure)."""
    if error is None:
        return Outcome.SUCCESS
    if isinstance(error, CircuitOpenError | DeadlineExceededError):
        return Outcome.NEUTRAL
    if not isinstance(error, LLMError):
        return Outcome.NEUTRAL  # cancellation or a bug of ours, not the provider's health
    if error.kind in config.neutral_kinds:
        return Outcome.NEUTRAL
    if error.kind in config.failure_kinds:
        return Outcome.FAILURE
    return Outcome.SUCCESS  # the provider answered, just not the way we hoped


class CircuitBreaker:
    """The breaker for one target. Thread-safe; time comes from ``clock``."""

    def __init__(
        self,
        target: str,
        config: BreakerConfig = BreakerConfig(),
        *,
        clock: Clock = system_clock,
        listeners: Iterable[BreakerListener] = (),
    ) -> None:
        self.target = target
        self.config = config
        self.clock = clock
        self.listeners: list[BreakerListener] = list(listeners)
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._outcomes: deque[tuple[float, bool]] = deque()  # (time, failed)
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0

    # -- reading

    @property
    def state(self) -> BreakerState:
        with self._lock:
            events = self._maybe_half_open()
            state = self._state
        self._emit(events)
        return state

    def failure_rate(self) -> float | None:
        """Failure rate over the current window, or None when it holds no outcomes."""
        with self._lock:
            self._trim()
            return self._rate()

    # -- the protocol a driver follows: acquire, then exactly one of record / release

    def acquire(self) -> Permit:
        """Leave to send, or :class:`CircuitOpenError` (nothing is counted for a refusal)."""
        with self._lock:
            events = self._maybe_half_open()
            state = self._state
            if state is BreakerState.OPEN:
                wait = self._opened_at + self.config.cooldown - self.clock.now()
                refused: CircuitOpenError | None = CircuitOpenError(
                    self.target, retry_after=max(wait, 0.0)
                )
            elif (
                state is BreakerState.HALF_OPEN
                and self._probes_in_flight >= self.config.half_open_probes
            ):
                refused = CircuitOpenError(self.target, retry_after=None)
            else:
                refused = None
                probe = state is BreakerState.HALF_OPEN
                if probe:
                    self._probes_in_flight += 1
                permit = Permit(self._generation, probe)
        self._emit(events)
        if refused is not None:
            raise refused
        return permit

    def record(self, permit: Permit, error: BaseException | None) -> Outcome:
        """Report how a permitted call ended (``error`` None = success)."""
        outcome = classify_outcome(error, self.config)
        with self._lock:
            events = self._record(permit, outcome)
        self._emit(events)
        return outcome

    def release(self, permit: Permit) -> None:
        """The permitted call ended without an outcome (cancelled)."""
        self.record(permit, _Cancelled())

    # -- state machine (lock held)

    def _record(self, permit: Permit, outcome: Outcome) -> list[BreakerEvent]:
        if permit.probe and permit.generation == self._generation:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
        if permit.generation != self._generation or outcome is Outcome.NEUTRAL:
            return []  # a result from before the last state change says nothing now
        now = self.clock.now()
        if self._state is BreakerState.HALF_OPEN:
            if outcome is Outcome.FAILURE:
                return [self._transition(BreakerState.OPEN)]
            self._probe_successes += 1
            if self._probe_successes >= self.config.probe_successes:
                return [self._transition(BreakerState.CLOSED)]
            return []
        if self._state is BreakerState.OPEN:
            return []
        self._outcomes.append((now, outcome is Outcome.FAILURE))
        self._trim()
        rate = self._rate()
        if (
            outcome is Outcome.FAILURE
            and rate is not None
            and len(self._outcomes) >= self.config.min_requests
            and rate >= self.config.failure_rate
        ):
            return [self._transition(BreakerState.OPEN, rate)]
        return []

    def _maybe_half_open(self) -> list[BreakerEvent]:
        if (
            self._state is BreakerState.OPEN
            and self.clock.now() >= self._opened_at + self.config.cooldown
        ):
            return [self._transition(BreakerState.HALF_OPEN)]
        return []

    def _transition(self, new: BreakerState, rate: float | None = None) -> BreakerEvent:
        old = self._state
        self._state = new
        self._generation += 1
        self._probes_in_flight = 0
        self._probe_successes = 0
        now = self.clock.now()
        if new is BreakerState.OPEN:
            self._opened_at = now
        if new is BreakerState.CLOSED:
            self._outcomes.clear()
        return BreakerEvent(self.target, old, new, now, rate)

    def _trim(self) -> None:
        cfg = self.config
        if cfg.window_seconds is not None:
            horizon = self.clock.now() - cfg.window_seconds
            while self._outcomes and self._outcomes[0][0] <= horizon:
                self._outcomes.popleft()
        else:
            while len(self._outcomes) > cfg.window:
                self._outcomes.popleft()

    def _rate(self) -> float | None:
        if not self._outcomes:
            return None
        return sum(failed for _, failed in self._outcomes) / len(self._outcomes)

    def _emit(self, events: list[BreakerEvent]) -> None:
        for event in events:
            for listener in self.listeners:
                listener.on_breaker_event(event)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.target!r}, state={self._state.value})"


class _Cancelled(BaseException):
    """Marker outcome for :meth:`CircuitBreaker.release` (classified neutral)."""


@dataclass(slots=True)
class BreakerLayer:
    """Runs each call through ``breaker``: refused at once while open, outcome recorded after.

    Place it inside the retry layer of its target so that every attempt is counted, or outside
    to count whole calls; either way an open circuit costs no attempt. A delivered stream
    (``Client.stream``) is judged when it ends, not when its first event arrives; one the
    caller closes early is neutral. Reports a :class:`BreakerOutcome`: the state of each breaker
    the call went through, by target.
    """

    breaker: CircuitBreaker

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        permit = self._acquire(ctx)
        try:
            response = next(request, ctx)
        except BaseException as exc:
            self._record(permit, exc, ctx)
            raise
        self._succeeded(permit, ctx)
        return response

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        permit = self._acquire(ctx)
        try:
            response = await next(request, ctx)
        except BaseException as exc:
            self._record(permit, exc, ctx)
            raise
        self._succeeded(permit, ctx)
        return response

    def _succeeded(self, permit: Permit, ctx: CallContext) -> None:
        """Record a success; for a delivered stream, the outcome at its end instead (a stream
        that breaks after its first event is a provider failure, not a success)."""
        if ctx.stream is None:
            self._record(permit, None, ctx)
            return

        def at_end(final: ChatResponse | None, error: BaseException | None) -> None:
            if final is None and error is None:  # closed early by the caller: no verdict
                self.breaker.release(permit)
                self._note(ctx)
            else:
                self._record(permit, error, ctx)

        ctx.at_stream_end(at_end)

    def _record(self, permit: Permit, error: BaseException | None, ctx: CallContext) -> None:
        self.breaker.record(permit, error)
        self._note(ctx)

    def _acquire(self, ctx: CallContext) -> Permit:
        try:
            return self.breaker.acquire()
        except CircuitOpenError:
            self._note(ctx)
            raise

    def _note(self, ctx: CallContext) -> None:
        old = ctx.outcome(BreakerOutcome)
        states = dict(old.states) if old is not None else {}
        states[self.breaker.target] = str(self.breaker.state)
        ctx.report(BreakerOutcome(states))


@dataclass(frozen=True, slots=True)
class BreakerOutcome:
    """Each breaker's state after the call went through it, by target (no telemetry column:
    state changes are event rows, see ``llmkit.telemetry.watch_breaker``)."""

    states: Mapping[str, str]
