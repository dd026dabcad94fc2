"""How long a simulated model takes: time to first token, then a steady per-token pace.

Real latency has a long right tail (a few requests take many times the median), which is what
makes hedging and read timeouts interesting, so the draw is lognormal with an occasional
multiplier. Each model is matched to a profile by substring; a fast cheap model and a slow
large one per provider are built in.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

__all__ = ["DEFAULT_LATENCY", "ZERO_LATENCY", "LatencyModel", "ModelProfile", "Timing"]


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """One model's behaviour. Times in simulated seconds."""

    ttft_median: float = 0.6
    ttft_sigma: float = 0.4
    """Lognormal spread of the time to first token."""
    token_median: float = 0.015
    """Seconds per output token (drawn once per request)."""
    token_sigma: float = 0.25
    tail_prob: float = 0.02
    """Chance that a request lands in the slow tail..."""
    tail_factor: float = 6.0
    """...and is this many times slower."""
    output_tokens: int = 60
    """Median completion length when max_tokens allows."""
    context_window: int = 128_000

    def __post_init__(self) -> None:
        if min(self.ttft_median, self.token_median, self.ttft_sigma, self.token_sigma) < 0:
            raise ValueError("latency parameters must be >= 0")
        if not 0 <= self.tail_prob <= 1 or self.tail_factor < 1:
            raise ValueError("tail_prob must be in [0, 1] and tail_factor >= 1")
        if self.output_tokens < 1 or self.context_window < 1:
            raise ValueError("output_tokens and context_window must be >= 1")


@dataclass(frozen=True, slots=True)
class Timing:
    ttft: float
    per_token: float


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    if median <= 0:
        return 0.0
    if sigma <= 0:
        return median
    return rng.lognormvariate(math.log(median), sigma)


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Profiles matched by model-name substring, first match wins; ``default`` otherwise."""

    profiles: tuple[tuple[str, ModelProfile], ...] = ()
    default: ModelProfile = ModelProfile()

    def profile(self, model: str) -> ModelProfile:
        name = model.lower()
        for marker, prof in self.profiles:
            if marker in name:
                return prof
        return self.default

    def sample(self, rng: random.Random, prof: ModelProfile) -> Timing:
        ttft = _lognormal(rng, prof.ttft_median, prof.ttft_sigma)
        if prof.tail_prob > 0 and rng.random() < prof.tail_prob:
            ttft *= prof.tail_factor
        return Timing(ttft, _lognormal(rng, prof.token_median, prof.token_sigma))

    def with_tail(self, prob: float, factor: float) -> LatencyModel:
        """The same model with a heavier tail on every profile (the ``slow-tail`` scenario)."""

        def heavy(p: ModelProfile) -> ModelProfile:
            return ModelProfile(
                p.ttft_median,
                p.ttft_sigma,
                p.token_median,
                p.token_sigma,
                prob,
                factor,
                p.output_tokens,
                p.context_window,
            )

        return LatencyModel(tuple((m, heavy(p)) for m, p in self.profiles), heavy(self.default))


FAST = ModelProfile(ttft_median=0.35, ttft_sigma=0.35, token_median=0.008, output_tokens=40)
SLOW = ModelProfile(
    ttft_median=1.0,
    ttft_sigma=0.5,
    token_median=0.02,
    tail_prob=0.04,
    tail_factor=5.0,
    output_tokens=80,
)
SLOW_200K = replace(SLOW, context_window=200_000)
FAST_200K = ModelProfile(
    ttft_median=0.4, ttft_sigma=0.35, token_median=0.01, output_tokens=40, context_window=200_000
)

DEFAULT_LATENCY = LatencyModel(
    profiles=(
        # fast, cheap models (OpenAI, Anthropic, OpenRouter names)
        ("haiku", FAST_200K),
        ("mini", FAST),
        ("nano", FAST),
        ("flash", FAST),
        ("3.5-turbo", FAST),
        ("small", FAST),
        # slow, large models
        ("claude", SLOW_200K),
        ("opus", SLOW_200K),
        ("sonnet", SLOW_200K),
    ),
    default=SLOW,
)
"""``gpt-4o-mini``/``claude-haiku-*`` are fast; ``gpt-4o``/``claude-sonnet-*`` and unknown
models are slow."""

_ZERO = ModelProfile(ttft_median=0.0, ttft_sigma=0.0, token_median=0.0, tail_prob=0.0)
ZERO_LATENCY = LatencyModel(
    profiles=(("claude", ModelProfile(0.0, 0.0, 0.0, 0.0, 0.0, context_window=200_000)),),
    default=_ZERO,
)
"""No simulated time at all: for throughput benchmarks and logic-only tests."""
