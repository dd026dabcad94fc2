"""Behaviours pinned at their boundaries, so a one-character change to any of them fails a
test: the retry wait is ``max(backoff, retry_after)`` (neither alone), the breaker opens at a
failure rate equal to its threshold, the backoff ceiling doubles from ``base`` and stops at
``cap``, jitter spans its whole range (and is absent when ``base`` is 0), the cache key holds
``max_tokens`` and the provider, and a client's retry delays keep full-jitter bounds."""

from __future__ import annotations

import random
from typing import Any

import pytest

from llmkit.breaker import BreakerConfig, BreakerState, CircuitBreaker
from llmkit.cache import CacheLayer, MemoryCache, cache_key
from llmkit.client import Client
from llmkit.clock import VirtualClock
from llmkit.errors import RateLimitError, ServerError
from llmkit.layers import CallContext
from llmkit.retry import RetryPolicy
from llmkit.telemetry import MemorySink
from llmkit.transport import Scripted, ScriptedTransport
from llmkit.types import ChatRequest, ChatResponse, Message


class Fraction(random.Random):
    """An rng whose ``uniform(a, b)`` is always ``a + f * (b - a)``: the backoff is known."""

    def __init__(self, f: float) -> None:
        super().__init__(0)
        self.f = f

    def uniform(self, a: float, b: float) -> float:
        return a + self.f * (b - a)


# ------------------------------------------------------------------ retry wait


@pytest.mark.parametrize(
    ("f", "retry_after", "expected"),
    [
        (1.0, 1.0, 2.0),  # backoff 2.0 above retry_after: the backoff (not retry_after alone)
        (0.25, 1.0, 1.0),  # backoff 0.5 below retry_after: retry_after (not the backoff alone)
        (0.5, 1.0, 1.0),  # equal: either
        (0.75, 1.5 + 1e-9, 1.5 + 1e-9),  # just above the backoff
        (0.75, 1.5 - 1e-9, 1.5),  # just below it
        (0.5, None, 1.0),  # no retry_after: the backoff
        (0.5, 0.0, 1.0),  # retry_after 0 is no reason to hurry
    ],
)
def test_retry_wait_is_max_of_backoff_and_retry_after(
    f: float, retry_after: float | None, expected: float
) -> None:
    policy = RetryPolicy(base=1.0, cap=10.0)  # ceiling after attempt 2: 2.0
    error = RateLimitError("slow down", retry_after=retry_after)
    assert policy.delay(2, error, Fraction(f)) == pytest.approx(expected, abs=1e-12)
    decision = policy.decide(2, error, Fraction(f), remaining=None)
    assert (decision.retry, decision.delay) == (True, pytest.approx(expected, abs=1e-12))


def test_client_waits_the_backoff_when_it_is_longer_than_retry_after() -> None:
    # Through the client: retry_after 0.1 s, backoff ceiling 4 s. Over many seeds the wait
    # is max(U(0, 4), 0.1): never below 0.1, and most often far above it.
    waits = []
    for seed in range(40):
        clock = VirtualClock()
        sink = MemorySink()
        script = [
            Scripted(status=429, json={"error": {"message": "x"}}, headers={"retry-after": "0.1"}),
            Scripted(json=_ok()),
        ]
        client = Client(
            transport=ScriptedTransport(clock, script),
            clock=clock,
            telemetry=sink,
            seed=seed,
            budget=False,
            retry=RetryPolicy(base=4.0, cap=4.0),
            deadline=None,
        )
        client.chat(model="m", messages=[{"role": "user", "content": "hi"}])
        (wait,) = [a.retry_delay for a in sink.attempts() if a.retry_delay is not None]
        waits.append(wait)
    assert min(waits) >= 0.1
    assert sum(w > 1.0 for w in waits) > 20  # retry_after alone would always wait 0.1 s
    assert max(waits) <= 4.0


# ------------------------------------------------------------------ backoff and jitter


