"""The simulator's opt-in sub-minute enforcement of a per-minute request limit."""

from __future__ import annotations

import pytest

from llmkit.sim.ratelimit import RateLimiter, RateLimits


def admitted(limits: RateLimits, n: int, *, at: float = 0.0) -> int:
    limiter = RateLimiter(limits, at)
    return sum(limiter.admit(1, at).allowed for _ in range(n))


def test_per_minute_only_by_default_admits_the_whole_bucket_at_once() -> None:
    assert RateLimits(requests_per_minute=60).burst_interval_s is None
    assert admitted(RateLimits(requests_per_minute=60), 100) == 60


def test_burst_interval_refuses_a_burst_under_the_per_minute_limit() -> None:
    # 60,000/min enforced as 1,000 per second: a burst of 1,500 gets 1,000 through.
    assert admitted(RateLimits(60_000, 10**9, burst_interval_s=1.0), 1_500) == 1_000
    # 60/min over 1 s intervals: one request per second.
    assert admitted(RateLimits(60, 10**9, burst_interval_s=1.0), 60) == 1


def test_burst_interval_is_enforced_but_headers_describe_the_minute() -> None:
    limiter = RateLimiter(RateLimits(60, 10**9, burst_interval_s=1.0), 0.0)
    first, second = limiter.admit(1, 0.0), limiter.admit(1, 0.0)
    assert first.allowed
    assert not second.allowed
    assert second.exhausted == "requests"
    assert second.remaining_requests == 59  # the per-minute bucket still has room
    assert second.retry_after == pytest.approx(1.0)  # refills at 60/min = 1/s
    assert limiter.admit(1, 1.0).allowed


@pytest.mark.parametrize("bad", [0.0, -1.0, 61.0])
def test_burst_interval_must_be_within_a_minute(bad: float) -> None:
    with pytest.raises(ValueError, match="burst_interval_s"):
        RateLimits(60, burst_interval_s=bad)
