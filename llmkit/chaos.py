"""The chaos run: thousands of calls through a broken provider, with and without the patterns.

One function, :func:`run_chaos`, shared by ``tests/test_chaos.py``, ``benchmarks/chaos.py`` and
notebook 04, so the figures are computed once. It sends ``calls`` concurrent calls (arriving
``rate`` per virtual second) through the in-process simulator on a :class:`VirtualClock`:

* every request, to any provider, fails transiently with probability ``fault_rate`` (429 with
  retry-after, 500, 502, 503, 529/overloaded, a hang until the read timeout, a reset);
* the primary (OpenAI) is down -- every request overloaded -- for ``outage`` seconds;
* 0.5% of primary requests get ``429 insufficient_quota``: not retryable, so the run can check
  that such errors are never retried (and that the fallback still answers them elsewhere).

``policies=True`` is the production set-up: retries with a retry budget per provider, a
circuit breaker per target, and a fallback chain OpenAI → Anthropic → OpenRouter, all inside
one deadline per call. ``policies=False`` is the contrast: one attempt, one provider.

Every figure comes from the run's own telemetry records and breaker events; an attempt layer
(:class:`RetryAudit`) independently notes every error and whether the same target was tried
again after it. :meth:`ChaosReport.missed` lists the targets a run missed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from llmkit.breaker import (
    BreakerConfig,
    BreakerEvent,
    BreakerLayer,
    BreakerState,
    CircuitBreaker,
)
from llmkit.budget import RetryBudget
from llmkit.client import AsyncClient
from llmkit.clock import VirtualClock
from llmkit.deadline import Timeouts
from llmkit.errors import CircuitOpenError, DeadlineExceededError, LLMError
from llmkit.fallback import FallbackLayer, Target
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.retry import RetryPolicy
from llmkit.sim import AsyncSimTransport, Fault, FaultRule, Scenario, Simulator
from llmkit.telemetry import CallRecord, MemorySink, Record
from llmkit.types import ChatRequest, ChatResponse

__all__ = [
    "ChaosConfig",
    "ChaosReport",
    "ChaosRun",
    "RetryAudit",
    "chaos_scenario",
    "run_chaos",
    "simulate",
    "simulate_async",
]

_T = TypeVar("_T")

TRANSIENT: tuple[Fault, ...] = (
    Fault.RATE_LIMIT,
    Fault.SERVER_ERROR,
    Fault.BAD_GATEWAY,
    Fault.UNAVAILABLE,
    Fault.OVERLOADED,
    Fault.HANG,
    Fault.RESET,
)

Route = tuple[str, str, str, str]
"""(name, provider, model, base URL) of a target."""

ROUTES: tuple[Route, ...] = (
    ("openai", "openai", "gpt-4o-mini", "http://127.0.0.1/v1"),
    ("anthropic", "anthropic", "claude-haiku-4-5", "http://127.0.0.1"),
    ("openrouter", "openrouter", "openai/gpt-4o-mini", "http://127.0.0.1/api/v1"),
)

_SIM_KEY = "sim-placeholder"  # the simulator wants a key; this is not a secret


BREAKER = BreakerConfig(failure_rate=0.75, window_seconds=10.0, min_requests=20, cooldown=10.0)
"""Opens at 75% health failures over the last 10 s (at least 20 outcomes): an outage gets
there in seconds, the 30% background noise (about 26% health failures) practically never."""


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    calls: int = 2000
    rate: float = 4.0
    """Calls arriving per virtual second (they overlap: each is its own task)."""
    fault_rate: float = 0.3
    quota_rate: float = 0.005
    """Share of primary requests answered ``429 insufficient_quota`` (not retryable)."""
    outage: tuple[float, float] = (120.0, 180.0)
    """Seconds of simulator time during which the primary is down."""
    deadline: float = 30.0
    read_timeout: float = 5.0
    attempts: int = 3
    """Attempts per target with policies on."""
    breaker: BreakerConfig = BREAKER
    """The circuit breaker of every target with policies on."""
    seed: int = 0
    min_success: float = 0.999
    """Target success rate with policies on."""

    def __post_init__(self) -> None:
        if self.calls < 1 or self.rate <= 0 or self.deadline <= 0 or self.attempts < 1:
            raise ValueError("calls, rate, deadline and attempts must be positive")
        if not 0 <= self.fault_rate <= 1 or not 0 <= self.quota_rate <= 1:
            raise ValueError("fault rates must be within [0, 1]")


def chaos_scenario(config: ChaosConfig = ChaosConfig()) -> Scenario:
    """The simulator scenario of the run (rules checked in order, first match wins)."""
    primary = frozenset({ROUTES[0][1]})
    return Scenario(
        "chaos",
        f"{config.fault_rate:.0%} transient faults everywhere, primary down "
        f"{config.outage[0]:g}-{config.outage[1]:g} s, {config.quota_rate:.1%} primary quota",
        seed=config.seed,
        faults=(
            FaultRule(Fault.OVERLOADED, window=config.outage, providers=primary, retry_after=5.0),
            FaultRule(Fault.INSUFFICIENT_QUOTA, rate=config.quota_rate, providers=primary),
            FaultRule(TRANSIENT, rate=config.fault_rate, retry_after=1.0),
        ),
    )


@dataclass(slots=True)
class RetryAudit:
    """An attempt layer that notes every error and whether its target was tried again after it.

    Placed right below the retry layer, it sees every attempt of every target (a refusal by an
    open circuit too). A later attempt of the same call on the same target is a retry; one
    after an error whose ``retryable`` is false is a violation.
    """

    errors: Counter[tuple[str, bool]] = field(default_factory=Counter)
    """(what, retryable) -> how many times it was raised; ``what`` is the error kind, or
    ``circuit_open`` / ``deadline`` for refusals by an open circuit or the call's deadline."""
    retried_non_retryable: list[str] = field(default_factory=list)
    """``"<provider>: <error>"`` for every non-retryable error that was retried."""
    _last: dict[tuple[str, str], LLMError] = field(default_factory=dict)

    def _before(self, ctx: CallContext) -> None:
        last = self._last.pop((ctx.call_id, ctx.provider), None)
        if last is not None and not last.retryable:
            self.retried_non_retryable.append(f"{ctx.provider}: {last!r}")

    def _after(self, ctx: CallContext, exc: LLMError) -> None:
        what = str(exc.kind)
        if isinstance(exc, CircuitOpenError):
            what = "circuit_open"
        elif isinstance(exc, DeadlineExceededError):
            what = "deadline"
        self.errors[(what, exc.retryable)] += 1
        self._last[(ctx.call_id, ctx.provider)] = exc

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        self._before(ctx)
        try:
            return next(request, ctx)
        except LLMError as exc:
            self._after(ctx, exc)
            raise

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        self._before(ctx)
        try:
            return await next(request, ctx)
        except LLMError as exc:
            self._after(ctx, exc)
            raise


