"""Injected failures, and the rules that decide which request gets one.

A rule fires by rate (a seeded coin), by schedule (a window of simulator time, measured from
the simulator's start on its clock) or by request number, or any combination: all of a rule's
conditions must hold. Rules are checked in order and the first that fires wins, so a scenario
reads top to bottom like a script.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Fault", "FaultRule"]


class Fault(StrEnum):
    RATE_LIMIT = "rate_limit"
    """429 with retry-after (OpenAI code rate_limit_exceeded)."""
    INSUFFICIENT_QUOTA = "insufficient_quota"
    """OpenAI 429 insufficient_quota; OpenRouter 402; Anthropic 400 credit balance."""
    BILLING = "billing"
    """Anthropic 400 ``billing_error`` (its out-of-credit type); elsewhere as insufficient_quota."""
    SERVER_ERROR = "server_error"
    """500."""
    SERVER_ERROR_FINAL = "server_error_final"
    """A 500 the provider says not to retry (Anthropic ``x-should-retry: false``); elsewhere 500."""
    BAD_GATEWAY = "bad_gateway"
    """502."""
    UNAVAILABLE = "unavailable"
    """503."""
    OVERLOADED = "overloaded"
    """Anthropic 529 overloaded_error (503 elsewhere)."""
    CONTEXT_LENGTH = "context_length"
    CONTENT_FILTER = "content_filter"
    AUTH = "auth"
    """401 invalid key."""
    HANG = "hang"
    """No byte ever comes (before headers): the client's read timeout must fire."""
    STALL = "stall"
    """A stream stops after ``after_tokens`` chunks and then nothing: idle-stream timeout."""
    RESET = "reset"
    """The connection is closed without a response (before headers)."""
    RESET_MIDSTREAM = "reset_midstream"
    """The connection is closed abruptly after ``after_tokens`` chunks."""
    TRUNCATE = "truncate"
    """The body ends cleanly but early (mid-event, no terminal event; half a JSON body)."""
    MIDSTREAM_ERROR = "midstream_error"
    """An error event inside a 200 stream (500 for a non-streamed request)."""
    MALFORMED_JSON = "malformed_json"
    """A 200 whose JSON (or one stream event) does not parse."""


@dataclass(frozen=True, slots=True)
class FaultRule:
    """``fault`` happens when every condition given here holds.

    ``requests=(0, 2)`` means the first two requests (numbered from 0 in arrival order);
    ``window=(60, 120)`` means from t=60 s to t=120 s of simulator time; ``rate=0.3`` is a
    30% seeded coin; ``providers`` limits the rule to ``openai``/``anthropic``/``openrouter``.
    """

    fault: Fault | tuple[Fault, ...]
    """One fault, or several to pick from uniformly (seeded) each time the rule fires."""
    rate: float = 1.0
    requests: tuple[int, int] | None = None
    window: tuple[float, float] | None = None
    providers: frozenset[str] = frozenset()
    retry_after: float | None = None
    """Seconds for the retry-after header (429/503/529); None sends none."""
    after_tokens: int = 3
    """For mid-stream faults: content chunks sent before the fault."""
    hang_seconds: float = 600.0
    """How long a hang/stall lasts before the server gives up and closes the connection."""

    def __post_init__(self) -> None:
        faults = self.fault if isinstance(self.fault, tuple) else (self.fault,)
        if not faults:
            raise ValueError("a rule needs at least one fault")
        for f in faults:
            Fault(f)
        if not 0 <= self.rate <= 1:
            raise ValueError("rate must be within [0, 1]")
        if self.requests is not None and not 0 <= self.requests[0] <= self.requests[1]:
            raise ValueError("requests must be (first, end) with 0 <= first <= end")
        if self.window is not None and not self.window[0] <= self.window[1]:
            raise ValueError("window must be (start, end) with start <= end")
        if self.after_tokens < 0 or self.hang_seconds <= 0:
            raise ValueError("after_tokens must be >= 0 and hang_seconds > 0")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")

    def fires(self, *, n: int, t: float, provider: str, rng: random.Random) -> bool:
        if self.requests is not None and not self.requests[0] <= n < self.requests[1]:
            return False
        if self.window is not None and not self.window[0] <= t < self.window[1]:
            return False
        if self.providers and provider not in self.providers:
            return False
        return self.rate >= 1 or rng.random() < self.rate

    def pick(self, rng: random.Random) -> Fault:
        if isinstance(self.fault, tuple):
            return Fault(self.fault[0] if len(self.fault) == 1 else rng.choice(self.fault))
        return Fault(self.fault)
