"""Per-request budgets: a cap on input tokens, output tokens and dollars, checked before sending.

A runaway prompt (a whole document pasted into a chat box, a loop that appends to the history)
costs money the moment it is sent. ``BudgetLayer`` looks at the request as it will go on the
wire, estimates its input tokens (``llmkit.estimate_input_tokens``, or an exact ``counter`` such
as ``Client.count_tokens``), and before any network call:

- refuses it with :class:`~llmkit.errors.OverBudgetError` (kind ``over_budget``, never retried)
  when the input is over ``max_input_tokens``, naming the estimate and the limit;
- sets ``max_tokens`` to ``max_output_tokens`` when the request has none, or lowers it to fit;
- with ``max_cost`` (US dollars), prices the worst case -- the input estimate plus the output
  cap, at the model's rates from ``llmkit.prices`` -- lowers the output cap until it fits, and
  refuses when even one output token would not (or when the model has no price: a dollar cap
  that cannot be checked is not a cap).

Not to be confused with ``llmkit.RetryBudget`` (how many retries the whole client may spend).

The decision is a pure function, :func:`decide`, of the estimate, the request's ``max_tokens``
and the model's rates; its :class:`BudgetOutcome` is what telemetry records, as the
``llmkit.budget.*`` columns registered below (refused calls included).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from llmkit.errors import OverBudgetError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.prices import ModelRates, PriceBook, default_prices
from llmkit.providers import adapter_for
from llmkit.providers.base import Adapter
from llmkit.tokens import estimate_request_tokens
from llmkit.types import ChatRequest, ChatResponse

__all__ = ["BudgetLayer", "BudgetOutcome", "RequestBudget", "decide"]

_MTOK = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class RequestBudget:
    """Limits for one request; None = no limit of that kind."""

    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_cost: Decimal | None = None
    """US dollars for the worst case (estimated input + output cap)."""

    def __post_init__(self) -> None:
        for name in ("max_input_tokens", "max_output_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.max_cost is not None:
            cost = Decimal(str(self.max_cost))
            if not cost.is_finite() or cost <= 0:
                raise ValueError(f"max_cost must be positive dollars, got {self.max_cost!r}")
            object.__setattr__(self, "max_cost", cost)


@dataclass(frozen=True, slots=True)
class BudgetOutcome:
    """What the budget decided for one request (telemetry turns it into columns)."""

    decision: str
    """``ok``, ``capped`` (max_tokens set or lowered), or the refused limit: ``input_tokens``,
    ``cost``, ``unpriced``."""
    input_estimate: int
    max_tokens: int | None
    """The output cap the request was sent with (None: none)."""
    worst_cost: Decimal | None
    """Estimated worst case in dollars (None: no dollar cap, or the model is unpriced)."""
    exact: bool = False
    """The input count came from the provider's counting endpoint, not the estimate."""

    @property
    def refused(self) -> bool:
        return self.decision not in ("ok", "capped")


def decide(
    budget: RequestBudget,
    input_estimate: int,
    max_tokens: int | None,
    rates: ModelRates | None,
    *,
    exact: bool = False,
) -> BudgetOutcome:
    """The pure budget decision (no I/O): refuse, or the ``max_tokens`` to send with."""
    if budget.max_input_tokens is not None and input_estimate > budget.max_input_tokens:
        return BudgetOutcome("input_tokens", input_estimate, max_tokens, None, exact)
    cap = max_tokens
    if budget.max_output_tokens is not None and (cap is None or cap > budget.max_output_tokens):
        cap = budget.max_output_tokens
    worst: Decimal | None = None
    if budget.max_cost is not None:
        if rates is None:
            return BudgetOutcome("unpriced", input_estimate, cap, None, exact)
        input_cost = input_estimate * rates.input / _MTOK
        room = budget.max_cost - input_cost
        if rates.output > 0:
            fits = math.floor(room * _MTOK / rates.output) if room > 0 else 0
            if fits < 1:
                worst = input_cost + rates.output / _MTOK
                return BudgetOutcome("cost", input_estimate, cap, worst, exact)
            cap = fits if cap is None else min(cap, fits)
        elif room < 0:
            return BudgetOutcome("cost", input_estimate, cap, input_cost, exact)
        worst = input_cost + (cap or 0) * rates.output / _MTOK
    decision = "ok" if cap == max_tokens else "capped"
    return BudgetOutcome(decision, input_estimate, cap, worst, exact)


