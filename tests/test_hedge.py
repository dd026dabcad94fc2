"""Hedged requests on the virtual clock, and the clock's virtual-time asyncio scheduler."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from llmkit.clock import VirtualClock
from llmkit.errors import ServerError, TimeoutError
from llmkit.fallback import Target
from llmkit.hedge import HedgeBudget, HedgeLayer, HedgeOutcome, HedgePolicy, LatencyWindow
from llmkit.layers import CallContext
from llmkit.types import ChatRequest, ChatResponse, Message

REQ = ChatRequest(model="m", messages=(Message("user", "hi"),))

# ------------------------------------------------------------------ VirtualClock in asyncio


def test_concurrent_sleeps_share_virtual_time() -> None:
    clock = VirtualClock()

    async def main() -> None:
        await asyncio.gather(*(clock.asleep(1.0) for _ in range(50)))

    asyncio.run(main())
    assert clock.now() == 1.0


def test_tasks_wake_in_time_order_at_their_own_instant() -> None:
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.asleep(seconds)
        woke.append((name, clock.now()))

    async def main() -> None:
        await asyncio.gather(sleeper("c", 3), sleeper("a", 1), sleeper("b", 2), sleeper("a2", 1))

    asyncio.run(main())
    assert woke == [("a", 1.0), ("a2", 1.0), ("b", 2.0), ("c", 3.0)]


def test_chained_sleeps_add_up_and_busy_tasks_hold_time_back() -> None:
    clock = VirtualClock()
    seen: list[float] = []

    async def busy() -> None:
        for _ in range(100):  # runnable work: time must not jump while it runs
            seen.append(clock.now())
            await asyncio.sleep(0)

    async def sleeper() -> None:
        await clock.asleep(2)
        await clock.asleep(3)

    async def main() -> None:
        await asyncio.gather(busy(), sleeper())

    asyncio.run(main())
    assert set(seen) == {0.0}
    assert clock.now() == 5.0


def test_cancelled_sleep_does_not_move_the_clock() -> None:
    clock = VirtualClock()

    async def main() -> None:
        long = asyncio.create_task(clock.asleep(100))
        await clock.asleep(1)
        long.cancel()
        with pytest.raises(asyncio.CancelledError):
            await long
        await clock.asleep(1)
        assert clock.pending_sleeps() == 0

    asyncio.run(main())
    assert clock.now() == 2.0


def test_sync_sleep_and_advance_still_move_at_once() -> None:
    clock = VirtualClock()
    clock.sleep(3)
    clock.advance(1)
    assert clock.now() == 4.0

    async def main() -> None:
        waiter = asyncio.create_task(clock.asleep(10))
        await asyncio.sleep(0)
        clock.advance(10)  # a sync advance makes the sleeper due
        await waiter

    asyncio.run(main())
    assert clock.now() == 14.0


def test_wait_for_with_clock_timer_races_correctly() -> None:
    clock = VirtualClock()

    async def main() -> str:
        slow = asyncio.create_task(clock.asleep(5))
        timer = asyncio.create_task(clock.asleep(2))
        done, _ = await asyncio.wait({slow, timer}, return_when=asyncio.FIRST_COMPLETED)
        slow.cancel()
        return "timer" if timer in done else "slow"

    assert asyncio.run(main()) == "timer"
    assert clock.now() == 2.0


# ------------------------------------------------------------------ pure parts


def test_latency_window_percentile() -> None:
    w = LatencyWindow(size=100)
    assert w.percentile(0.95) is None
    for x in range(1, 21):
        w.observe(float(x))
    assert w.percentile(0.5) == 10.0
    assert w.percentile(0.9) == 18.0
    assert w.percentile(1.0) == 20.0
    w.observe(float("nan"))
    assert len(w) == 20


def test_policy_fixed_then_learned_delay() -> None:
    p = HedgePolicy(delay=2.0, percentile=0.9, min_samples=20, max_delay=15.0)
    w = LatencyWindow()
    assert p.hedge_delay(w) == 2.0  # not enough samples yet
    for x in range(1, 21):
        w.observe(float(x))
    assert p.hedge_delay(w) == 15.0  # p90 = 18, capped
    assert HedgePolicy(delay=None, percentile=0.9).hedge_delay(LatencyWindow()) is None
    with pytest.raises(ValueError, match="fixed delay"):
        HedgePolicy(delay=None, percentile=None)


def test_budget_caps_hedges_at_a_ratio_of_calls() -> None:
    b = HedgeBudget(ratio=0.1, initial=1.0)
    spent = 0
    for _ in range(100):
        b.deposit()
        spent += b.try_spend()
    assert spent <= 1 + 0.1 * 100
    assert spent >= 10
    assert b.hedges == spent


# ------------------------------------------------------------------ the layer


@dataclass(frozen=True)
class Marked:
    """An outcome of a test layer: which attempt reported it."""

    attempt: int


def hedged(ctx: CallContext) -> HedgeOutcome:
    out = ctx.outcome(HedgeOutcome)
    assert out is not None
    return out


class Attempts:
    """An async handler whose n-th attempt takes latencies[n] and may fail."""

    def __init__(self, *latencies: float, fail: set[int] | None = None) -> None:
        self.latencies = list(latencies)
        self.fail = fail or set()
        self.started: list[float] = []
        self.cancelled: list[int] = []

    async def __call__(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        n = len(self.started)
        self.started.append(ctx.clock.now())
        ctx.attempt += 1
        ctx.report(Marked(n))
        try:
            await ctx.clock.asleep(self.latencies[n])
        except asyncio.CancelledError:
            self.cancelled.append(n)
            raise
        if n in self.fail:
            raise ServerError(f"attempt {n} failed", status=500)
        return ChatResponse(f"answer {n}", "m", "p", finish_reason="stop")


def run(
    layer: HedgeLayer, handler: Attempts, clock: VirtualClock
) -> tuple[ChatResponse, CallContext]:
    ctx = CallContext("p", clock=clock)
    return asyncio.run(layer.ahandle(REQ, ctx, handler)), ctx


def test_slow_primary_is_hedged_and_cancelled() -> None:
    clock = VirtualClock()
    handler = Attempts(10.0, 1.0)
    layer = HedgeLayer(HedgePolicy(delay=2.0))
    r, ctx = run(layer, handler, clock)
    assert r.text == "answer 1"
    assert clock.now() == 3.0  # 2 s delay + 1 s hedge, not 10 s
    assert handler.started == [0.0, 2.0]
    assert handler.cancelled == [0]
    assert hedged(ctx) == HedgeOutcome(delay=2.0, fired=True, winner="hedge")
    assert ctx.outcome(Marked) == Marked(1)  # the winner's outcomes are the call's
    assert ctx.attempt == 2


def test_fast_primary_is_not_hedged_and_its_timer_costs_nothing() -> None:
    clock = VirtualClock()
    handler = Attempts(0.5)
    layer = HedgeLayer(HedgePolicy(delay=2.0))
    r, ctx = run(layer, handler, clock)
    assert r.text == "answer 0"
    assert clock.now() == 0.5
    assert hedged(ctx).fired is False
    assert layer.budget.hedges == 0


def test_primary_wins_if_it_finishes_first_after_the_hedge() -> None:
    clock = VirtualClock()
    handler = Attempts(3.0, 5.0)
    r, ctx = run(HedgeLayer(HedgePolicy(delay=1.0)), handler, clock)
    assert r.text == "answer 0"
    assert clock.now() == 3.0
    assert handler.cancelled == [1]
    assert hedged(ctx).winner == "primary"
    assert ctx.outcome(Marked) == Marked(0)  # the losing branch's outcomes are not adopted


def test_failed_attempt_waits_for_the_other() -> None:
    clock = VirtualClock()
    handler = Attempts(3.0, 5.0, fail={0})
    r, _ = run(HedgeLayer(HedgePolicy(delay=1.0)), handler, clock)
    assert r.text == "answer 1"
    assert clock.now() == 6.0


def test_both_fail_raises_the_primary_error() -> None:
    clock = VirtualClock()
    handler = Attempts(3.0, 1.0, fail={0, 1})
    with pytest.raises(ServerError, match="attempt 0"):
        run(HedgeLayer(HedgePolicy(delay=1.0)), handler, clock)


def test_hedge_to_another_target() -> None:
    clock = VirtualClock()
    primary = Attempts(10.0)
    backup = Attempts(1.0)
    layer = HedgeLayer(HedgePolicy(delay=2.0), target=Target("b", model="small", ahandler=backup))
    r, _ = run(layer, primary, clock)
    assert r.text == "answer 0"
    assert backup.started == [2.0]
    assert primary.cancelled == [0]


def test_budget_limits_hedges_over_many_concurrent_calls() -> None:
    clock = VirtualClock()
    layer = HedgeLayer(HedgePolicy(delay=1.0), HedgeBudget(ratio=0.1, initial=0.0))
    handler = Attempts(*([5.0] * 400))

    async def main() -> list[ChatResponse]:
        return await asyncio.gather(
            *(layer.ahandle(REQ, CallContext("p", clock=clock), handler) for _ in range(100))
        )

    results = asyncio.run(main())
    assert len(results) == 100
    assert layer.budget.calls == 100
    assert layer.budget.hedges <= 10
    assert len(handler.started) == 100 + layer.budget.hedges
    assert clock.now() == 5.0  # everything ran concurrently in virtual time


def test_learned_delay_from_recent_latencies() -> None:
    clock = VirtualClock()
    layer = HedgeLayer(HedgePolicy(delay=None, percentile=0.5, min_samples=3))
    for latency in (1.0, 2.0, 3.0):
        r, ctx = run(layer, Attempts(latency), clock)
        assert hedged(ctx).delay is None
    r, ctx = run(layer, Attempts(10.0, 0.5), clock)
    assert hedged(ctx).delay == 2.0
    assert r.text == "answer 1"


def test_deadline_passed_means_no_hedge() -> None:
    clock = VirtualClock()
    handler = Attempts(10.0, 1.0)
    ctx = CallContext("p", clock=clock, deadline=1.5)
    layer = HedgeLayer(HedgePolicy(delay=2.0))
    r = asyncio.run(layer.ahandle(REQ, ctx, handler))
    assert r.text == "answer 0"
    assert hedged(ctx).skipped == "deadline"


def test_outer_cancellation_cancels_both_attempts() -> None:
    clock = VirtualClock()
    handler = Attempts(10.0, 10.0)
    layer = HedgeLayer(HedgePolicy(delay=1.0))

    async def main() -> None:
        task = asyncio.create_task(layer.ahandle(REQ, CallContext("p", clock=clock), handler))
        await clock.asleep(2.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert sorted(handler.cancelled) == [0, 1]


def test_sync_calls_are_not_hedged() -> None:
    calls = 0

    def handler(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        nonlocal calls
        calls += 1
        raise TimeoutError("slow")

    ctx = CallContext("p", clock=VirtualClock())
    with pytest.raises(TimeoutError):
        HedgeLayer().handle(REQ, ctx, handler)
    assert calls == 1
    assert hedged(ctx) == HedgeOutcome(skipped="sync")


# ------------------------------------------------------------------ through llmkit.AsyncClient


def _slow_tail_run(hedge: bool) -> tuple[list[float], HedgeLayer | None, int]:
    from llmkit import AsyncClient
    from llmkit.sim import AsyncSimTransport, Simulator

    clock = VirtualClock()
    sim = Simulator("slow-tail", clock, seed=7)
    layer = HedgeLayer(HedgePolicy(delay=3.0), HedgeBudget(ratio=0.2, initial=2.0))
    client = AsyncClient(
        "openai",
        api_key="sk-test-123",
        transport=AsyncSimTransport(sim),
        clock=clock,
        retry=False,
        layers=[layer] if hedge else [],
    )
    msg = [{"role": "user", "content": "hi"}]

    async def one(i: int) -> float:
        await clock.asleep(i * 0.5)  # a steady arrival of calls
        start = clock.now()
        await client.chat(model="gpt-4o-mini", messages=msg, max_tokens=20)
        return clock.now() - start

    async def main() -> list[float]:
        try:
            return list(await asyncio.gather(*(one(i) for i in range(60))))
        finally:
            await client.aclose()

    return asyncio.run(main()), (layer if hedge else None), sim.requests


def test_async_client_hedging_cuts_the_slow_tail_within_budget() -> None:
    plain, _, plain_requests = _slow_tail_run(hedge=False)
    hedged, layer, hedged_requests = _slow_tail_run(hedge=True)
    assert layer is not None
    assert plain_requests == 60
    assert max(plain) > 3.0  # the scenario does have a slow tail
    assert layer.budget.hedges >= 1
    assert layer.budget.hedges <= 2 + 0.2 * 60
    assert hedged_requests == 60 + layer.budget.hedges
    slow_plain = sum(x > 3.5 for x in plain)
    slow_hedged = sum(x > 3.5 for x in hedged)
    assert slow_hedged < slow_plain


class BuggyLoser(Attempts):
    """The losing attempt hits a bug (not an LLMError) while being cancelled."""

    async def __call__(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        try:
            return await super().__call__(request, ctx)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup bug in the losing branch") from None


def test_a_bug_in_a_losing_hedge_is_logged_not_swallowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    handler = BuggyLoser(10.0, 1.0)
    with caplog.at_level("ERROR", logger="llmkit.hedge"):
        r, _ = run(HedgeLayer(HedgePolicy(delay=2.0)), handler, clock)
    assert r.text == "answer 1"  # the winner's answer still stands
    assert handler.cancelled == [0]
    assert any("cleanup bug" in (rec.exc_text or "") for rec in caplog.records)
