"""Retries: a pure policy, driven by tenacity, bounded by the deadline and the retry budget.

The decision after a failed attempt, in order (``RetryPolicy.decide`` spells it out):

1. ``not_retryable`` -- only an :class:`LLMError` whose ``retryable`` is true is retried
   (``x-should-retry`` already overrode it); anything else propagates at once.
2. ``max_attempts`` -- at most ``max_attempts`` attempts per call.
3. the delay: exponential backoff with full jitter, ``U(0, min(cap, base * 2**retries))``
   from the call's seeded rng. When the server sent ``retry_after``, the delay is
   ``max(retry_after, backoff)``: the server's wait is a floor we respect (sleeping less
   just buys another 429), and the jitter above it keeps clients that were told the same
   instant from returning together. The SDKs sleep ``retry_after`` exactly.
4. ``retry_after_too_long`` -- a ``retry_after`` above ``max_retry_after`` (60 s) fails
   at once: the caller learns now instead of in a minute.
5. ``deadline`` -- if the delay plus the minimum useful attempt time does not fit in what is
   left of the call's deadline, fail fast with the error instead of sleeping past it.
6. ``budget_denied`` -- the shared :class:`~llmkit.budget.RetryBudget` must pay for the
   retry; a denied retry fails the call with its last error.

The first attempt runs without tenacity (the common case, a success, costs nothing extra).
After a failure, a ``tenacity.Retrying`` (``AsyncRetrying``) replays that failure as its own
first attempt and drives the rest with ``retry``/``wait``/``stop`` callables that call the
policy above, and ``sleep=ctx.clock.sleep`` (``asleep``), so a virtual clock makes retry
storms instant in tests. The layer's sync and async drivers share those callables.

Telemetry: the layer reports a :class:`RetryOutcome` (the decision after each failed attempt,
seconds slept, whether the budget refused) whose columns are ``llmkit.retry.decision``,
``llmkit.retry.delay`` and ``llmkit.retry.budget_denied``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import tenacity

from llmkit.budget import RetryBudget
from llmkit.errors import LLMError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.types import ChatRequest, ChatResponse

__all__ = ["RetryDecision", "RetryLayer", "RetryOutcome", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    """What the retry layer decided in one call (``ctx.outcome(RetryOutcome)``)."""

    decisions: tuple[tuple[int, str, float | None], ...] = ()
    """``(attempt number, decision, delay before the next attempt or None)`` per failed
    attempt; decisions are the words of :attr:`RetryDecision.reason`."""
    slept: float = 0.0
    """Seconds slept between attempts, in total."""
    budget_denied: bool = False

    def decision(self, attempt: int) -> tuple[str, float | None] | None:
        for n, word, delay in self.decisions:
            if n == attempt:
                return word, delay
        return None


def _decision(o: RetryOutcome, attempt: int) -> str | None:
    found = o.decision(attempt)
    return None if found is None else found[0]


def _delay(o: RetryOutcome, attempt: int) -> float | None:
    found = o.decision(attempt)
    return None if found is None else found[1]


register_columns(
    RetryOutcome,
    Column("retry_delay", "llmkit.retry.delay", call=lambda o: o.slept, attempt=_delay, absent=0.0),
    Column("retry_decision", "llmkit.retry.decision", attempt=_decision),
    Column(
        "budget_denied",
        "llmkit.retry.budget_denied",
        call=lambda o: o.budget_denied,
        attempt=lambda o, n: _decision(o, n) == "budget_denied",
    ),
)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay: float
    reason: str
    """``retry`` or why not: ``not_retryable``, ``max_attempts``, ``retry_after_too_long``,
    ``deadline``, ``budget_denied``."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Pure retry rules; see the module docstring for the order they apply in."""

    max_attempts: int = 3
    base: float = 0.5
    """Backoff before the first retry is drawn from ``U(0, base)``, then doubles."""
    cap: float = 8.0
    """Largest backoff ceiling (before ``retry_after``)."""
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError("max_attempts must be an int >= 1")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError("base, cap and max_retry_after must be >= 0")

    @classmethod
    def of(cls, value: RetryPolicy | int | None) -> RetryPolicy:
        """None -> defaults; an int -> that many attempts."""
        if value is None:
            return cls()
        if isinstance(value, RetryPolicy):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"retry must be a RetryPolicy, an int or None, not {value!r}")
        return cls(max_attempts=value)

    def retryable(self, error: BaseException | None) -> bool:
        return isinstance(error, LLMError) and error.retryable

    def backoff_ceiling(self, attempt: int) -> float:
        """Upper bound of the jittered backoff after attempt number ``attempt`` (1-based)."""
        return min(self.cap, self.base * 2.0 ** min(attempt - 1, 60))

    def delay(self, attempt: int, error: BaseException | None, rng: random.Random) -> float:
        backoff = rng.uniform(0.0, self.backoff_ceiling(attempt))
        retry_after = error.retry_after if isinstance(error, LLMError) else None
        return backoff if retry_after is None else max(backoff, retry_after)

    def stop_reason(
        self,
        attempt: int,
        error: BaseException | None,
        delay: float,
        remaining: float | None,
        min_attempt: float = 0.0,
    ) -> str | None:
        """Why not to retry after attempt ``attempt`` (budget aside), or None to retry."""
        if attempt >= self.max_attempts:
            return "max_attempts"
        retry_after = error.retry_after if isinstance(error, LLMError) else None
        if retry_after is not None and retry_after > self.max_retry_after:
            return "retry_after_too_long"
        if remaining is not None and delay + max(min_attempt, 1e-9) > remaining:
            return "deadline"
        return None

    def decide(
        self,
        attempt: int,
        error: BaseException,
        rng: random.Random,
        *,
        remaining: float | None = None,
        min_attempt: float = 0.0,
        budget: RetryBudget | None = None,
    ) -> RetryDecision:
        """The whole decision in one pure-ish call (the budget is the only state it touches)."""
        if not self.retryable(error):
            return RetryDecision(False, 0.0, "not_retryable")
        delay = self.delay(attempt, error, rng)
        reason = self.refusal(
            attempt, error, delay, remaining, min_attempt=min_attempt, budget=budget
        )
        return RetryDecision(reason is None, delay if reason is None else 0.0, reason or "retry")

    def refusal(
        self,
        attempt: int,
        error: BaseException | None,
        delay: float,
        remaining: float | None,
        *,
        min_attempt: float = 0.0,
        budget: RetryBudget | None = None,
    ) -> str | None:
        """:meth:`stop_reason`, then the budget: a retry token is withdrawn only when every
        other rule says retry. None means retry. Both drivers and :meth:`decide` use this."""
        reason = self.stop_reason(attempt, error, delay, remaining, min_attempt)
        if reason is None and budget is not None and not budget.try_withdraw(error):
            return "budget_denied"
        return reason


