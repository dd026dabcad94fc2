"""The virtual-time wire protocol between a recorder and ``SimServer(virtual_time=True)``.

A virtual-time server never sleeps. The client says what time it is on its own (virtual) clock
with a request header, the server runs the simulator at that instant and answers at once, and
the response carries the plan's timing in ``x-llmkit-sim-*`` headers: how long before the
headers, each body chunk's byte length and the wait before it, and how the exchange ends (a
hang or a reset). The client then plays those waits on its virtual clock as it reads the body,
so rate-limit windows, outages, read timeouts and time to first token come out exactly as in
process, while every byte really crosses a socket on 127.0.0.1.

Transport faults stay transport faults: a reset (or the end of a hang) closes the connection
for real, mid-body or right after the headers. When the fault comes before any response
(``headers_sent`` false) the status line and headers are only a carrier for the timing and
are never shown to the caller. Cassettes never keep these headers (the scrubber's allowlist
drops every ``x-llmkit-sim-*`` name).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from llmkit.sim.plan import SimResponse

__all__ = [
    "FAULT_HEADER",
    "LATENCY_HEADER",
    "PLAN_HEADER",
    "TIME_HEADER",
    "TTFT_HEADER",
    "Schedule",
    "parse_schedule",
    "parse_time",
    "plan_headers",
]

TIME_HEADER: Final = "x-llmkit-sim-time"
"""Request: the client's virtual time in seconds since the server started (a float)."""
PLAN_HEADER: Final = "x-llmkit-sim-plan"
"""Response: the exact schedule as compact JSON (what a recorder plays)."""
LATENCY_HEADER: Final = "x-llmkit-sim-latency"
"""Response: simulated seconds from request to last byte (for people and other clients)."""
TTFT_HEADER: Final = "x-llmkit-sim-ttft"
"""Response: simulated seconds to the first body byte (absent without a body)."""
FAULT_HEADER: Final = "x-llmkit-sim-fault"
"""Response: the simulator fault that shaped the answer, when there was one."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A plan's timing without its bytes: what the client waits, and when."""

    delay: float
    chunks: tuple[tuple[int, float], ...]
    """(byte length, simulated seconds before it) for each body write, in order."""
    abort: Literal["hang", "reset"] | None = None
    headers_sent: bool = True
    hang_seconds: float = 0.0


def parse_time(value: str | None) -> float | None:
    """The request header's time, or None when it is missing or not a finite, >= 0 number."""
    if value is None:
        return None
    try:
        t = float(value)
    except ValueError:
        return None
    return t if math.isfinite(t) and t >= 0 else None


def plan_headers(plan: SimResponse) -> list[tuple[str, str]]:
    """The ``x-llmkit-sim-*`` response headers for ``plan`` (floats written exactly)."""
    doc = {
        "delay": plan.delay,
        "chunks": [[len(c.data), c.delay] for c in plan.chunks],
        "abort": plan.abort,
        "headers_sent": plan.headers_sent,
        "hang": plan.hang_seconds,
    }
    out = [
        (PLAN_HEADER, json.dumps(doc, separators=(",", ":"))),
        (LATENCY_HEADER, repr(plan.duration)),
    ]
    waited = plan.delay
    for c in plan.chunks:
        waited += c.delay
        if c.data:
            out.append((TTFT_HEADER, repr(waited)))
            break
    if plan.fault is not None:
        out.append((FAULT_HEADER, str(plan.fault)))
    return out


def parse_schedule(headers: Iterable[tuple[bytes, bytes]]) -> Schedule | None:
    """The schedule from raw response headers; None when there is none or it is malformed."""
    raw = next((v for k, v in headers if k.lower() == PLAN_HEADER.encode()), None)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        abort = doc["abort"]
        if abort not in (None, "hang", "reset"):
            return None
        return Schedule(
            float(doc["delay"]),
            tuple((int(n), float(d)) for n, d in doc["chunks"]),
            abort,
            bool(doc["headers_sent"]),
            float(doc["hang"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
