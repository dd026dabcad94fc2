"""Hedged requests: when an answer is late, ask again and take whichever comes first.

After a delay (fixed, or a percentile of recently observed latencies), a second attempt goes to
the same target or to another one; the first success wins and the other attempt is cancelled.
A :class:`HedgeBudget` caps the extra load: each call earns ``ratio`` of a hedge, each hedge
spends one, so over any run ``hedges <= initial + ratio * calls`` (at most 10% more requests
with the default ``ratio=0.1``).

Hedging is async-only: a sync call cannot race two requests without threads, so
:meth:`HedgeLayer.handle` passes the call through unhedged (and its :class:`HedgeOutcome` says so).

Telemetry: the layer reports a :class:`HedgeOutcome`; its columns are ``llmkit.hedged`` and
``llmkit.hedge.won``. The branch whose answer is used has its outcomes adopted by the call
(``CallContext.branch`` / ``adopt``): the loser's attempts stay in ``ctx.attempts``.

Time is ``ctx.clock``; under :class:`~llmkit.clock.VirtualClock` the race runs in virtual time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from llmkit.errors import LLMError
from llmkit.fallback import Target
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.types import ChatRequest, ChatResponse

_log = logging.getLogger("llmkit.hedge")

__all__ = ["HedgeBudget", "HedgeLayer", "HedgeOutcome", "HedgePolicy", "LatencyWindow"]


@dataclass(frozen=True, slots=True)
class HedgeOutcome:
    """What the hedge did in one call (``ctx.outcome(HedgeOutcome)``)."""

    delay: float | None = None
    """Seconds it would wait before hedging (None: no hedge for this call)."""
    fired: bool = False
    """A second attempt was sent."""
    winner: str | None = None
    """``"primary"`` or ``"hedge"``: whose answer was used."""
    skipped: str | None = None
    """Why no hedge was sent although one was due: ``budget``, ``deadline``, ``sync``."""
    failures: tuple[str, ...] = ()
    """Roles that failed, when both did."""


register_columns(
    HedgeOutcome,
    Column("hedged", "llmkit.hedged", call=lambda o: o.fired),
    Column("hedge_won", "llmkit.hedge.won", call=lambda o: o.winner == "hedge"),
)


class LatencyWindow:
    """The last ``size`` successful-attempt latencies, for percentile estimates."""

    def __init__(self, size: int = 200) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        if math.isfinite(seconds) and seconds >= 0:
            with self._lock:
                self._values.append(seconds)

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile (``q`` in (0, 1]), None when empty."""
        if not 0 < q <= 1:
            raise ValueError("q must be in (0, 1]")
        with self._lock:
            values = sorted(self._values)
        if not values:
            return None
        return values[max(0, math.ceil(q * len(values)) - 1)]


class HedgeBudget:
    """Token bucket on a ratio: calls deposit ``ratio``, a hedge withdraws 1 (tower's idea)."""

    def __init__(self, ratio: float = 0.1, *, initial: float = 1.0, cap: float = 10.0) -> None:
        if not 0 <= ratio <= 1:
            raise ValueError("ratio must be in [0, 1]")
        if initial < 0 or cap < 1:
            raise ValueError("initial must be >= 0 and cap >= 1")
        self.ratio = ratio
        self.cap = cap
        self._balance = min(initial, cap)
        self._lock = threading.Lock()
        self.calls = 0
        self.hedges = 0

    def deposit(self) -> None:
        with self._lock:
            self.calls += 1
            self._balance = min(self.cap, self._balance + self.ratio)

    def try_spend(self) -> bool:
        with self._lock:
            if self._balance < 1:
                return False
            self._balance -= 1
            self.hedges += 1
            return True

    @property
    def balance(self) -> float:
        return self._balance


@dataclass(frozen=True, slots=True)
class HedgePolicy:
    """When to hedge: ``delay`` seconds, or the ``percentile`` of recent latencies once
    ``min_samples`` are known (``delay`` until then; no hedge if ``delay`` is None too)."""

    delay: float | None = 1.0
    percentile: float | None = None
    min_samples: int = 20
    min_delay: float = 0.0
    max_delay: float | None = None

    def __post_init__(self) -> None:
        if self.delay is not None and self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.percentile is not None and not 0 < self.percentile <= 1:
            raise ValueError("percentile must be in (0, 1]")
        if self.delay is None and self.percentile is None:
            raise ValueError("give a fixed delay, a percentile, or both")

    def hedge_delay(self, latencies: LatencyWindow) -> float | None:
        """Seconds to wait before hedging, or None for no hedge on this call."""
        chosen = self.delay
        if self.percentile is not None and len(latencies) >= self.min_samples:
            chosen = latencies.percentile(self.percentile)
        if chosen is None:
            return None
        chosen = max(chosen, self.min_delay)
        return chosen if self.max_delay is None else min(chosen, self.max_delay)


