"""Retries: attempt counts, full-jitter bounds, Retry-After, fail-fast, x-should-retry.

Every scenario runs through ``Client`` and ``AsyncClient`` (the ``mode`` fixture), on a
virtual clock with a scripted transport, so nothing really sleeps.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from llmkit.budget import RetryBudget
from llmkit.client import AsyncClient, Client
from llmkit.clock import VirtualClock
from llmkit.errors import (
    AuthError,
    BadRequestError,
    LLMError,
    RateLimitError,
    ServerError,
)
from llmkit.retry import RetryPolicy
from llmkit.telemetry import MemorySink
from llmkit.testing import Scripted, ScriptedTransport
from llmkit.types import ChatResponse

MSGS = [{"role": "user", "content": "hi"}]
OK = Scripted(
    json={
        "id": "c1",
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    },
    latency=0.2,
)


def err(status: int, headers: dict[str, str] | None = None, latency: float = 0.1) -> Scripted:
    return Scripted(
        status=status,
        json={"error": {"message": f"status {status}", "type": "server_error"}},
        headers=headers or {},
        latency=latency,
    )


class Harness:
    """Runs one call through a sync or async client and reports what happened."""

    def __init__(self, mode: str, script: list[Scripted], **options: Any) -> None:
        self.mode = mode
        self.clock = VirtualClock()
        self.sink = MemorySink()
        self.transport = ScriptedTransport(self.clock, script)
        options.setdefault("seed", 7)
        options.setdefault("budget", False)
        cls = Client if mode == "sync" else AsyncClient
        self.client: Client | AsyncClient = cls(
            transport=self.transport, clock=self.clock, telemetry=self.sink, **options
        )

    def call(self, **kw: Any) -> ChatResponse:
        kw.setdefault("model", "gpt-4o-mini")
        kw.setdefault("messages", MSGS)
        if isinstance(self.client, Client):
            return self.client.chat(**kw)
        client = self.client

        async def go() -> ChatResponse:
            return await client.chat(**kw)

        return asyncio.run(go())

    def delays(self) -> list[float]:
        return [a.retry_delay for a in self.sink.attempts() if a.retry_delay is not None]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_success_after_retries_counts_attempts(mode: str) -> None:
    h = Harness(mode, [err(500), err(502), OK])
    resp = h.call()
    assert resp.text == "ok"
    assert len(h.transport.requests) == 3
    assert [a.attempt for a in h.sink.attempts()] == [1, 2, 3]
    assert [a.retry_decision for a in h.sink.attempts()] == ["retry", "retry", None]
    (call,) = h.sink.calls()
    assert call.attempt == 3
    assert call.retry_delay == pytest.approx(sum(h.delays()))


def test_max_attempts_then_last_error(mode: str) -> None:
    h = Harness(mode, [err(500)], retry=RetryPolicy(max_attempts=4))
    with pytest.raises(ServerError) as info:
        h.call()
    assert info.value.status == 500
    assert len(h.transport.requests) == 4
    assert h.sink.attempts()[-1].retry_decision == "max_attempts"


def test_retry_int_and_false(mode: str) -> None:
    h = Harness(mode, [err(500)], retry=2)
    with pytest.raises(ServerError):
        h.call()
    assert len(h.transport.requests) == 2
    h = Harness(mode, [err(500)], retry=False)
    with pytest.raises(ServerError):
        h.call()
    assert len(h.transport.requests) == 1


def test_delays_within_full_jitter_bounds(mode: str) -> None:
    policy = RetryPolicy(max_attempts=6, base=0.5, cap=3.0)
    h = Harness(mode, [err(500, latency=0.0)], retry=policy, deadline=None)
    with pytest.raises(ServerError):
        h.call()
    delays = h.delays()
    assert len(delays) == 5
    for n, d in enumerate(delays, start=1):
        assert 0.0 <= d <= min(3.0, 0.5 * 2 ** (n - 1))
    # the clock moved by exactly the sleeps (scripted latency is 0)
    assert h.clock.now() == pytest.approx(sum(delays))


def test_jitter_is_seeded_and_spread() -> None:
    policy = RetryPolicy(base=1.0, cap=100.0)
    a = [policy.delay(3, None, random.Random(1)) for _ in range(3)]
    b = [policy.delay(3, None, random.Random(1)) for _ in range(3)]
    assert a == b
    rng = random.Random(2)
    draws = [policy.delay(3, None, rng) for _ in range(2000)]
    assert min(draws) >= 0.0
    assert max(draws) <= 4.0
    assert min(draws) < 0.2
    assert max(draws) > 3.8  # full jitter: the whole [0, ceiling] range is used


def test_same_seed_same_delays(mode: str) -> None:
    runs = []
    for _ in range(2):
        h = Harness(mode, [err(500)], seed=42, deadline=None)
        with pytest.raises(ServerError):
            h.call()
        runs.append(h.delays())
    assert runs[0] == runs[1]


def test_retry_after_is_a_floor(mode: str) -> None:
    h = Harness(mode, [err(429, {"retry-after": "3"}), OK])
    h.call()
    (delay,) = h.delays()
    assert delay >= 3.0
    assert delay <= 3.0 + RetryPolicy().base  # max(retry_after, backoff<=base)
    first, second = h.sink.attempts()
    assert second.timestamp - first.timestamp == pytest.approx(0.1 + delay)  # latency, sleep


def test_retry_after_ms_header(mode: str) -> None:
    h = Harness(mode, [err(429, {"retry-after-ms": "1500"}), OK], retry=RetryPolicy(base=0.01))
    h.call()
    assert h.delays()[0] == pytest.approx(1.5)


def test_retry_after_too_long_fails_fast(mode: str) -> None:
    h = Harness(mode, [err(429, {"retry-after": "90"}), OK], deadline=None)
    with pytest.raises(RateLimitError) as info:
        h.call()
    assert info.value.retry_after == 90
    assert len(h.transport.requests) == 1
    assert h.clock.now() < 1.0  # did not sleep
    assert h.sink.attempts()[0].retry_decision == "retry_after_too_long"


def test_retry_after_past_deadline_fails_fast_with_the_error(mode: str) -> None:
    h = Harness(mode, [err(429, {"retry-after": "20"}), OK], deadline=10.0)
    with pytest.raises(RateLimitError):
        h.call()
    assert len(h.transport.requests) == 1
    assert h.clock.now() == pytest.approx(0.1)  # only the first attempt's latency
    assert h.sink.attempts()[0].retry_decision == "deadline"


def test_backoff_past_deadline_fails_fast(mode: str) -> None:
    # deadline 2 s, each failure takes 1.5 s: the next backoff + min attempt cannot fit.
    h = Harness(mode, [err(500, latency=1.5)], deadline=2.0, retry=RetryPolicy(base=1.0))
    with pytest.raises(ServerError):
        h.call()
    assert h.clock.now() <= 2.0
    assert h.sink.attempts()[-1].retry_decision == "deadline"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_non_retryable_never_retried(mode: str, status: int) -> None:
    h = Harness(mode, [err(status), OK])
    with pytest.raises(LLMError) as info:
        h.call()
    assert not info.value.retryable
    assert len(h.transport.requests) == 1
    assert h.sink.attempts()[0].retry_decision == "not_retryable"
    if status == 401:
        assert isinstance(info.value, AuthError)


def test_x_should_retry_false_stops_a_retryable_status(mode: str) -> None:
    h = Harness(mode, [err(500, {"x-should-retry": "false"}), OK])
    with pytest.raises(ServerError) as info:
        h.call()
    assert info.value.retryable is False
    assert len(h.transport.requests) == 1


def test_x_should_retry_true_retries_a_client_error(mode: str) -> None:
    h = Harness(mode, [err(400, {"x-should-retry": "true"}), OK])
    assert h.call().text == "ok"
    assert len(h.transport.requests) == 2


def test_decide_is_pure_and_ordered() -> None:
    policy = RetryPolicy(max_attempts=3)
    rng = random.Random(0)
    assert policy.decide(1, BadRequestError("x"), rng).reason == "not_retryable"
    assert policy.decide(3, ServerError("x"), rng).reason == "max_attempts"
    too_long = RateLimitError("x", retry_after=61)
    assert policy.decide(1, too_long, rng).reason == "retry_after_too_long"
    late = policy.decide(1, RateLimitError("x", retry_after=5), rng, remaining=4.0)
    assert late.reason == "deadline"
    assert not late.retry
    ok = policy.decide(1, RateLimitError("x", retry_after=2), rng, remaining=10.0)
    assert ok.retry
    assert ok.delay >= 2.0
    budget = RetryBudget(5, retry_cost=5)
    assert policy.decide(1, ServerError("x"), rng, budget=budget).retry
    assert policy.decide(1, ServerError("x"), rng, budget=budget).reason == "budget_denied"


def test_policy_validates_arguments() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(TypeError):
        RetryPolicy.of("3")  # type: ignore[arg-type]
    assert RetryPolicy.of(5).max_attempts == 5


def test_non_llm_errors_propagate_untouched(mode: str) -> None:
    def boom(request: Any) -> Scripted:
        raise RuntimeError("bug in a layer")

    h = Harness(mode, [boom])  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="bug in a layer"):
        h.call()
    assert len(h.transport.requests) == 1
