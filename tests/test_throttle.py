"""Client-side throttling: header parsing (real shapes and odd values), policy, layer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from llmkit.clock import VirtualClock
from llmkit.errors import RateLimitError
from llmkit.layers import CallContext
from llmkit.outcomes import AttemptOutcome
from llmkit.ratelimit import parse_duration, parse_reset
from llmkit.throttle import (
    Bucket,
    Limiter,
    RequestCost,
    ThrottleLayer,
    ThrottleOutcome,
    ThrottlePolicy,
    estimate_cost,
    parse_rate_limit_headers,
    wait_refusal,
)
from llmkit.types import ChatRequest, ChatResponse, Message

WALL = 1_767_225_600.0  # 2026-01-01T00:00:00Z, VirtualClock's default start


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("0s", 0.0),
        ("1h2m3.5s", 3723.5),
        ("1.5s", 1.5),
        ("250us", 0.00025),
        ("17", 17.0),
        ("0.5", 0.5),
        ("", None),
        ("X-RATELIMIT-RESET-TOKENS-XXX", None),
        ("5x", None),
        ("m5", None),
        ("-3", None),
        ("inf", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    got = parse_duration(text)
    assert got == (None if seconds is None else pytest.approx(seconds))


def test_parse_reset_times() -> None:
    assert parse_reset("2026-01-01T00:00:30Z", wall=WALL) == 30.0
    assert parse_reset("2026-01-01T00:00:30+00:00", wall=WALL) == 30.0
    assert parse_reset("2025-12-31T23:59:00Z", wall=WALL) == 0.0  # already refilled
    assert parse_reset("1970-01-01T00:00:00Z", wall=WALL) is None  # placeholder
    assert parse_reset("2026-01-01T00:00:30", wall=WALL) is None  # no zone
    assert parse_reset("soon", wall=WALL) is None
    assert parse_reset("20ms", wall=WALL) == 0.02


def test_openai_headers_any_casing() -> None:
    headers = {
        "X-Ratelimit-Limit-Requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
        "X-Ratelimit-Reset-Requests": "6ms",
        "x-ratelimit-limit-tokens": "2000000",
        "x-ratelimit-remaining-tokens": "1999980",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    b = parse_rate_limit_headers(headers, wall=WALL)
    assert b["requests"] == Bucket(10000, 9999, 0.006)
    assert b["tokens"] == Bucket(2000000, 1999980, 360.0)


def test_anthropic_headers_with_odd_resets() -> None:
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:12Z",
        "anthropic-ratelimit-input-tokens-limit": "40000",
        "anthropic-ratelimit-input-tokens-remaining": "39000",
        "anthropic-ratelimit-input-tokens-reset": "1970-01-01T00:00:00Z",
    }
    b = parse_rate_limit_headers(headers, wall=WALL)
    assert b["requests"] == Bucket(50, 0, 12.0)
    assert b["input-tokens"] == Bucket(40000, 39000, None)
    assert "output-tokens" not in b


def test_placeholders_and_missing_headers_give_nothing() -> None:
    placeholders = {
        f"x-ratelimit-{f}-{n}": f"X-RATELIMIT-{f.upper()}-{n.upper()}-XXX"
        for f in ("limit", "remaining", "reset")
        for n in ("requests", "tokens")
    }
    assert parse_rate_limit_headers(placeholders, wall=WALL) == {}
    assert parse_rate_limit_headers({"content-type": "application/json"}, wall=WALL) == {}


def test_suffixless_headers_with_epoch_ms_reset() -> None:
    headers = {
        "X-RateLimit-Limit": "20",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int((WALL + 42) * 1000)),
    }
    assert parse_rate_limit_headers(headers, wall=WALL)["requests"] == Bucket(20, 0, 42.0)


CASSETTES = Path(__file__).resolve().parents[2] / "shared" / "real-cassettes"


def _response_headers(name: str) -> dict[str, str]:
    doc = yaml.safe_load((CASSETTES / name).read_text())
    raw = (doc.get("interactions") or doc.get("http_interactions"))[0]["response"]["headers"]
    return {k: v[0] if isinstance(v, list) else v for k, v in raw.items()}


@pytest.mark.real_cassettes
@pytest.mark.parametrize(
    "name",
    [
        "anthropic__error_429_rate_limit__1.yaml",
        "anthropic__error_529_overloaded__1.yaml",
        "openai__responses_structured_output__1.yaml",
    ],
)
def test_real_recorded_headers_parse_without_error(name: str) -> None:
    if not (CASSETTES / name).exists():
        pytest.fail(f"real cassette {name} is missing")
    buckets = parse_rate_limit_headers(_response_headers(name), wall=WALL)
    for b in buckets.values():
        assert b.remaining is None or b.remaining >= 0
        assert b.reset_after is None or b.reset_after >= 0


def test_window_limiter_waits_for_the_reset() -> None:
    lim = Limiter(ThrottlePolicy(refill="window"))
    lim.observe({"requests": Bucket(limit=3, remaining=0, reset_after=2.0)}, now=10.0)
    cost = RequestCost(100, 50)
    assert lim.acquire(cost, now=10.0) == 2.0
    assert lim.acquire(cost, now=11.5) == pytest.approx(0.5)
    assert lim.acquire(cost, now=12.0) == 0.0  # refilled to its limit
    assert lim.snapshot(now=12.0)["requests"] == Bucket(3, 2, None)


def test_continuous_limiter_waits_only_for_what_it_needs() -> None:
    lim = Limiter()
    # 60 requests/minute, empty, full again in 60 s: one request refills every second.
    lim.observe({"requests": Bucket(limit=60, remaining=0, reset_after=60.0)}, now=0.0)
    assert lim.acquire(RequestCost(), now=0.0) == pytest.approx(1.0)
    assert lim.acquire(RequestCost(), now=1.0) == 0.0
    assert lim.acquire(RequestCost(), now=1.0) == pytest.approx(1.0)  # used the refilled one
    assert lim.acquire(RequestCost(), now=2.5) == 0.0
    assert lim.snapshot(now=2.5)["requests"].remaining == 0


def test_limiter_reserves_for_concurrent_calls() -> None:
    lim = Limiter(ThrottlePolicy(refill="window"))
    lim.observe({"requests": Bucket(10, 2, 5.0), "tokens": Bucket(1000, 1000, 5.0)}, now=0.0)
    cost = RequestCost(10, 10)
    assert lim.acquire(cost, now=0.0) == 0.0
    assert lim.acquire(cost, now=0.0) == 0.0
    assert lim.acquire(cost, now=0.0) == 5.0  # the two in flight used the last requests


def test_limiter_waits_for_tokens_and_lets_oversized_requests_try() -> None:
    lim = Limiter(ThrottlePolicy(refill="window"))
    lim.observe({"tokens": Bucket(1000, 300, 7.0)}, now=0.0)
    assert lim.acquire(RequestCost(200, 200), now=0.0) == 7.0
    assert lim.acquire(RequestCost(100, 100), now=0.0) == 0.0
    big = Limiter()
    big.observe({"tokens": Bucket(1000, 1000, 60.0)}, now=0.0)
    assert big.acquire(RequestCost(5000, 0), now=0.0) == 0.0  # the provider will decide


def test_unknown_buckets_never_wait() -> None:
    lim = Limiter()
    lim.observe({"requests": Bucket(None, None, 30.0)}, now=0.0)
    assert lim.acquire(RequestCost(), now=0.0) == 0.0
    lim.observe({"requests": Bucket(10, 0, None)}, now=0.0)  # empty, but no reset known
    assert lim.acquire(RequestCost(), now=0.0) == 0.0


def test_reserve_keeps_requests_in_hand() -> None:
    lim = Limiter(ThrottlePolicy(reserve_requests=2, refill="window"))
    lim.observe({"requests": Bucket(100, 2, 1.0)}, now=0.0)
    assert lim.acquire(RequestCost(), now=0.0) == 1.0


def test_estimate_cost() -> None:
    req = ChatRequest(model="m", messages=(Message("user", "x" * 400),), max_tokens=50)
    assert estimate_cost(req) == RequestCost(100, 50)


REQ = ChatRequest(model="m", messages=(Message("user", "hi"),), max_tokens=10)
OK = ChatResponse("ok", "m", "openai", finish_reason="stop")


WINDOW = ThrottlePolicy(refill="window")


class Provider:
    """A fixed-window provider: ``remaining`` requests left, all back after 10 s."""

    def __init__(self, clock: VirtualClock, remaining: int) -> None:
        self.clock = clock
        self.remaining = remaining
        self.sent_at: list[float] = []
        self.reset_at = 10.0

    def __call__(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        now = self.clock.now()
        if now >= self.reset_at:
            self.remaining, self.reset_at = 3, now + 10.0
        self.sent_at.append(now)
        if self.remaining == 0:
            raise RateLimitError("429", status=429, retry_after=self.reset_at - now)
        self.remaining -= 1
        headers = {
            "x-ratelimit-limit-requests": "3",
            "x-ratelimit-remaining-requests": str(self.remaining),
            "x-ratelimit-reset-requests": f"{self.reset_at - now:.3f}s",
        }
        ctx.attempt += 1
        ctx.attempts.append(  # as the transport reports each attempt
            AttemptOutcome(
                number=ctx.attempt,
                provider=ctx.provider,
                model=request.model,
                stream=False,
                wall=self.clock.wall(),
                latency=0.0,
                status=200,
                response=OK,
                headers=headers,
            )
        )
        return OK

    async def acall(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        return self(request, ctx)


def test_layer_slows_down_before_the_429() -> None:
    clock = VirtualClock()
    provider = Provider(clock, remaining=3)
    layer = ThrottleLayer(WINDOW)
    for _ in range(6):
        layer.handle(REQ, CallContext("openai", clock=clock), provider)
    # Three go at once, the fourth waits for the refill at t=10; no 429 was ever sent.
    assert provider.sent_at == [0.0, 0.0, 0.0, 10.0, 10.0, 10.0]


def test_layer_async_and_notes_the_wait() -> None:
    clock = VirtualClock()
    provider = Provider(clock, remaining=1)
    layer = ThrottleLayer(WINDOW)

    async def main() -> list[CallContext]:
        ctxs = [CallContext("openai", clock=clock) for _ in range(2)]
        for c in ctxs:
            await layer.ahandle(REQ, c, provider.acall)
        return ctxs

    first, second = asyncio.run(main())
    assert first.outcome(ThrottleOutcome) is None
    waited = second.outcome(ThrottleOutcome)
    assert waited is not None
    assert waited.waited == pytest.approx(10.0)
    assert provider.sent_at == [0.0, pytest.approx(10.0)]


def test_a_429_blocks_the_model_until_retry_after() -> None:
    clock = VirtualClock()
    provider = Provider(clock, remaining=0)
    layer = ThrottleLayer(WINDOW)
    with pytest.raises(RateLimitError):
        layer.handle(REQ, CallContext("openai", clock=clock), provider)
    layer.handle(REQ, CallContext("openai", clock=clock), provider)
    assert provider.sent_at == [0.0, 10.0]


def _empty_for_60s(layer: ThrottleLayer) -> None:
    layer.observe(
        "openai",
        "m",
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "60s"},
        now=0.0,
        wall=WALL,
    )


def _never_sent(request: ChatRequest, ctx: CallContext) -> ChatResponse:
    raise AssertionError("nothing may be sent into a bucket known to be empty")


def test_a_wait_past_the_deadline_fails_at_once() -> None:
    clock = VirtualClock()
    layer = ThrottleLayer(ThrottlePolicy(refill="window"))
    _empty_for_60s(layer)
    ctx = CallContext("openai", clock=clock, deadline=5.0, min_attempt=0.25)
    with pytest.raises(RateLimitError, match="past the call's deadline") as info:
        layer.handle(REQ, ctx, _never_sent)
    assert clock.now() == 0.0  # no sleep at all, not the whole 5 s
    assert info.value.retry_after == pytest.approx(60.0)
    assert info.value.retryable


def test_a_wait_that_fits_only_without_the_minimum_attempt_time_fails_too() -> None:
    clock = VirtualClock()
    layer = ThrottleLayer(ThrottlePolicy(refill="window"))
    _empty_for_60s(layer)
    ctx = CallContext("openai", clock=clock, deadline=60.1, min_attempt=0.25)
    with pytest.raises(RateLimitError):
        layer.handle(REQ, ctx, _never_sent)
    seen: list[float] = []

    def send(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        seen.append(clock.now())
        return OK

    layer.handle(REQ, CallContext("openai", clock=clock, deadline=61.0, min_attempt=0.25), send)
    assert seen == [60.0]  # a wait that fits is waited, then the request goes


def test_max_wait_is_the_longest_hold_and_a_longer_known_wait_fails_at_once() -> None:
    clock = VirtualClock()
    layer = ThrottleLayer(ThrottlePolicy(max_wait=3.0, refill="window"))
    _empty_for_60s(layer)
    with pytest.raises(RateLimitError, match="longer than max_wait") as info:
        layer.handle(REQ, CallContext("openai", clock=clock), _never_sent)  # no deadline
    assert (clock.now(), info.value.retry_after) == (0.0, pytest.approx(60.0))
    # Another model has its own buckets.
    seen: list[float] = []

    def send(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        seen.append(clock.now())
        return OK

    layer.handle(REQ.with_(model="other"), CallContext("openai", clock=clock), send)
    assert seen == [0.0]


def test_wait_refusal_is_pure() -> None:
    assert wait_refusal(2.0, 0.0, None, 60.0, 0.25) is None
    assert wait_refusal(2.0, 0.0, 2.25, 60.0, 0.25) is None  # exactly fits
    assert wait_refusal(2.0, 0.0, 2.2, 60.0, 0.25) is not None
    assert wait_refusal(2.0, 59.0, None, 60.0, 0.25) is not None  # 61 s held in all
    assert wait_refusal(1.0, 59.0, None, 60.0, 0.25) is None


# ------------------------------------------------------------------ through llmkit.Client


def _drain(throttle: bool, n: int = 12) -> tuple[int, float]:
    """``n`` calls against the simulator's 5-requests/minute scenario, no retries."""
    from llmkit import Client
    from llmkit.sim import SimTransport

    clock = VirtualClock()
    layers = [ThrottleLayer()] if throttle else []
    client = Client(
        "openai",
        api_key="sk-test-123",
        transport=SimTransport("ratelimit-drain", clock),
        clock=clock,
        retry=False,
        deadline=None,
        attempt_layers=layers,
    )
    refused = 0
    for _ in range(n):
        try:
            client.chat(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        except RateLimitError:
            refused += 1
    client.close()
    return refused, clock.now()


def test_client_with_throttle_never_hits_the_429() -> None:
    refused_without, _ = _drain(throttle=False)
    refused_with, elapsed = _drain(throttle=True)
    assert refused_without > 0  # the scenario really does refuse a burst
    assert refused_with == 0
    # 12 requests at 5/minute from a full bucket of 5: the last 7 wait 12 s each, about.
    assert elapsed == pytest.approx(7 * 12.0, rel=0.1)


def test_after_a_429_asking_an_hour_later_calls_fail_at_once_and_send_nothing() -> None:
    from llmkit import Client
    from llmkit.testing import Scripted, ScriptedTransport

    clock = VirtualClock()
    transport = ScriptedTransport(
        clock,
        [
            Scripted(
                429,
                json={"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
                headers={"retry-after": "3600"},
            )
        ],
    )
    client = Client(
        api_key="sk-test-123",
        transport=transport,
        clock=clock,
        deadline=20.0,
        attempt_layers=[ThrottleLayer()],
    )
    with pytest.raises(RateLimitError) as first:
        client.chat(model="m", messages=[{"role": "user", "content": "hi"}])
    assert first.value.status == 429  # the provider's answer; too long a wait to retry
    assert len(transport.requests) == 1
    started = clock.now()
    for _ in range(3):
        with pytest.raises(RateLimitError, match="throttled before sending") as later:
            client.chat(model="m", messages=[{"role": "user", "content": "hi"}])
        assert later.value.retry_after == pytest.approx(3600.0, abs=1.0)
    assert clock.now() == started  # not one deadline waited out
    assert len(transport.requests) == 1  # and nothing sent
    client.close()