def _dollars(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


register_columns(
    BudgetOutcome,
    Column("budget_decision", "llmkit.budget.decision", call=lambda o: o.decision,
           doc="ok | capped | input_tokens | cost | unpriced (refused before sending)"),
    Column("budget_input_estimate", "llmkit.budget.input_estimate",
           call=lambda o: o.input_estimate, doc="input tokens estimated (or counted)"),
    Column("budget_max_tokens", "llmkit.budget.max_tokens", call=lambda o: o.max_tokens,
           doc="the output cap sent"),
    Column("budget_worst_cost", "llmkit.budget.worst_cost", call=lambda o: _dollars(o.worst_cost),
           doc="worst-case dollars under a dollar cap (float)"),
    Column("budget_exact", "llmkit.budget.exact", call=lambda o: o.exact,
           doc="the input count came from the provider's counting endpoint"),
)  # fmt: skip


Counter = Callable[[ChatRequest], int]
"""An exact input-token count for a request (e.g. ``client.count_tokens_for``)."""


class BudgetLayer:
    """Checks each call against a :class:`RequestBudget` before it is sent (a call-level
    layer: ``Client(layers=[BudgetLayer(...)])``). It reports a :class:`BudgetOutcome`."""

    def __init__(
        self,
        budget: RequestBudget,
        *,
        prices: PriceBook | None = None,
        counter: Counter | None = None,
        adapter: Adapter | None = None,
    ) -> None:
        self.budget = budget
        self.prices = prices
        self.counter = counter
        self.adapter = adapter
        """Builds the wire body to estimate (default: the context's provider's adapter)."""

    def _check(self, request: ChatRequest, ctx: CallContext) -> ChatRequest:
        if self.counter is not None:
            estimate, exact = self.counter(request), True
        else:
            adapter = self.adapter or adapter_for(ctx.provider)
            estimate, exact = estimate_request_tokens(request, ctx.provider, adapter), False
        rates = None
        if self.budget.max_cost is not None:
            book = self.prices or default_prices()
            found = book.rates(ctx.provider, request.model, at=ctx.clock.wall())
            rates = found if isinstance(found, ModelRates) else None
        outcome = decide(self.budget, estimate, request.max_tokens, rates, exact=exact)
        ctx.report(outcome)
        if outcome.refused:
            raise _refusal(outcome, self.budget, request, ctx.provider)
        if outcome.max_tokens != request.max_tokens:
            request = request.with_(max_tokens=outcome.max_tokens)
        return request

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        return next(self._check(request, ctx), ctx)

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        return await next(self._check(request, ctx), ctx)

    def __repr__(self) -> str:
        return f"BudgetLayer({self.budget!r})"


def _refusal(
    outcome: BudgetOutcome, budget: RequestBudget, request: ChatRequest, provider: str
) -> OverBudgetError:
    how = "counted" if outcome.exact else "estimated"
    if outcome.decision == "input_tokens":
        return OverBudgetError(
            f"request to {request.model} is over budget: {outcome.input_estimate} input tokens "
            f"{how}, limit {budget.max_input_tokens}; not sent",
            code="input_tokens",
            estimate=outcome.input_estimate,
            limit=budget.max_input_tokens,
            provider=provider,
        )
    if outcome.decision == "unpriced":
        return OverBudgetError(
            f"request to {request.model} has a dollar cap of ${budget.max_cost} but the model "
            f"has no price (add one to the PriceBook); not sent",
            code="unpriced",
            estimate=None,
            limit=budget.max_cost,
            provider=provider,
        )
    return OverBudgetError(
        f"request to {request.model} is over budget: worst case ${outcome.worst_cost:.6f} "
        f"({outcome.input_estimate} input tokens {how} + at least 1 output token), "
        f"limit ${budget.max_cost}; not sent",
        code="cost",
        estimate=outcome.worst_cost,
        limit=budget.max_cost,
        provider=provider,
    )
