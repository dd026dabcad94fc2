"""Quotas per account, workflow and job: reserve the worst case, then settle what was used.

A limit is keyed by one of the request's tags (``account``, ``workflow``, ``job`` or any tag)
and caps requests, tokens and/or dollars per window: ``minute``, ``hour``, ``day``, ``month``
(calendar windows in UTC, so every process agrees where one ends) or ``lifetime`` (a job's
whole life). Several limits apply at once; a call is admitted only if it fits all of them.

Check-then-act is the classic bug: two workers read "90 of 100 used", both send a 10-token
call, and the quota ends at 110. So the layer **reserves** before sending -- the worst case:
one request, the input estimate plus the output cap in tokens, and that priced in dollars --
atomically in the store (check and increment are one step), then **settles** after the call:
the reservation is replaced by what every attempt below it was billed for (often less), or
given back when the call failed having used nothing. A stream cut part-way was billed for what
it generated: the transport reports it as the attempt's ``partial`` (the provider's counts, or
llmkit's where it sent none), and that is charged -- a stream cut after 300 output tokens
costs its input and 300 tokens. An answer served from cache below this layer costs nothing.
The stores (memory, SQLite, Redis) are in ``llmkit.quota.stores``;
``benchmarks/quota_race.py`` shows the overshoot of both approaches.

A refused call raises :class:`~llmkit.errors.OverQuotaError` (kind ``over_quota``) naming the
limit, its usage and when the window frees up (``retry_after``), before anything is sent. When
the store is unreachable the layer fails closed (:class:`~llmkit.errors.QuotaUnavailableError`)
unless ``fail_open=True``, which lets the call through and records a
``quota.store_unavailable`` event row.
"""

from __future__ import annotations

import asyncio
import calendar
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from llmkit.errors import OverQuotaError, QuotaUnavailableError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.prices import ModelRates, PriceBook, default_prices
from llmkit.quota.stores import Charge, QuotaStore
from llmkit.tokens import estimate_request_tokens
from llmkit.types import ChatRequest, ChatResponse

__all__ = ["QuotaLayer", "QuotaLimit", "QuotaOutcome", "Ticket", "Used", "window_bounds"]

Window = Literal["minute", "hour", "day", "month", "lifetime"]
Metric = Literal["requests", "tokens", "dollars"]
NANO = Decimal(1_000_000_000)
"""Dollars are counted in integer nano-dollars, so every store adds integers atomically."""