class _Hooks:
    """tenacity's retry/wait/stop/before_sleep for one call, backed by the policy."""

    __slots__ = ("budget", "ctx", "policy")

    def __init__(self, policy: RetryPolicy, budget: RetryBudget | None, ctx: CallContext):
        self.policy, self.budget, self.ctx = policy, budget, ctx

    def retry(self, rs: tenacity.RetryCallState) -> bool:
        error = rs.outcome.exception() if rs.outcome is not None else None
        if self.policy.retryable(error):
            return True
        if isinstance(error, LLMError):
            self._note("not_retryable", None)
        return False

    def wait(self, rs: tenacity.RetryCallState) -> float:
        error = rs.outcome.exception() if rs.outcome is not None else None
        return self.policy.delay(rs.attempt_number, error, self.ctx.rng)

    def stop(self, rs: tenacity.RetryCallState) -> bool:
        error = rs.outcome.exception() if rs.outcome is not None else None
        delay = rs.upcoming_sleep
        ctx = self.ctx
        reason = self.policy.refusal(
            rs.attempt_number,
            error,
            delay,
            ctx.remaining(),
            min_attempt=ctx.min_attempt,
            budget=self.budget,
        )
        if reason is None:
            self._note("retry", delay)
            return False
        self._note(reason, None)
        return True

    def _note(self, decision: str, delay: float | None) -> None:
        ctx = self.ctx
        old = ctx.outcome(RetryOutcome) or RetryOutcome()
        slept = old.slept + (delay or 0.0)
        denied = old.budget_denied or decision == "budget_denied"
        decisions = old.decisions
        # Only about the attempt that just failed, once: an error raised before anything was
        # sent (an open circuit) is no attempt of its own and must not overwrite the decision
        # about the attempt before it.
        if ctx.attempt and old.decision(ctx.attempt) is None:
            decisions = (*decisions, (ctx.attempt, decision, delay))
        ctx.report(RetryOutcome(decisions, slept, denied))


class RetryLayer:
    """Retries failed attempts below it. See the module docstring for the rules."""

    __slots__ = ("budget", "policy")

    def __init__(self, policy: RetryPolicy | None = None, budget: RetryBudget | None = None):
        self.policy = policy or RetryPolicy()
        self.budget = budget

    def _kwargs(self, ctx: CallContext) -> dict[str, Any]:
        hooks = _Hooks(self.policy, self.budget, ctx)
        return {
            "retry": hooks.retry,
            "wait": hooks.wait,
            "stop": hooks.stop,
            "reraise": True,
        }

    def _succeeded(self) -> None:
        if self.budget is not None:
            self.budget.deposit()

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        try:
            response = next(request, ctx)
        except LLMError as first:
            retrying = tenacity.Retrying(sleep=ctx.clock.sleep, **self._kwargs(ctx))
            response = retrying(_replay(first, next), request, ctx)
        self._succeeded()
        return response

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        try:
            response = await next(request, ctx)
        except LLMError as first:
            retrying = tenacity.AsyncRetrying(sleep=ctx.clock.asleep, **self._kwargs(ctx))
            response = await retrying(_areplay(first, next), request, ctx)
        self._succeeded()
        return response

    def __repr__(self) -> str:
        return f"RetryLayer({self.policy!r}, budget={self.budget!r})"


def _replay(first: LLMError, next: Handler) -> Handler:
    """A handler whose first call re-raises the attempt that already failed."""
    pending = [first]

    def attempt(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        if pending:
            raise pending.pop()
        return next(request, ctx)

    return attempt


def _areplay(
    first: LLMError, next: AsyncHandler
) -> Callable[[ChatRequest, CallContext], Awaitable[ChatResponse]]:
    pending = [first]

    async def attempt(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        if pending:
            raise pending.pop()
        return await next(request, ctx)

    return attempt
