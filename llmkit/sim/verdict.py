"""Which fault, if any, one request meets: the scenario's rules, the context window, the limits.

Three things can stand between a request and a clean answer, checked in this order:

1. the scenario's fault rules (the first that fires wins, see :mod:`llmkit.sim.faults`);
2. a prompt longer than the model's context window (a 400, unless a rule already fired);
3. the provider's rate-limit buckets (:mod:`llmkit.sim.ratelimit`): a request that does not
   fit is refused with 429, overriding whatever the rules said.

The :class:`Gate` holds the only state involved (one limiter per provider) behind its own lock,
and draws random numbers only from the request's ``rng`` -- in the order the rules are listed --
so the verdict for request ``n`` never depends on which thread asks first.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, replace

from llmkit.sim.faults import Fault, FaultRule
from llmkit.sim.ratelimit import Admission, RateLimiter, RateLimits

__all__ = ["Gate", "Verdict", "first_fault"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the gate decided for one completion request."""

    fault: Fault | None
    """The fault the request meets; None for a clean answer."""
    rule: FaultRule | None
    """The scenario rule that injected ``fault`` (None when there is none, or when the fault
    comes from the context window or the rate limiter)."""
    adm: Admission
    """What the rate-limit headers report (for an injected 429: an empty request bucket)."""
    retry_after: float | None = None
    """Seconds for a ``retry-after`` header; None sends none."""

    @property
    def after_tokens(self) -> int:
        """Token-carrying stream events sent before a mid-stream fault."""
        return self.rule.after_tokens if self.rule is not None else 3

    @property
    def hang_seconds(self) -> float:
        """How long a hang or stall lasts before the connection closes."""
        return self.rule.hang_seconds if self.rule is not None else 600.0


def first_fault(
    faults: tuple[FaultRule, ...], *, n: int, t: float, provider: str, rng: random.Random
) -> tuple[Fault | None, FaultRule | None]:
    """The fault of the first rule that fires for request ``n`` at time ``t``, and that rule."""
    rule = next((r for r in faults if r.fires(n=n, t=t, provider=provider, rng=rng)), None)
    return (rule.pick(rng), rule) if rule is not None else (None, None)


class Gate:
    """A scenario's fault rules and one rate limiter per provider, asked once per request."""

    def __init__(self, faults: tuple[FaultRule, ...], limits: RateLimits) -> None:
        self._faults = faults
        self._limits = limits
        self._lock = threading.Lock()
        self._limiters: dict[str, RateLimiter] = {}

    def judge(
        self,
        *,
        n: int,
        t: float,
        provider: str,
        rng: random.Random,
        input_tokens: int,
        cost: int,
        context_window: int,
    ) -> Verdict:
        """The verdict for request ``n``, which needs ``cost`` tokens of the provider's
        per-minute budget. The request is charged to the buckets only if it fits."""
        fault, rule = first_fault(self._faults, n=n, t=t, provider=provider, rng=rng)
        if fault is None and input_tokens > context_window:
            fault = Fault.CONTEXT_LENGTH
        with self._lock:
            lim = self._limiters.get(provider)
            if lim is None:
                lim = self._limiters[provider] = RateLimiter(self._limits, t)
            adm = lim.admit(cost, t)
        if not adm.allowed:
            wait = adm.retry_after if adm.retry_after != float("inf") else None
            return Verdict(Fault.RATE_LIMIT, None, adm, wait)
        if rule is None:
            return Verdict(fault, None, adm)
        if fault is Fault.RATE_LIMIT:
            # An injected 429 must not contradict its own headers: the request bucket reads
            # empty until the retry-after has passed.
            adm = replace(
                adm,
                remaining_requests=0,
                reset_requests=max(adm.reset_requests, rule.retry_after or 0.0),
                exhausted="requests",
            )
        return Verdict(fault, rule, adm, rule.retry_after)