@dataclass(slots=True)
class HedgeLayer:
    """Async hedging around ``next`` (or toward ``target``'s handler for the second attempt).

    Reports a :class:`HedgeOutcome`.
    """

    policy: HedgePolicy = field(default_factory=HedgePolicy)
    budget: HedgeBudget = field(default_factory=HedgeBudget)
    target: Target | None = None
    """Where the second attempt goes; None = the same handler with the same request."""
    latencies: LatencyWindow = field(default_factory=LatencyWindow)

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        ctx.report(HedgeOutcome(skipped="sync"))
        return next(request, ctx)

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        self.budget.deposit()
        delay = self.policy.hedge_delay(self.latencies)
        ctx.report(HedgeOutcome(delay))
        clock = ctx.clock
        started = clock.now()
        primary = asyncio.create_task(_call(next, request, ctx))
        tasks: dict[asyncio.Task[ChatResponse], tuple[str, float]] = {primary: ("primary", started)}
        hedge_ctx: CallContext | None = None
        try:
            if delay is not None:
                timer = asyncio.create_task(clock.asleep(delay))
                await asyncio.wait({primary, timer}, return_when=asyncio.FIRST_COMPLETED)
                timer.cancel()
                if not primary.done():
                    hedge_ctx = self._launch(request, ctx, next, tasks)
            return await self._first_success(tasks, ctx, hedge_ctx)
        finally:
            await _cancel_all(tasks)

    def _launch(
        self,
        request: ChatRequest,
        ctx: CallContext,
        next: AsyncHandler,
        tasks: dict[asyncio.Task[ChatResponse], tuple[str, float]],
    ) -> CallContext | None:
        remaining = ctx.remaining()
        if remaining is not None and remaining <= 0:
            _update(ctx, skipped="deadline")
            return None
        if not self.budget.try_spend():
            _update(ctx, skipped="budget")
            return None
        _update(ctx, fired=True)
        # Its own outcomes and attempt count, so the two attempts do not write over each
        # other; the deadline, clock, attempt list and stream-end callbacks are shared, so
        # layers above see a delivered stream end whichever attempt opened it.
        hedge_ctx = ctx.branch()
        handler = next if self.target is None else (self.target.ahandler or next)
        req = request if self.target is None else self.target.prepare(request)
        tasks[asyncio.create_task(_call(handler, req, hedge_ctx))] = ("hedge", ctx.clock.now())
        return hedge_ctx

    async def _first_success(
        self,
        tasks: dict[asyncio.Task[ChatResponse], tuple[str, float]],
        ctx: CallContext,
        hedge_ctx: CallContext | None,
    ) -> ChatResponse:
        pending: set[asyncio.Task[ChatResponse]] = set(tasks)
        failures: list[tuple[str, BaseException]] = []
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: tasks[t][0] != "primary"):
                role, began = tasks[task]
                exc = task.exception()
                if exc is not None:
                    failures.append((role, exc))
                    continue
                self.latencies.observe(ctx.clock.now() - began)
                if role == "hedge" and hedge_ctx is not None:
                    ctx.adopt(hedge_ctx)
                elif hedge_ctx is not None and hedge_ctx.stream is not None:
                    await _close_stream(hedge_ctx.stream)  # both opened one; the hedge lost
                _update(ctx, winner=role)
                return task.result()
        if len(failures) > 1:
            _update(ctx, failures=tuple(role for role, _ in failures))
        # Both failed: the primary's error is the call's error (the hedge was extra).
        primary_errors = [exc for role, exc in failures if role == "primary"]
        raise (primary_errors or [failures[0][1]])[0]


def _update(ctx: CallContext, **changes: Any) -> None:
    ctx.report(replace(ctx.outcome(HedgeOutcome) or HedgeOutcome(), **changes))


async def _call(handler: AsyncHandler, request: ChatRequest, ctx: CallContext) -> ChatResponse:
    return await handler(request, ctx)


async def _close_stream(stream: Any) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


async def _cancel_all(tasks: dict[asyncio.Task[ChatResponse], tuple[str, float]]) -> None:
    live = [t for t in tasks if not t.done()]
    for t in live:
        t.cancel()
    for t in live:
        try:
            await t
        except (asyncio.CancelledError, LLMError):
            pass  # the loser was cancelled, or had failed anyway: the winner's answer stands
        except Exception:  # a bug in a losing branch must not vanish
            _log.exception("a losing hedge attempt raised an unexpected error")
