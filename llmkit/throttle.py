"""Client-side throttling: slow down before the provider says 429.

Providers report their rate-limit buckets on every response:

* OpenAI (and OpenRouter, Groq, ...): ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``,
  where reset is a Go-style duration (``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"``).
* Anthropic: ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
  remaining,reset}``, where reset is an RFC 3339 time.

Real traffic has odd values: placeholders (``X-RATELIMIT-LIMIT-TOKENS-XXX``), a reset of
``1970-01-01T00:00:00Z``, missing headers, Title-Case names. Anything unreadable is treated as
*unknown*, never as zero: unknown buckets never make the limiter wait.

:class:`Limiter` is the policy (per model: what is left, when it refills; given a request's
cost, how long to wait). It reserves what each request will use, so concurrent calls do not
all spend the same "remaining". :class:`ThrottleLayer` waits on the clock before sending and
feeds the limiter with the response headers of the attempt it let through (the transport's
``AttemptOutcome.headers``; or call :meth:`ThrottleLayer.observe` from any response-header
hook). A 429's ``retry_after`` also blocks the model until then.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from llmkit.errors import LLMError, RateLimitError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.ratelimit import parse_epoch_ms, parse_reset
from llmkit.types import ChatRequest, ChatResponse

__all__ = [
    "Bucket",
    "Limiter",
    "RequestCost",
    "ThrottleLayer",
    "ThrottleOutcome",
    "ThrottlePolicy",
    "estimate_cost",
    "parse_rate_limit_headers",
    "wait_refusal",
]


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        n = int(value.strip())
    except ValueError:
        try:
            f = float(value.strip())
        except ValueError:
            return None
        if not math.isfinite(f):
            return None
        n = int(f)
    return n if n >= 0 else None


@dataclass(frozen=True, slots=True)
class Bucket:
    """One rate-limit bucket as a response reported it (None = not reported or unreadable)."""

    limit: int | None = None
    remaining: int | None = None
    reset_after: float | None = None
    """Seconds from the response until the bucket is full again."""


_ANTHROPIC_BUCKETS = ("requests", "tokens", "input-tokens", "output-tokens")
_OPENAI_BUCKETS = ("requests", "tokens")


def parse_rate_limit_headers(headers: Mapping[str, str], *, wall: float) -> dict[str, Bucket]:
    """Buckets named ``requests``, ``tokens``, ``input-tokens``, ``output-tokens`` found in
    ``headers`` (any casing). A bucket appears only when at least one field is readable."""
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    out: dict[str, Bucket] = {}

    def add(name: str, limit: str | None, remaining: str | None, reset: str | None) -> None:
        b = Bucket(
            limit=_count(limit),
            remaining=_count(remaining),
            reset_after=None if reset is None else parse_reset(reset, wall=wall),
        )
        if b != Bucket() and name not in out:
            out[name] = b

    for name in _ANTHROPIC_BUCKETS:
        p = f"anthropic-ratelimit-{name}-"
        add(name, lower.get(p + "limit"), lower.get(p + "remaining"), lower.get(p + "reset"))
    for name in _OPENAI_BUCKETS:
        add(
            name,
            lower.get(f"x-ratelimit-limit-{name}"),
            lower.get(f"x-ratelimit-remaining-{name}"),
            lower.get(f"x-ratelimit-reset-{name}"),
        )
    # Suffix-less form (OpenRouter and some proxies): a request bucket; reset may be epoch ms.
    reset = lower.get("x-ratelimit-reset")
    if reset is not None and (n := _count(reset)) is not None and n > 1e11:
        at = parse_epoch_ms(reset)  # no duration is that long: a Unix time in ms
        reset = None if at is None else str(max(0.0, at - wall))
    add("requests", lower.get("x-ratelimit-limit"), lower.get("x-ratelimit-remaining"), reset)
    return out


@dataclass(frozen=True, slots=True)
class RequestCost:
    """What one request will take from each bucket (tokens are estimates)."""

    input_tokens: int = 0
    output_tokens: int = 0

    def take(self, bucket: str) -> int:
        if bucket == "requests":
            return 1
        if bucket == "input-tokens":
            return self.input_tokens
        if bucket == "output-tokens":
            return self.output_tokens
        return self.input_tokens + self.output_tokens


def estimate_cost(request: ChatRequest, *, chars_per_token: float = 4.0) -> RequestCost:
    """A rough, cheap estimate: prompt characters / 4, plus ``max_tokens`` for the output
    (which is what OpenAI's token bucket charges up front)."""
    chars = sum(
        len(m.content) + sum(len(c.arguments) for c in m.tool_calls) for m in request.messages
    )
    return RequestCost(
        input_tokens=math.ceil(chars / chars_per_token), output_tokens=request.max_tokens or 0
    )


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    reserve_requests: int = 0
    """Keep this many requests in hand (do not spend the last ones)."""
    reserve_tokens_fraction: float = 0.0
    """Keep this fraction of a token bucket's limit in hand."""
    max_wait: float = 60.0
    """The longest the throttle holds one call, in total over its attempts. A wait it knows
    would go beyond this (or beyond the call's deadline) is not begun: the call fails at once
    with a :class:`~llmkit.errors.RateLimitError` carrying that wait as ``retry_after``."""
    refill: Literal["continuous", "window"] = "continuous"
    """How buckets refill between observations (see :class:`Limiter`)."""

    def __post_init__(self) -> None:
        if self.refill not in ("continuous", "window"):
            raise ValueError("refill must be 'continuous' or 'window'")
        if self.reserve_requests < 0 or not 0 <= self.reserve_tokens_fraction < 1:
            raise ValueError("reserves must be >= 0 (token fraction below 1)")
        if self.max_wait < 0:
            raise ValueError("max_wait must be >= 0")

    def reserve(self, bucket: str, limit: int | None) -> int:
        if bucket == "requests":
            return self.reserve_requests
        return 0 if limit is None else math.ceil(limit * self.reserve_tokens_fraction)


@dataclass(slots=True)
class _Live:
    limit: int | None
    remaining: float | None
    at: float  # clock.now() when ``remaining`` was true
    reset_at: float | None  # clock.now() when full again
    rate: float | None  # refill per second (continuous buckets), or None

    def level(self, now: float) -> float | None:
        """What is in the bucket at ``now`` (None = unknown)."""
        if self.remaining is None:
            return None
        if self.reset_at is not None and now >= self.reset_at:
            return float(self.limit) if self.limit is not None else None
        if self.rate is not None and self.limit is not None:
            return min(float(self.limit), self.remaining + self.rate * (now - self.at))
        return self.remaining

    def wait(self, need: float, now: float) -> float:
        """Seconds until ``need`` fits (0 when it fits or nothing is known)."""
        level = self.level(now)
        if level is None or level >= need - 1e-9:  # float error must not mean another wait
            return 0.0
        if self.rate:
            return (need - level) / self.rate
        return 0.0 if self.reset_at is None else self.reset_at - now


class Limiter:
    """What is left in each bucket of one rate-limit scope (usually one model). Thread-safe.

    Pure of I/O: every method takes ``now`` (``clock.now()``), and the caller waits. With
    ``refill="continuous"`` (how OpenAI and Anthropic describe their limits) a bucket refills
    at ``(limit - remaining) / reset`` per second, so a request waits only for what it needs;
    with ``"window"`` it waits for the whole reset.
    """

    def __init__(self, policy: ThrottlePolicy = ThrottlePolicy()) -> None:
        self.policy = policy
        self._buckets: dict[str, _Live] = {}
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def observe(self, buckets: Mapping[str, Bucket], *, now: float) -> None:
        """Take the provider's latest word (it already counts requests in flight before it)."""
        with self._lock:
            for name, b in buckets.items():
                live = self._buckets.setdefault(name, _Live(None, None, now, None, None))
                if b.limit is not None:
                    live.limit = b.limit
                live.remaining = None if b.remaining is None else float(b.remaining)
                live.at = now
                live.reset_at = None if b.reset_after is None else now + b.reset_after
                live.rate = None
                if (
                    self.policy.refill == "continuous"
                    and live.limit is not None
                    and live.remaining is not None
                    and b.reset_after
                    and live.limit > live.remaining
                ):
                    live.rate = (live.limit - live.remaining) / b.reset_after

    def block_until(self, t: float) -> None:
        """Send nothing before ``t`` (a 429's retry-after)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, t)

    def acquire(self, cost: RequestCost, *, now: float) -> float:
        """0.0 and the cost reserved, or the seconds to wait before asking again."""
        with self._lock:
            wait = self._blocked_until - now
            for name, live in self._buckets.items():
                need = float(cost.take(name) + self.policy.reserve(name, live.limit))
                if live.limit is not None:
                    need = min(need, float(live.limit))  # bigger than the bucket: let it try
                wait = max(wait, live.wait(need, now))
            if wait > 1e-6:  # below the clock's useful resolution counts as no wait
                return wait
            for name, live in self._buckets.items():
                level = live.level(now)
                if level is None:
                    live.remaining = None
                    continue
                if live.reset_at is not None and now >= live.reset_at:
                    live.reset_at = None
                live.remaining = max(0.0, level - cost.take(name))
                live.at = now
            return 0.0

    def snapshot(self, *, now: float) -> dict[str, Bucket]:
        """The limiter's current estimates, as buckets seen at ``now`` (for display)."""
        out: dict[str, Bucket] = {}
        with self._lock:
            for name, b in self._buckets.items():
                level = b.level(now)
                reset = None if b.reset_at is None else max(0.0, b.reset_at - now)
                out[name] = Bucket(b.limit, None if level is None else int(level), reset)
        return out


def wait_refusal(
    wait: float, waited: float, remaining: float | None, max_wait: float, min_attempt: float
) -> str | None:
    """Why a known ``wait`` must not be begun (None: wait). Pure: the layer's fail-fast rule.

    ``waited``: seconds this call was already held; ``remaining``: seconds left before its
    deadline (None: no deadline); ``min_attempt``: the least time an attempt needs after it.
    """
    if remaining is not None and wait > remaining - min_attempt:
        return f"past the call's deadline ({max(remaining, 0.0):.3g}s left)"
    if waited + wait > max_wait + 1e-9:
        return f"longer than max_wait ({max_wait:.3g}s, {waited:.3g}s already waited)"
    return None


@dataclass(frozen=True, slots=True)
class ThrottleOutcome:
    """Seconds the throttle held the call before sending, summed over its attempts."""

    waited: float = 0.0


register_columns(
    ThrottleOutcome,
    Column("throttle_wait", "llmkit.throttle.wait", call=lambda o: o.waited, absent=0.0),
)


@dataclass(slots=True)
class ThrottleLayer:
    """Waits (on ``ctx.clock``) until the model's buckets can take the request, then sends.

    Fails fast like the retry layer: when the wait it knows of cannot end before the call's
    deadline (less the minimum attempt time, ``ctx.min_attempt``) or within ``policy.max_wait``,
    it sends nothing and raises :class:`~llmkit.errors.RateLimitError` at once, with that wait
    as ``retry_after`` (retryable: a retry layer above refuses a retry that cannot fit either,
    and a fallback moves on to its next target). A bucket empty for 60 s under a 5 s deadline
    fails in no time instead of sleeping 5 s; so does every call on a model a 429 blocked with
    ``Retry-After: 3600``.

    Reports a :class:`ThrottleOutcome` (seconds waited, summed over the call's attempts) when
    it waited.
    """

    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    _limiters: dict[tuple[str, str], Limiter] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def limiter(self, provider: str, model: str) -> Limiter:
        with self._lock:
            lim = self._limiters.get((provider, model))
            if lim is None:
                lim = self._limiters[(provider, model)] = Limiter(self.policy)
            return lim

    def observe(
        self, provider: str, model: str, headers: Mapping[str, str], *, now: float, wall: float
    ) -> None:
        """Feed response headers (from a transport hook, a cassette, a notebook)."""
        buckets = parse_rate_limit_headers(headers, wall=wall)
        if buckets:
            self.limiter(provider, model).observe(buckets, now=now)

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        limiter = self.limiter(ctx.provider, request.model)
        cost = estimate_cost(request)
        waited = 0.0
        while (wait := self._wait(limiter, cost, ctx, waited)) > 0:
            ctx.clock.sleep(wait)
            waited += wait
        sent = self._sending(ctx, waited)
        try:
            response = next(request, ctx)
        except LLMError as exc:
            self._learn(ctx, limiter, sent, exc)
            raise
        self._done(ctx, limiter, sent)
        return response

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        limiter = self.limiter(ctx.provider, request.model)
        cost = estimate_cost(request)
        waited = 0.0
        while (wait := self._wait(limiter, cost, ctx, waited)) > 0:
            await ctx.clock.asleep(wait)
            waited += wait
        sent = self._sending(ctx, waited)
        try:
            response = await next(request, ctx)
        except LLMError as exc:
            self._learn(ctx, limiter, sent, exc)
            raise
        self._done(ctx, limiter, sent)
        return response

    def _wait(self, limiter: Limiter, cost: RequestCost, ctx: CallContext, waited: float) -> float:
        """Seconds to sleep before asking again (0: send now); raises when the wait it knows
        of cannot fit (see the class docstring)."""
        wait = limiter.acquire(cost, now=ctx.clock.now())
        if wait <= 0:
            return 0.0
        why = wait_refusal(wait, waited, ctx.remaining(), self.policy.max_wait, ctx.min_attempt)
        if why is not None:
            raise RateLimitError(
                f"throttled before sending: the rate limit frees up in {wait:.3g}s, {why}",
                provider=ctx.provider,
                retry_after=wait,
            )
        return wait

    def _sending(self, ctx: CallContext, waited: float) -> int:
        """Note the wait; the number of attempts reported before this one is sent."""
        if waited:  # summed: as an attempt layer it runs once per attempt of the call
            old = ctx.outcome(ThrottleOutcome)
            ctx.report(ThrottleOutcome(waited + (old.waited if old is not None else 0.0)))
        return len(ctx.attempts)

    def _done(self, ctx: CallContext, limiter: Limiter, sent: int) -> None:
        if ctx.stream is None:
            self._learn(ctx, limiter, sent, None)
        else:  # a delivered stream reports its attempt when it ends
            ctx.at_stream_end(lambda r, e: self._learn(ctx, limiter, sent, None))

    def _learn(self, ctx: CallContext, limiter: Limiter, sent: int, exc: LLMError | None) -> None:
        # Only the attempt this layer let through counts (none: refused before sending).
        headers = ctx.attempts[-1].headers if len(ctx.attempts) > sent else None
        if headers:
            buckets = parse_rate_limit_headers(headers, wall=ctx.clock.wall())
            if buckets:
                limiter.observe(buckets, now=ctx.clock.now())
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            limiter.block_until(ctx.clock.now() + exc.retry_after)