class _Events:
    def __init__(self) -> None:
        self.events: list[BreakerEvent] = []

    def on_breaker_event(self, event: BreakerEvent) -> None:
        self.events.append(event)


@dataclass(frozen=True, slots=True)
class ChaosRun:
    """One run's figures, and the records they were computed from."""

    name: str
    policies: str
    config: ChaosConfig
    records: tuple[Record, ...]
    breaker_events: tuple[BreakerEvent, ...]
    errors: dict[tuple[str, bool], int]
    retried_non_retryable: tuple[str, ...]
    seconds: float
    """Virtual seconds from the first arrival to the last call's end."""

    @property
    def calls(self) -> list[CallRecord]:
        return [r for r in self.records if isinstance(r, CallRecord)]

    @property
    def succeeded(self) -> int:
        return sum(r.error_type is None for r in self.calls)

    @property
    def success_rate(self) -> float:
        calls = self.calls
        return self.succeeded / len(calls) if calls else math.nan

    @property
    def attempts(self) -> int:
        """HTTP attempts sent (a call refused by an open circuit sends none)."""
        return sum(r.kind == "attempt" for r in self.records)

    @property
    def attempts_per_call(self) -> float:
        return self.attempts / max(1, len(self.calls))

    @property
    def budget_denied(self) -> int:
        """Retries the retry budget refused."""
        return sum(r.kind == "attempt" and r.budget_denied for r in self.records)

    @property
    def breaker_opens(self) -> int:
        return sum(e.new is BreakerState.OPEN for e in self.breaker_events)

    def latency_percentile(self, q: float) -> float:
        """Nearest-rank percentile of call latency in virtual seconds (``q`` in (0, 1])."""
        values = sorted(r.latency or 0.0 for r in self.calls)
        if not values:
            return math.nan
        return values[max(0, math.ceil(q * len(values)) - 1)]

    @property
    def max_overrun(self) -> float:
        """Largest amount by which a call outlived its deadline, in seconds (0: none did)."""
        late = ((r.latency or 0.0) - self.config.deadline for r in self.calls)
        return max([0.0, *late])

    @property
    def non_retryable_seen(self) -> int:
        return sum(n for (_, retryable), n in self.errors.items() if not retryable)

    @property
    def served_by(self) -> Counter[str]:
        return Counter(r.provider for r in self.calls if r.error_type is None)

    def summary(self) -> dict[str, Any]:
        return {
            "run": self.name,
            "calls": len(self.calls),
            "success rate": self.success_rate,
            "attempts/call": self.attempts_per_call,
            "budget denied": self.budget_denied,
            "breaker opens": self.breaker_opens,
            "p50 latency s": self.latency_percentile(0.5),
            "p99 latency s": self.latency_percentile(0.99),
            "max deadline overrun s": self.max_overrun,
            "non-retryable errors": self.non_retryable_seen,
            "non-retryable retried": len(self.retried_non_retryable),
        }


