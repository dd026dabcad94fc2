"""Per-minute rate limits as token buckets, so the headers the simulator sends are honest.

OpenAI and Anthropic both describe their limits as buckets that refill continuously: the
``remaining`` header is what is in the bucket now and ``reset`` is how long until it is full
again. The simulator keeps one bucket for requests and one for tokens per provider; a request
that does not fit is refused with 429 and a ``retry-after`` that is exactly long enough.

Both providers also document that a per-minute limit may be enforced over shorter intervals
(60,000 requests/min as 1,000 per second), so a burst well under the per-minute figure can be
refused. That is opt-in here: ``RateLimits(burst_interval_s=1.0)`` adds a request bucket that
holds only ``requests_per_minute * burst_interval_s / 60`` (at least 1) and refills at the same
rate. It is enforced but not reported: the headers still describe the per-minute bucket, as
the providers' do, so a client reading them cannot see it coming. Left unset (the default),
only the per-minute buckets apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Admission", "Bucket", "RateLimiter", "RateLimits", "format_duration"]


@dataclass(frozen=True, slots=True)
class RateLimits:
    requests_per_minute: int = 10_000
    tokens_per_minute: int = 2_000_000
    burst_interval_s: float | None = None
    """Also enforce the request limit over intervals this long (None: per minute only)."""

    def __post_init__(self) -> None:
        if self.requests_per_minute < 1 or self.tokens_per_minute < 1:
            raise ValueError("rate limits must be >= 1 per minute")
        if self.burst_interval_s is not None and not 0 < self.burst_interval_s <= 60:
            raise ValueError("burst_interval_s must be in (0, 60] seconds")


class Bucket:
    __slots__ = ("_t", "capacity", "level", "rate")

    def __init__(self, capacity: float, now: float, *, per_minute: float | None = None) -> None:
        self.capacity = float(capacity)
        self.rate = (capacity if per_minute is None else per_minute) / 60.0
        self.level = float(capacity)
        self._t = now

    def refill(self, now: float) -> None:
        if now > self._t:
            self.level = min(self.capacity, self.level + (now - self._t) * self.rate)
            self._t = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` fits (inf if it never can)."""
        if amount > self.capacity:
            return math.inf
        return max(0.0, (amount - self.level) / self.rate)

    def until_full(self) -> float:
        return (self.capacity - self.level) / self.rate


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome of one request against the limits, with what the headers should say."""

    allowed: bool
    limit_requests: int
    remaining_requests: int
    reset_requests: float
    limit_tokens: int
    remaining_tokens: int
    reset_tokens: float
    retry_after: float
    """Seconds until the request would fit (0 when allowed, inf when it never can)."""
    exhausted: str
    """``requests`` or ``tokens`` when refused, else ``""``."""


class RateLimiter:
    """Two buckets. Not thread-safe on its own; the simulator's gate holds its lock around it."""

    __slots__ = ("burst", "limits", "requests", "tokens")

    def __init__(self, limits: RateLimits, now: float) -> None:
        self.limits = limits
        rpm = limits.requests_per_minute
        self.requests = Bucket(rpm, now)
        self.tokens = Bucket(limits.tokens_per_minute, now)
        self.burst = (
            None
            if limits.burst_interval_s is None
            else Bucket(max(1.0, rpm * limits.burst_interval_s / 60.0), now, per_minute=rpm)
        )

    def admit(self, tokens: int, now: float) -> Admission:
        r, t, b = self.requests, self.tokens, self.burst
        r.refill(now)
        t.refill(now)
        wait_r, wait_t = r.wait_for(1), t.wait_for(tokens)
        if b is not None:
            b.refill(now)
            wait_r = max(wait_r, b.wait_for(1))
        allowed = wait_r == 0 and wait_t == 0
        if allowed:
            r.level -= 1
            t.level -= tokens
            if b is not None:
                b.level -= 1
        exhausted = "" if allowed else ("requests" if wait_r >= wait_t else "tokens")
        return Admission(
            allowed=allowed,
            limit_requests=self.limits.requests_per_minute,
            remaining_requests=max(0, math.floor(r.level)),
            reset_requests=r.until_full(),
            limit_tokens=self.limits.tokens_per_minute,
            remaining_tokens=max(0, math.floor(t.level)),
            reset_tokens=t.until_full(),
            retry_after=0.0 if allowed else max(wait_r, wait_t),
            exhausted=exhausted,
        )


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: ``120ms``, ``0s``, ``8.64s``, ``6m0s``, ``1h2m3s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    s_txt = f"{s:.3f}".rstrip("0").rstrip(".")
    if h >= 1:
        return f"{int(h)}h{int(m)}m{s_txt}s"
    if m >= 1:
        return f"{int(m)}m{s_txt}s"
    return f"{s_txt}s"
