"""Reading rate-limit reset values: one implementation for the adapters and the throttle.

Providers say when a bucket refills in three dialects:

* OpenAI and compatibles: a Go duration (``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"``) or bare seconds.
* Anthropic: an RFC 3339 time (``"2026-01-01T00:00:30Z"``).
* OpenRouter: a Unix time in milliseconds.

Recorded and real traffic carries placeholders (``X-RATELIMIT-RESET-TOKENS-XXX``) and resets
of ``1970-01-01T00:00:00Z``. Each of those reads as None ("unknown"), never as "now", so that
a garbage header can neither hide a wait nor invent one. This module is pure (no clock, no
layers): the provider adapters and :mod:`llmkit.throttle` both import it.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

__all__ = [
    "OLDEST_CREDIBLE_RESET",
    "parse_duration",
    "parse_epoch_ms",
    "parse_reset",
    "parse_rfc3339",
]

OLDEST_CREDIBLE_RESET = 946_684_800.0
"""2000-01-01 (Unix seconds): a reset time before it is a placeholder (1970), not information."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(value: str | None) -> float | None:
    """Seconds in a Go duration (``"6m0s"``, ``"20ms"``) or a bare number; None if unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        plain = float(text)
    except ValueError:
        pass
    else:
        return plain if math.isfinite(plain) and plain >= 0 else None
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos > 0 else None


def _credible(stamp: float) -> float | None:
    return stamp if math.isfinite(stamp) and stamp >= OLDEST_CREDIBLE_RESET else None


def parse_rfc3339(value: str | None) -> float | None:
    """Unix time of an RFC 3339 timestamp; None if unreadable, zone-less or before 2000."""
    text = (value or "").strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None  # a time without a zone cannot be placed on the wall clock
    return _credible(when.timestamp())


def parse_epoch_ms(value: str | None) -> float | None:
    """Unix time (seconds) of a Unix time in milliseconds; None if unreadable or before 2000."""
    try:
        ms = float((value or "").strip())
    except ValueError:
        return None
    return _credible(ms / 1000.0)


def parse_reset(value: str | None, *, wall: float) -> float | None:
    """Seconds until a reset given as a duration or an RFC 3339 time (``wall`` = now, Unix).

    None when unreadable or a placeholder; 0 when a credible time is already past (the bucket
    has refilled).
    """
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    when = parse_rfc3339(value)
    return None if when is None else max(0.0, when - wall)
