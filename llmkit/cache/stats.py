"""What the cache saved: hits, misses, tokens, latency and (when prices are known) money."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

from llmkit.types import ChatResponse, Usage

__all__ = ["CacheStats", "Pricer", "StatsRecorder"]


class Pricer(Protocol):
    """The cost of one response's usage at wall time ``at`` (unix s; None: now), or None when
    the model's price is unknown. :class:`llmkit.prices.PriceBook` is one."""

    def cost(
        self, provider: str, model: str | None, usage: Usage, *, at: float | None = None
    ) -> Decimal | None: ...


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    stores: int = 0
    skipped: int = 0
    """Calls the cache did not consider (not deterministic, opted out, unhashable extra)."""
    stale_served: int = 0
    corrupt: int = 0
    """Entries that could not be decoded (ignored, logged, replaced)."""
    errors: int = 0
    """Backend failures (the call went on without the cache)."""
    timeouts: int = 0
    """Backend operations past their budget (a lookup counted as a miss, a write skipped)."""
    tokens_saved: int = 0
    latency_saved: float = 0.0
    """Sum of the original latencies of the answers served from cache (seconds)."""
    cost_saved: Decimal | None = None
    """Sum over priced hits; None when no hit had a known price."""
    unpriced_hits: int = 0
    """Hits whose cost is unknown (not in ``cost_saved``)."""

    @property
    def hit_rate(self) -> float | None:
        looked = self.hits + self.misses
        return None if looked == 0 else self.hits / looked


class StatsRecorder:
    """Thread-safe counters behind :class:`CacheStats` snapshots."""

    def __init__(self, pricer: Pricer | None = None) -> None:
        self.pricer = pricer
        self._lock = threading.Lock()
        self._s = CacheStats()

    def snapshot(self) -> CacheStats:
        return self._s

    def _bump(self, name: str) -> None:
        with self._lock:
            self._s = replace(self._s, **{name: getattr(self._s, name) + 1})

    def hit(self, response: ChatResponse, *, stale: bool = False, at: float | None = None) -> None:
        """Count a hit on ``response`` at wall time ``at``: the saving is what the call would
        have cost then (a replay prices at its virtual time, so its figures do not drift),
        or, without a pricer, what it cost when it was made."""
        tokens = response.usage.total_tokens or 0
        cost = response.cost
        if self.pricer is not None:
            cost = self.pricer.cost(response.provider, response.model, response.usage, at=at)
        with self._lock:
            s = self._s
            total = s.cost_saved
            if cost is not None:
                total = cost if total is None else total + cost
            self._s = replace(
                s,
                hits=s.hits + 1,
                stale_served=s.stale_served + int(stale),
                tokens_saved=s.tokens_saved + tokens,
                latency_saved=s.latency_saved + (response.latency or 0.0),
                cost_saved=total,
                unpriced_hits=s.unpriced_hits + int(cost is None),
            )

    def miss(self) -> None:
        self._bump("misses")

    def store(self) -> None:
        self._bump("stores")

    def skip(self) -> None:
        self._bump("skipped")

    def corrupt(self) -> None:
        self._bump("corrupt")

    def error(self) -> None:
        self._bump("errors")

    def timeout(self) -> None:
        self._bump("timeouts")