@dataclass(frozen=True, slots=True)
class ChaosReport:
    policies: ChaosRun
    naive: ChaosRun

    def missed(self) -> list[str]:
        """The targets the policies run missed (empty: all met)."""
        run, cfg = self.policies, self.policies.config
        out = []
        if not run.success_rate >= cfg.min_success:
            out.append(f"success rate {run.success_rate:.4%} < {cfg.min_success:.1%}")
        if run.retried_non_retryable:
            out.append(f"{len(run.retried_non_retryable)} non-retryable errors were retried")
        if run.max_overrun > 1e-6:
            out.append(f"a call overran its deadline by {run.max_overrun:.3f} s")
        if len(run.calls) != cfg.calls:
            out.append(f"{len(run.calls)} call records for {cfg.calls} calls")
        return out


Policies = Literal["none", "retry", "full"]
"""``none``: one attempt, one provider. ``retry``: retries with a retry budget, primary only.
``full``: retry + budget + circuit breaker per target + fallback chain."""

RUN_NAMES: dict[str, str] = {
    "none": "no policies",
    "retry": "retry + budget only",
    "full": "retry + budget + fallback + breaker",
}


async def simulate_async(
    config: ChaosConfig = ChaosConfig(), policies: Policies = "full"
) -> ChaosRun:
    """One run on a fresh virtual clock and simulator (see the module docstring)."""
    if policies not in RUN_NAMES:
        raise ValueError(f"policies must be one of {sorted(RUN_NAMES)}, got {policies!r}")
    clock = VirtualClock()
    sim = Simulator(chaos_scenario(config), clock)
    transport = AsyncSimTransport(sim)
    sink = MemorySink()
    audit = RetryAudit()
    listener = _Events()
    clients: list[AsyncClient] = []

    def client(route: Route, *, retry: bool, breaker: bool, **options: Any) -> AsyncClient:
        layers: list[Any] = [audit]
        if breaker:
            cb = CircuitBreaker(route[0], config.breaker, clock=clock, listeners=[listener])
            layers.append(BreakerLayer(cb))
        c = AsyncClient(
            route[1],
            transport=transport,
            base_url=route[3],
            api_key=_SIM_KEY,
            clock=clock,
            timeout=Timeouts.of(config.read_timeout),
            deadline=config.deadline,
            seed=config.seed,
            retry=RetryPolicy(max_attempts=config.attempts) if retry else False,
            budget=RetryBudget(retry_cost=1.0, timeout_cost=2.0) if retry else False,
            attempt_layers=layers,
            **options,
        )
        clients.append(c)
        return c

    layers: list[Any] = []
    if policies == "full":
        backups = [
            Target.of_client(client(r, retry=True, breaker=True), name=r[0], model=r[2])
            for r in ROUTES[1:]
        ]
        layers.append(FallbackLayer([Target(ROUTES[0][0], provider=ROUTES[0][1]), *backups]))
    front = client(
        ROUTES[0],
        retry=policies != "none",
        breaker=policies == "full",
        telemetry=sink,
        layers=layers,
    )

    async def one(i: int) -> None:
        await clock.asleep(i / config.rate)
        # A failure is in the telemetry, which is what the run measures.
        with contextlib.suppress(LLMError):
            await front.chat(
                model=ROUTES[0][2],
                messages=[{"role": "user", "content": f"Classify support ticket #{i}."}],
                max_tokens=32,
            )

    try:
        await asyncio.gather(*(one(i) for i in range(config.calls)))
    finally:
        for c in clients:
            await c.aclose()
    return ChaosRun(
        name=RUN_NAMES[policies],
        policies=policies,
        config=config,
        records=tuple(sink.records),
        breaker_events=tuple(listener.events),
        errors=dict(audit.errors),
        retried_non_retryable=tuple(audit.retried_non_retryable),
        seconds=clock.now(),
    )


def simulate(config: ChaosConfig = ChaosConfig(), policies: Policies = "full") -> ChaosRun:
    """:func:`simulate_async`, from sync code or from a notebook (whose loop is running)."""
    return _run(simulate_async(config, policies))


def run_chaos(config: ChaosConfig = ChaosConfig()) -> ChaosReport:
    """The chaos run with every policy and the same run with none, same scenario and seed."""

    async def both() -> ChaosReport:
        return ChaosReport(
            await simulate_async(config, "full"), await simulate_async(config, "none")
        )

    return _run(both())


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run``, in a worker thread when a loop already runs here (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
