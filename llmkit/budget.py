"""A retry budget shared by calls and clients, so retries stop multiplying load in an outage.

Why: with 3 attempts per call, a provider that is down receives 3x the traffic from every
client just when it can least take it, and stacked retries (SDK under a router under a job
runner) multiply again. A per-call attempt cap cannot see that; a shared budget can.

The design is a token bucket in the spirit of the AWS SDK standard retry quota, gRPC retry
throttling and Finagle's RetryBudget:

* the bucket starts full at ``capacity`` tokens;
* every retry withdraws ``retry_cost`` tokens (``timeout_cost`` after a timeout, which
  costs the provider more); when too few are left the retry is denied and the call fails with
  its last error (telemetry marks it ``llmkit.retry.budget_denied``);
* every successful call deposits ``deposit`` tokens, up to ``capacity``.

So in steady state retries are limited to about ``deposit / retry_cost`` of successful calls
(20% with the defaults) plus a burst of ``capacity / retry_cost``; once the provider recovers,
first attempts (which never need tokens) succeed and refill the bucket.

**A budget only limits the clients that share it.** Each ``Client`` made without ``budget=``
gets a budget of its own (so tests and notebooks stay independent of one another). A service
that builds a client per request therefore has no budget at all: 200 failing calls then send
600 requests. Create one budget when the service starts and give it to every client, or take
the process-wide one by name::

    budget = RetryBudget.shared()           # the same object everywhere in this process
    client = llmkit.Client(provider="openai", budget=budget)

Share one instance between clients of the same provider; it is thread-safe.
"""

from __future__ import annotations

import threading
from typing import ClassVar

from llmkit.errors import LLMError, TimeoutError

__all__ = ["RetryBudget"]


class RetryBudget:
    __slots__ = ("_lock", "_tokens", "capacity", "deposit_amount", "retry_cost", "timeout_cost")

    _shared: ClassVar[dict[str, RetryBudget]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def shared(cls, name: str = "default") -> RetryBudget:
        """The process-wide budget called ``name`` (default settings), made on first use.

        Every client given ``budget=RetryBudget.shared()`` draws on the same tokens, however
        many clients the process builds. Use one name per provider (or per upstream whose
        outages should not spend each other's retries).
        """
        with cls._shared_lock:
            budget = cls._shared.get(name)
            if budget is None:
                budget = cls._shared[name] = cls()
            return budget

    def __init__(
        self,
        capacity: float = 100.0,
        *,
        retry_cost: float = 5.0,
        timeout_cost: float = 10.0,
        deposit: float = 1.0,
    ) -> None:
        if capacity <= 0 or retry_cost <= 0 or timeout_cost <= 0 or deposit < 0:
            raise ValueError("capacity and costs must be positive, deposit non-negative")
        self.capacity = float(capacity)
        self.retry_cost = float(retry_cost)
        self.timeout_cost = float(timeout_cost)
        self.deposit_amount = float(deposit)
        self._tokens = float(capacity)
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        return self._tokens

    def cost_of(self, error: BaseException | None) -> float:
        return self.timeout_cost if isinstance(error, TimeoutError) else self.retry_cost

    def try_withdraw(self, error: BaseException | LLMError | None = None) -> bool:
        """Take the cost of one retry after ``error``; False (and nothing taken) if too few."""
        cost = self.cost_of(error)
        with self._lock:
            if self._tokens < cost:
                return False
            self._tokens -= cost
            return True

    def deposit(self, amount: float | None = None) -> None:
        """Record a success (``amount`` defaults to ``deposit``)."""
        add = self.deposit_amount if amount is None else amount
        if add <= 0:
            return
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + add)

    def __repr__(self) -> str:
        return (
            f"RetryBudget(tokens={self._tokens:g}/{self.capacity:g}, "
            f"retry_cost={self.retry_cost:g}, timeout_cost={self.timeout_cost:g}, "
            f"deposit={self.deposit_amount:g})"
        )