def window_bounds(window: Window, wall: float) -> tuple[int, float | None]:
    """Start (unix s) and end (None: lifetime) of the calendar window holding ``wall``."""
    if window == "lifetime":
        return 0, None
    if window == "minute":
        start = int(wall // 60 * 60)
        return start, start + 60.0
    if window == "hour":
        start = int(wall // 3600 * 3600)
        return start, start + 3600.0
    if window == "day":
        start = int(wall // 86400 * 86400)
        return start, start + 86400.0
    if window == "month":
        d = datetime.fromtimestamp(wall, tz=UTC)
        start_dt = d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        days = calendar.monthrange(d.year, d.month)[1]
        start = int(start_dt.timestamp())
        return start, start + days * 86400.0
    raise ValueError(f"unknown window {window!r}")


@dataclass(frozen=True, slots=True)
class QuotaLimit:
    """Caps for each value of one tag (``QuotaLimit("account", "day", tokens=1_000_000)``):
    every account gets its own counter. ``value`` restricts it to one tag value."""

    tag: str
    window: Window = "day"
    requests: int | None = None
    tokens: int | None = None
    dollars: Decimal | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        if not self.tag:
            raise ValueError("a quota limit needs a tag (account, workflow, job, ...)")
        window_bounds(self.window, 0.0)  # validates the window name
        if self.requests is None and self.tokens is None and self.dollars is None:
            raise ValueError("a quota limit needs requests=, tokens= or dollars=")
        for name in ("requests", "tokens"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 0):
                raise ValueError(f"{name} must be a non-negative int, got {v!r}")
        if self.dollars is not None:
            d = Decimal(str(self.dollars))
            if not d.is_finite() or d < 0:
                raise ValueError(f"dollars must be non-negative, got {self.dollars!r}")
            object.__setattr__(self, "dollars", d)

    def applies(self, tags: Mapping[str, str]) -> str | None:
        """The tag value this limit counts for the request's ``tags``, or None."""
        value = tags.get(self.tag)
        if value is None or (self.value is not None and value != self.value):
            return None
        return str(value)

    def caps(self) -> list[tuple[Metric, int]]:
        out: list[tuple[Metric, int]] = []
        if self.requests is not None:
            out.append(("requests", self.requests))
        if self.tokens is not None:
            out.append(("tokens", self.tokens))
        if self.dollars is not None:
            out.append(("dollars", int(self.dollars * NANO)))
        return out


@dataclass(frozen=True, slots=True)
class Ticket:
    """A reservation in flight: the charges made, to settle or give back."""

    charges: tuple[Charge, ...]
    metrics: tuple[Metric, ...]
    tokens: int
    nano_dollars: int
    provider: str = ""
    model: str = ""


@dataclass(frozen=True, slots=True)
class Used:
    """What a call was billed for, to settle its :class:`Ticket` with."""

    tokens: int
    cost: Decimal | None
    """Dollars; None when unknown (the reservation's dollars are then kept)."""
    billed: bool = True
    """False: nothing was generated (a failed call), so the request is given back too."""

    @classmethod
    def of(
        cls, billed: Sequence[ChatResponse], ticket: Ticket, prices: PriceBook | None, at: float
    ) -> Used:
        """The sum over ``billed`` (answers and partial streams). A count the provider did not
        report keeps the reservation's worst case for that answer; a cost the client did not
        price is priced with ``prices`` (or kept at the worst case when it cannot be)."""
        if not billed:
            return cls(0, Decimal(0), billed=False)
        tokens, cost = 0, Decimal(0)
        known = True
        for r in billed:
            total = r.usage.total_tokens
            tokens += ticket.tokens if total is None else total
            c = r.cost
            if c is None and total is not None and prices is not None:
                c = prices.cost(ticket.provider, r.model or ticket.model, r.usage, at=at)
            if c is None:
                known = False
            else:
                cost += c
        return cls(tokens, cost if known else None)


@dataclass(frozen=True, slots=True)
class QuotaOutcome:
    """What the quota layer did for one call (telemetry columns ``llmkit.quota.*``)."""

    decision: str
    """``admitted``, ``refused``, ``store_unavailable`` (failed closed) or ``fail_open``."""
    limit: str | None = None
    """The refusing limit (``account=acme:tokens/day``), when refused."""
    reserved_tokens: int | None = None
    charged_tokens: int | None = None
    charged_cost: float | None = None
    """Dollars charged at settlement (float; the store counts nano-dollars)."""


register_columns(
    QuotaOutcome,
    Column("quota_decision", "llmkit.quota.decision", call=lambda o: o.decision,
           doc="admitted | refused | store_unavailable | fail_open"),
    Column("quota_limit", "llmkit.quota.limit", call=lambda o: o.limit,
           doc="the limit that refused the call"),
    Column("quota_reserved_tokens", "llmkit.quota.reserved_tokens",
           call=lambda o: o.reserved_tokens, doc="worst case reserved before sending"),
    Column("quota_charged_tokens", "llmkit.quota.charged_tokens",
           call=lambda o: o.charged_tokens, doc="tokens charged after the call"),
    Column("quota_charged_cost", "llmkit.quota.charged_cost", call=lambda o: o.charged_cost,
           doc="dollars charged after the call"),
)  # fmt: skip


class QuotaLayer:
    """Reserve-then-settle quotas (a call-level layer: ``Client(layers=[QuotaLayer(...)])``).

    ``output_reserve``: tokens reserved for the answer when a request sets no ``max_tokens``
    (put a ``BudgetLayer`` above to set one). ``clock`` wall time picks the window.
    """

    def __init__(
        self,
        limits: Sequence[QuotaLimit],
        store: QuotaStore,
        *,
        prices: PriceBook | None = None,
        fail_open: bool = False,
        output_reserve: int = 4096,
    ) -> None:
        if not limits:
            raise ValueError("give at least one QuotaLimit")
        self.limits = tuple(limits)
        self.store = store
        self.prices = prices
        self.fail_open = fail_open
        self.output_reserve = output_reserve

    # -- the two steps, usable without a client (see benchmarks/quota_race.py)

    def charges(
        self, request: ChatRequest, provider: str, wall: float, *, input_tokens: int | None = None
    ) -> tuple[list[Charge], list[Metric], list[QuotaLimit], int, int]:
        """The worst-case charges for ``request`` against every limit that applies."""
        applied = [(lim, v) for lim in self.limits if (v := lim.applies(request.tags)) is not None]
        if not applied:
            return [], [], [], 0, 0
        if input_tokens is None:
            input_tokens = estimate_request_tokens(request, provider)
        output = request.max_tokens or self.output_reserve
        tokens = input_tokens + output
        nano = 0
        if any(lim.dollars is not None for lim, _ in applied):
            book = self.prices or default_prices()
            rates = book.rates(provider, request.model, at=wall)
            if not isinstance(rates, ModelRates):
                raise OverQuotaError(
                    f"model {request.model} has no price, so a dollar quota cannot be checked; "
                    "not sent (add it to the PriceBook)",
                    code="unpriced",
                    used=0,
                    limit=0,
                    retry_after=None,
                    provider=provider,
                )
            worst = (input_tokens * rates.input + output * rates.output) / Decimal(1_000_000)
            nano = math.ceil(worst * NANO)
        out: list[Charge] = []
        metrics: list[Metric] = []
        owners: list[QuotaLimit] = []
        for lim, value in applied:
            start, end = window_bounds(lim.window, wall)
            for metric, cap in lim.caps():
                amount = 1 if metric == "requests" else tokens if metric == "tokens" else nano
                key = f"{lim.tag}={value}:{metric}:{lim.window}:{start}"
                out.append(Charge(key, amount, cap, end))
                metrics.append(metric)
                owners.append(lim)
        return out, metrics, owners, tokens, nano

    def reserve(self, request: ChatRequest, provider: str, wall: float) -> Ticket:
        """Reserve the worst case or raise :class:`OverQuotaError` (nothing reserved)."""
        charges, metrics, owners, tokens, nano = self.charges(request, provider, wall)
        if not charges:
            return Ticket((), (), 0, 0, provider, request.model)
        refused = self.store.reserve(charges, now=wall)
        if refused is not None:
            raise _refusal(
                refused.index,
                refused.used,
                charges=charges,
                metrics=metrics,
                owners=owners,
                wall=wall,
                provider=provider,
            )
        return Ticket(tuple(charges), tuple(metrics), tokens, nano, provider, request.model)

    def settle(
        self, ticket: Ticket, used: Used | ChatResponse | None, wall: float
    ) -> tuple[int, Decimal | None]:
        """Replace the reservation by what was used: a :class:`Used`, one answer, or None (a
        failed call that generated nothing: all of it given back, the request too)."""
        if not ticket.charges:
            return 0, None
        if not isinstance(used, Used):
            used = Used.of([] if used is None else [used], ticket, self.prices, wall)
        used_nano = ticket.nano_dollars if used.cost is None else math.ceil(used.cost * NANO)
        deltas = []
        for c, metric in zip(ticket.charges, ticket.metrics, strict=True):
            if metric == "requests":
                delta = 0 if used.billed else -1
            elif metric == "tokens":
                delta = used.tokens - ticket.tokens
            else:
                delta = used_nano - ticket.nano_dollars
            if delta:
                deltas.append(Charge(c.key, delta, c.limit, c.expires_at))
        if deltas:
            self.store.adjust(deltas, now=wall)
        return used.tokens, used.cost

    # -- the layer

    def _admit(self, request: ChatRequest, ctx: CallContext) -> Ticket | None:
        try:
            ticket = self.reserve(request, ctx.provider, ctx.clock.wall())
        except OverQuotaError as err:
            ctx.report(QuotaOutcome("refused", limit=err.code))
            raise
        except QuotaUnavailableError as err:
            if not self.fail_open:
                ctx.report(QuotaOutcome("store_unavailable"))
                raise
            ctx.report(QuotaOutcome("fail_open"))
            ctx.event("quota.store_unavailable", target="quota", reason=err.message)
            return None
        ctx.report(QuotaOutcome("admitted", reserved_tokens=ticket.tokens or None))
        return ticket

    def _done(self, ticket: Ticket | None, first: int, ctx: CallContext) -> None:
        """Settle with what the attempts since ``first`` (in ``ctx.attempts``) were billed."""
        if ticket is None or not ticket.charges:
            return
        wall = ctx.clock.wall()
        billed = [b for a in ctx.attempts[first:] if (b := a.billed) is not None]
        try:
            tokens, cost = self.settle(ticket, Used.of(billed, ticket, self.prices, wall), wall)
        except QuotaUnavailableError as err:
            ctx.event("quota.settle_failed", target="quota", reason=err.message)
            return
        ctx.report(
            QuotaOutcome(
                "admitted",
                reserved_tokens=ticket.tokens,
                charged_tokens=tokens,
                charged_cost=None if cost is None else float(cost),
            )
        )

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        first = len(ctx.attempts)
        ticket = self._admit(request, ctx)
        try:
            response = next(request, ctx)
        except BaseException:
            self._done(ticket, first, ctx)
            raise
        self._finish(ticket, first, ctx)
        return response

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        first = len(ctx.attempts)
        ticket = await asyncio.to_thread(self._admit, request, ctx)
        try:
            response = await next(request, ctx)
        except BaseException:
            await asyncio.to_thread(self._done, ticket, first, ctx)
            raise
        if ctx.deliver_stream and ctx.stream is not None:
            self._finish(ticket, first, ctx)
        else:
            await asyncio.to_thread(self._done, ticket, first, ctx)
        return response

    def _finish(self, ticket: Ticket | None, first: int, ctx: CallContext) -> None:
        if ctx.deliver_stream and ctx.stream is not None:
            # A delivered stream is settled when it ends: whole, cut or closed early.
            ctx.at_stream_end(lambda _final, _error: self._done(ticket, first, ctx))
        else:
            self._done(ticket, first, ctx)

    def __repr__(self) -> str:
        return f"QuotaLayer({len(self.limits)} limits, store={self.store!r})"


def _refusal(
    index: int,
    used: int,
    *,
    charges: Sequence[Charge],
    metrics: Sequence[Metric],
    owners: Sequence[QuotaLimit],
    wall: float,
    provider: str,
) -> OverQuotaError:
    charge, metric, lim = charges[index], metrics[index], owners[index]
    value = charge.key.split(":", 1)[0]
    name = f"{value}:{metric}/{lim.window}"
    wait = None if charge.expires_at is None else max(0.0, charge.expires_at - wall)
    if metric == "dollars":
        shown = f"${Decimal(used) / NANO:.6f} of ${Decimal(charge.limit) / NANO:.6f} used"
        asked = f"this call may cost ${Decimal(charge.amount) / NANO:.6f}"
    else:
        shown = f"{used} of {charge.limit} {metric} used"
        asked = f"this call needs up to {charge.amount}"
    frees = "never (lifetime limit)" if wait is None else f"in {wait:.0f}s"
    return OverQuotaError(
        f"over quota {name}: {shown}, {asked}; the window frees up {frees}; not sent",
        code=name,
        used=used,
        limit=charge.limit,
        retry_after=wait,
        provider=provider,
    )
