"""Named, seeded, composable scenarios: what the simulated provider does, start to finish.

A :class:`Scenario` is a value (frozen, hashable): a latency model, per-minute rate limits and
an ordered list of fault rules. Compose your own::

    from llmkit.sim import Fault, FaultRule, Scenario, get_scenario

    mine = get_scenario("slow-tail").with_(
        name="slow-and-down",
        faults=(FaultRule(Fault.OVERLOADED, window=(30, 45)),),
    )
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from llmkit.sim.faults import Fault, FaultRule
from llmkit.sim.latency import DEFAULT_LATENCY, ZERO_LATENCY, LatencyModel
from llmkit.sim.ratelimit import RateLimits

__all__ = ["SCENARIOS", "Scenario", "get_scenario", "register"]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    seed: int = 0
    latency: LatencyModel = DEFAULT_LATENCY
    limits: RateLimits = field(default_factory=RateLimits)
    faults: tuple[FaultRule, ...] = ()
    """Checked in order; the first rule that fires decides the request's fault."""
    gzip: bool = False
    """Gzip bodies (and set ``content-encoding``) when the request accepts it, as the real APIs
    do. Off by default so recorded cassettes stay plain text."""
    obfuscation: bool = False
    """Pad OpenAI chat stream chunks with a random ``obfuscation`` string, as the real API does
    unless ``stream_options.include_obfuscation`` is false (a request may also turn it on)."""
    quality: tuple[tuple[str, float], ...] = ()
    """Per-model quality knobs: ``(model marker, failure rate)`` pairs, first match wins. The
    rate is how often a structured-output answer of a matching model fails validation (a
    required field missing, or the JSON cut short). Simulated, not measured."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a scenario needs a name")
        if not isinstance(self.seed, int):
            raise TypeError("seed must be an int")
        for marker, rate in self.quality:
            if not isinstance(marker, str) or not 0.0 <= rate <= 1.0:
                raise ValueError(f"quality needs (model marker, rate in [0, 1]), got {marker!r}")

    def failure_rate(self, model: str) -> float:
        """The simulated validation-failure rate of ``model``'s structured answers."""
        name = model.lower()
        for marker, rate in self.quality:
            if marker in name:
                return rate
        return 0.0

    def with_(self, **changes: Any) -> Scenario:
        return replace(self, **changes)

    def plus(self, *rules: FaultRule) -> Scenario:
        """The same scenario with extra fault rules checked after its own."""
        return replace(self, faults=(*self.faults, *rules))


SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    """Add (or replace) a named scenario, so ``llmkit sim serve --scenario`` can find it."""
    SCENARIOS[scenario.name] = scenario
    return scenario


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise ValueError(f"unknown scenario {name!r}; known: {known}") from None


def _every(fault: Fault, **kw: Any) -> tuple[FaultRule, ...]:
    return (FaultRule(fault, **kw),)


for _s in (
    Scenario("healthy", "Every request succeeds, with realistic per-model latency."),
    Scenario(
        "instant",
        "Healthy with zero latency and no practical rate limit (benchmarks).",
        latency=ZERO_LATENCY,
        limits=RateLimits(10**9, 10**12),
    ),
    Scenario(
        "rate-limited",
        "Every request gets 429 rate_limit_exceeded with retry-after: 2.",
        faults=_every(Fault.RATE_LIMIT, retry_after=2.0),
    ),
    Scenario(
        "flaky",
        "30% of requests fail transiently (429, 500, 502, 503/529, reset).",
        faults=(
            FaultRule(
                (
                    Fault.RATE_LIMIT,
                    Fault.SERVER_ERROR,
                    Fault.BAD_GATEWAY,
                    Fault.OVERLOADED,
                    Fault.RESET,
                ),
                rate=0.3,
                retry_after=1.0,
            ),
        ),
    ),
    Scenario(
        "retry-after-then-ok",
        "The first 2 requests get 429 with retry-after: 1, then OK.",
        faults=(FaultRule(Fault.RATE_LIMIT, requests=(0, 2), retry_after=1.0),),
    ),
    Scenario(
        "5xx-burst",
        "The first 3 requests get a seeded mix of 500, 502 and 503, then OK.",
        faults=(
            FaultRule((Fault.SERVER_ERROR, Fault.BAD_GATEWAY, Fault.UNAVAILABLE), requests=(0, 3)),
        ),
    ),
    Scenario(
        "overloaded-529",
        "Every request is overloaded: Anthropic 529, others 503.",
        faults=_every(Fault.OVERLOADED),
    ),
    Scenario(
        "insufficient-quota",
        "Every request: out of credit (OpenAI 429 insufficient_quota, "
        "OpenRouter 402, Anthropic 400).",
        faults=_every(Fault.INSUFFICIENT_QUOTA),
    ),
    Scenario(
        "billing-error",
        "Every request: out of credit, as Anthropic's billing_error type (400); others as "
        "insufficient-quota.",
        faults=_every(Fault.BILLING),
    ),
    Scenario(
        "500-no-retry",
        "The first request gets a 500 that says not to retry (Anthropic x-should-retry: "
        "false), then OK.",
        faults=(FaultRule(Fault.SERVER_ERROR_FINAL, requests=(0, 1)),),
    ),
    Scenario(
        "context-length",
        "Every request is rejected as too long for the context window.",
        faults=_every(Fault.CONTEXT_LENGTH),
    ),
    Scenario(
        "content-filter",
        "Every request is rejected by the content filter (400).",
        faults=_every(Fault.CONTENT_FILTER),
    ),
    Scenario("auth", "Every request gets 401 (invalid API key).", faults=_every(Fault.AUTH)),
    Scenario(
        "timeout-then-ok",
        "The first request hangs past any read timeout, then OK.",
        faults=(FaultRule(Fault.HANG, requests=(0, 1)),),
    ),
    Scenario(
        "reset-then-ok",
        "The first request's connection is reset, then OK.",
        faults=(FaultRule(Fault.RESET, requests=(0, 1)),),
    ),
    Scenario(
        "midstream-error",
        "Streams fail with an error event after 3 chunks (non-streamed requests get 500).",
        faults=_every(Fault.MIDSTREAM_ERROR),
    ),
    Scenario(
        "truncated-stream",
        "Bodies end early: streams without their final event, half a JSON body.",
        faults=_every(Fault.TRUNCATE),
    ),
    Scenario(
        "stalled-stream",
        "Streams stop after 3 chunks and go silent (idle timeout).",
        faults=_every(Fault.STALL),
    ),
    Scenario(
        "malformed-json",
        "200 responses whose JSON does not parse.",
        faults=_every(Fault.MALFORMED_JSON),
    ),
    Scenario(
        "ratelimit-drain",
        "Limits of 5 requests/min and 20k tokens/min: remaining "
        "headers drain to 0, then honest 429s.",
        limits=RateLimits(requests_per_minute=5, tokens_per_minute=20_000),
    ),
    Scenario(
        "outage",
        "The provider is down (529/503) from t=60 s to t=120 s of simulator time.",
        faults=(FaultRule(Fault.OVERLOADED, window=(60.0, 120.0), retry_after=5.0),),
    ),
    Scenario(
        "slow-tail",
        "Healthy, but 15% of requests are 10x slower to first token.",
        latency=DEFAULT_LATENCY.with_tail(0.15, 10.0),
    ),
):
    register(_s)