def test_backoff_ceiling_doubles_from_base_and_stops_at_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=3.0)
    assert [policy.backoff_ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    uncapped = RetryPolicy(base=0.25, cap=1000.0)
    assert [uncapped.backoff_ceiling(n) for n in range(1, 6)] == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert RetryPolicy(base=1.0, cap=1e9).backoff_ceiling(10_000) == 1e9  # no overflow


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    policy = RetryPolicy(base=1.0, cap=100.0)
    assert policy.delay(3, None, Fraction(0.0)) == 0.0
    assert policy.delay(3, None, Fraction(1.0)) == 4.0
    assert policy.delay(3, None, Fraction(0.5)) == 2.0


def test_jitter_off_when_base_is_zero() -> None:
    policy = RetryPolicy(base=0.0, cap=10.0)
    rng = random.Random(3)
    assert {policy.delay(n, None, rng) for n in range(1, 6)} == {0.0}
    error = RateLimitError("x", retry_after=2.5)
    assert {policy.delay(n, error, rng) for n in range(1, 6)} == {2.5}  # exactly the server's


def test_client_retry_delays_keep_full_jitter_bounds() -> None:
    # Five retries per call, over 30 seeds: retry n waits within [0, min(cap, base*2**(n-1))],
    # and the draws use the whole range (near 0 and near the ceiling), at every n.
    policy = RetryPolicy(max_attempts=6, base=0.5, cap=3.0)
    by_retry: dict[int, list[float]] = {n: [] for n in range(1, 6)}
    for seed in range(30):
        clock = VirtualClock()
        sink = MemorySink()
        fail = Scripted(status=500, json={"error": {"message": "boom"}})
        client = Client(
            transport=ScriptedTransport(clock, [fail]),
            clock=clock,
            telemetry=sink,
            seed=seed,
            budget=False,
            retry=policy,
            deadline=None,
        )
        with pytest.raises(ServerError):
            client.chat(model="m", messages=[{"role": "user", "content": "hi"}])
        delays = [a.retry_delay for a in sink.attempts() if a.retry_delay is not None]
        for n, d in enumerate(delays, start=1):
            by_retry[n].append(d)
    for n, draws in by_retry.items():
        ceiling = min(3.0, 0.5 * 2 ** (n - 1))
        assert len(draws) == 30
        assert all(0.0 <= d <= ceiling for d in draws), (n, draws)
        assert min(draws) < 0.25 * ceiling, (n, draws)
        assert max(draws) > 0.75 * ceiling, (n, draws)
    # and the ceiling really grows: retry 3 waits past retry 1's ceiling sometimes
    assert max(by_retry[3]) > 0.5


# ------------------------------------------------------------------ breaker threshold


def _breaker(rate: float) -> CircuitBreaker:
    cfg = BreakerConfig(failure_rate=rate, window=4, min_requests=4, cooldown=30.0)
    return CircuitBreaker("b", cfg, clock=VirtualClock())


@pytest.mark.parametrize(
    ("rate", "failures", "opens"),
    [
        (0.5, 2, True),  # 2 of 4 = 0.5: at the threshold, opens (>=, not >)
        (0.5, 1, False),  # 0.25 < 0.5
        (0.75, 3, True),  # exactly 0.75
        (0.75, 2, False),  # 0.5 < 0.75
        (1.0, 4, True),  # exactly 1.0
        (1.0, 3, False),
        (0.25, 1, True),
    ],
)
def test_breaker_opens_when_the_failure_rate_reaches_the_threshold(
    rate: float, failures: int, opens: bool
) -> None:
    b = _breaker(rate)
    outcomes: list[Exception | None] = [None] * (4 - failures) + [ServerError("x")] * failures
    for error in outcomes:
        b.record(b.acquire(), error)
    assert b.failure_rate() == pytest.approx(failures / 4)
    assert (b.state is BreakerState.OPEN) is opens


def test_breaker_waits_for_min_requests_even_at_full_failure() -> None:
    b = _breaker(0.5)
    for _ in range(3):
        b.record(b.acquire(), ServerError("x"))
    assert b.state is BreakerState.CLOSED  # 3 < min_requests, though the rate is 1.0
    b.record(b.acquire(), ServerError("x"))
    assert b.state is BreakerState.OPEN


# ------------------------------------------------------------------ cache key


BASE = ChatRequest(
    model="gpt-4o-mini", messages=(Message("user", "2+2?"),), max_tokens=50, temperature=0
)


@pytest.mark.parametrize(
    ("a", "b"),
    [(None, 50), (50, 51), (1, None), (1, 2)],
)
def test_max_tokens_is_part_of_the_key(a: int | None, b: int | None) -> None:
    assert cache_key(BASE.with_(max_tokens=a), "openai") != cache_key(
        BASE.with_(max_tokens=b), "openai"
    )


@pytest.mark.parametrize("other", ["anthropic", "openrouter", "openai-responses", "compatible"])
def test_provider_is_part_of_the_key(other: str) -> None:
    assert cache_key(BASE, "openai") != cache_key(BASE, other)


def test_layer_does_not_serve_across_max_tokens_or_providers() -> None:
    clock = VirtualClock()
    layer = CacheLayer(MemoryCache(clock=clock))
    calls: list[tuple[str, int | None]] = []

    def inner(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        calls.append((ctx.provider, request.max_tokens))
        return ChatResponse("4", request.model, ctx.provider, finish_reason="stop")

    def ctx(provider: str) -> CallContext:
        return CallContext(provider=provider, clock=clock, deadline=None)

    hits: list[Any] = []
    for provider, max_tokens in [("openai", 50), ("openai", 51), ("openrouter", 50)]:
        hits.append(layer.handle(BASE.with_(max_tokens=max_tokens), ctx(provider), inner).cached)
    assert hits == [False, False, False]
    assert layer.handle(BASE, ctx("openai"), inner).cached  # the same request does hit
    assert len(calls) == 3


def _ok() -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
    }
