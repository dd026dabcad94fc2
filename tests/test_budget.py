"""The shared retry budget: exhaustion stops retries, successes refill it, threads are safe."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from llmkit.budget import RetryBudget
from llmkit.client import AsyncClient, Client
from llmkit.clock import VirtualClock
from llmkit.errors import LLMError, ServerError, TimeoutError
from llmkit.telemetry import MemorySink
from llmkit.testing import Scripted, ScriptedTransport

MSGS = [{"role": "user", "content": "hi"}]
BODY = {
    "id": "c1",
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}
DOWN = Scripted(status=503, json={"error": {"message": "down"}}, latency=0.05)
UP = Scripted(json=BODY, latency=0.05)


class Provider:
    """A scripted provider that can be switched down and up; several clients share it."""

    def __init__(self, clock: VirtualClock) -> None:
        self.down = True
        self.transport = ScriptedTransport(clock, [lambda request: DOWN if self.down else UP])


def test_withdraw_and_deposit() -> None:
    b = RetryBudget(10, retry_cost=5, timeout_cost=10, deposit=1)
    assert b.try_withdraw(ServerError("x"))
    assert b.tokens == 5
    assert not b.try_withdraw(TimeoutError("x"))  # costs 10, only 5 left: nothing taken
    assert b.tokens == 5
    assert b.try_withdraw(None)
    assert not b.try_withdraw(None)
    for _ in range(30):
        b.deposit()
    assert b.tokens == 10  # capped at capacity
    assert "10/10" in repr(b)
    with pytest.raises(ValueError, match="capacity"):
        RetryBudget(0)


def test_thread_safe_withdrawals() -> None:
    b = RetryBudget(1000, retry_cost=1)
    granted = []

    def worker() -> None:
        n = 0
        for _ in range(400):
            if b.try_withdraw():
                n += 1
        granted.append(n)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 1000
    assert b.tokens == 0


def _call(client: Any) -> str:
    if isinstance(client, Client):
        try:
            return client.chat(model="m", messages=MSGS).text
        except LLMError:
            return "failed"

    async def go() -> str:
        try:
            return (await client.chat(model="m", messages=MSGS)).text  # type: ignore[no-any-return]
        except LLMError:
            return "failed"

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_outage_exhausts_shared_budget_then_recovery_refills(mode: str) -> None:
    clock = VirtualClock()
    provider = Provider(clock)
    budget = RetryBudget(20, retry_cost=5, deposit=1)
    sink = MemorySink()
    cls = Client if mode == "sync" else AsyncClient
    clients = [
        cls(
            transport=provider.transport,
            clock=clock,
            budget=budget,
            retry=3,
            telemetry=sink,
            deadline=None,
            seed=i,
        )
        for i in range(2)
    ]
    # Outage: 20 tokens pay for 4 retries in total, shared by both clients.
    for i in range(10):
        assert _call(clients[i % 2]) == "failed"
    sent = len(provider.transport.requests)
    assert sent == 10 + 4  # without a budget it would be 10 * 3 = 30
    calls = sink.calls()
    assert [c.attempt for c in calls[:2]] == [3, 3]  # 2 + 2 retries: budget 20 -> 0
    assert not any(c.budget_denied for c in calls[:2])
    assert all(c.attempt == 1 and c.budget_denied for c in calls[2:])
    denied = [a for a in sink.attempts() if a.retry_decision == "budget_denied"]
    assert len(denied) == 8
    assert all(a.budget_denied for a in denied)
    assert budget.tokens < 5

    # Recovery: first attempts need no tokens; each success deposits one.
    provider.down = False
    for i in range(10):
        assert _call(clients[i % 2]) == "ok"
    assert budget.tokens == 10

    # Retries are possible again once the bucket holds a retry's cost.
    provider.down = True
    before = len(provider.transport.requests)
    assert _call(clients[0]) == "failed"
    assert len(provider.transport.requests) - before == 3


def test_budget_off_means_unlimited_retries() -> None:
    clock = VirtualClock()
    provider = Provider(clock)
    client = Client(transport=provider.transport, clock=clock, budget=False, retry=3, deadline=None)
    for _ in range(10):
        _call(client)
    assert len(provider.transport.requests) == 30
    assert client.budget is None
    assert Client(transport=provider.transport).budget is not None  # on by default
