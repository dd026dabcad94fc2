"""What vcrpy does not store: provenance, the logical calls, and the per-request timeline.

vcrpy keeps request/response pairs only: no durations, no transport exceptions. llmkit keeps
the rest in a top-level ``llmkit:`` section of the same YAML file (one file, one review)::

    llmkit:
      format: 1
      provenance: {source: simulator, provider: openai, scenario: rate-limit-then-success,
                   simulator_version: '1', seed: 7, llmkit_version: 0.1.0}
      calls:      # the neutral requests a replay sends again, with their arrival offsets
      - {t_s: 0.0, provider: openai, request: {model: gpt-4o-mini, messages: [...]}}
      timeline:   # every HTTP attempt in the order it was sent
      - {call: 0, key: 1a2b3c4d5e6f, t_s: 0.0, response: 0, latency_s: 0.41, ttft_s: null}
      - {call: 0, key: 1a2b3c4d5e6f, t_s: 1.4, fault: timeout, after_s: 10.0}

``response`` is the index of the vcrpy interaction the attempt got; ``fault`` is a transport
failure vcrpy could not record (``timeout``, ``reset`` or ``connect``), raised again on replay
after ``after_s``. ``key`` is the request's match key (see ``matching.request_key``), so a
replay through another policy still finds each attempt's own timing. ``t_s`` is the start
offset from the first attempt.

Provenance says where the bytes came from. ``source: simulator`` needs the simulator version
and seed; ``source: live`` needs the recording date and must not name a simulator. A
simulator recording is never presented as a live one. ``transport`` says how the bytes
travelled: ``http`` (a real socket on 127.0.0.1, or the live API) or ``in-process``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "FAULTS",
    "FORMAT",
    "TRANSPORTS",
    "CassetteMeta",
    "FaultStep",
    "Provenance",
    "RecordedCall",
    "ResponseStep",
    "Step",
    "TimelineFormatError",
]

FORMAT: Final = 1
FAULTS: Final = ("timeout", "reset", "connect")
TRANSPORTS: Final = ("http", "in-process")
Fault = Literal["timeout", "reset", "connect"]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class TimelineFormatError(ValueError):
    """The ``llmkit:`` section is malformed; the loader turns it into CorruptCassetteError."""


@dataclass(frozen=True, slots=True)
class Provenance:
    source: Literal["simulator", "live"]
    provider: str
    scenario: str
    llmkit_version: str
    simulator_version: str | None = None
    seed: int | None = None
    recorded_on: str | None = None
    """ISO date of a live recording (``2026-01-31``); None for simulator recordings."""
    transport: Literal["http", "in-process"] | None = None
    """How the bytes travelled: ``http`` (a real socket, to the served simulator or a live
    API) or ``in-process`` (the simulator called directly, no socket). None: not recorded
    (cassettes written before this field existed)."""

    def __post_init__(self) -> None:
        if self.transport not in (None, *TRANSPORTS):
            raise TimelineFormatError(
                f"provenance.transport must be one of {', '.join(TRANSPORTS)}, "
                f"not {self.transport!r}"
            )
        if self.source == "simulator":
            if not self.simulator_version or self.seed is None:
                raise TimelineFormatError("a simulator recording needs simulator_version and seed")
            if self.recorded_on is not None:
                raise TimelineFormatError("a simulator recording carries no live recording date")
        elif self.source == "live":
            if not self.recorded_on or not _DATE.match(self.recorded_on):
                raise TimelineFormatError("a live recording needs recorded_on (YYYY-MM-DD)")
            if self.simulator_version is not None:
                raise TimelineFormatError("a live recording cannot name a simulator version")
            if self.transport == "in-process":
                raise TimelineFormatError("a live recording travels over http, not in-process")
        else:
            raise TimelineFormatError(f"source must be 'simulator' or 'live', not {self.source!r}")

    @property
    def is_live(self) -> bool:
        return self.source == "live"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "provider": self.provider,
            "scenario": self.scenario,
        }
        if self.source == "simulator":
            out["simulator_version"] = self.simulator_version
            out["seed"] = self.seed
        else:
            out["recorded_on"] = self.recorded_on
        if self.transport is not None:
            out["transport"] = self.transport
        out["llmkit_version"] = self.llmkit_version
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Provenance:
        d = _mapping(data, "provenance")
        seed = d.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise TimelineFormatError("provenance.seed must be an integer")
        version = d.get("simulator_version")
        recorded_on = d.get("recorded_on")
        transport = d.get("transport")
        return cls(
            source=_str(d, "source", "provenance"),  # type: ignore[arg-type]
            provider=_str(d, "provider", "provenance"),
            scenario=_str(d, "scenario", "provenance"),
            llmkit_version=_str(d, "llmkit_version", "provenance"),
            simulator_version=None if version is None else str(version),
            seed=seed,
            recorded_on=None if recorded_on is None else str(recorded_on),
            transport=None if transport is None else str(transport),  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True)
class ResponseStep:
    """An attempt that got a recorded HTTP response (interaction number ``response``)."""

    call: int
    key: str
    t_s: float
    response: int
    latency_s: float
    ttft_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "call": self.call,
            "key": self.key,
            "t_s": _r(self.t_s),
            "response": self.response,
            "latency_s": _r(self.latency_s),
            "ttft_s": None if self.ttft_s is None else _r(self.ttft_s),
        }


@dataclass(frozen=True, slots=True)
class FaultStep:
    """An attempt that failed in transport after ``after_s`` seconds."""

    call: int
    key: str
    t_s: float
    fault: Fault
    after_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "call": self.call,
            "key": self.key,
            "t_s": _r(self.t_s),
            "fault": self.fault,
            "after_s": _r(self.after_s),
        }


Step = ResponseStep | FaultStep


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One logical call of the workload: when it arrived and the neutral request it sent."""

    t_s: float
    provider: str
    request: Mapping[str, Any]
    """``ChatRequest`` fields as plain data (see ``workload.request_to_data``)."""
    api: str = "chat"
    """``chat``, ``responses`` or ``messages``: which wire API the provider was called with."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "t_s": _r(self.t_s),
            "provider": self.provider,
            "api": self.api,
            "request": dict(self.request),
        }


@dataclass(frozen=True, slots=True)
class CassetteMeta:
    provenance: Provenance
    calls: tuple[RecordedCall, ...] = ()
    timeline: tuple[Step, ...] = ()
    format: int = FORMAT
    notes: Mapping[str, Any] = field(default_factory=dict)
    """Free-form facts a scenario wants charts to know (e.g. the fallback pair's roles)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self.format, "provenance": self.provenance.to_dict()}
        if self.notes:
            out["notes"] = dict(self.notes)
        out["calls"] = [c.to_dict() for c in self.calls]
        out["timeline"] = [s.to_dict() for s in self.timeline]
        return out

    @classmethod
    def from_dict(cls, data: Any, *, interactions: int) -> CassetteMeta:
        """Parse and cross-check against the number of vcrpy interactions in the file."""
        d = _mapping(data, "llmkit")
        fmt = d.get("format")
        if fmt != FORMAT:
            raise TimelineFormatError(f"llmkit.format must be {FORMAT}, got {fmt!r}")
        prov = Provenance.from_dict(d.get("provenance"))
        calls = tuple(_call(c, i) for i, c in enumerate(_list(d.get("calls", []), "calls")))
        steps = tuple(_step(s, i) for i, s in enumerate(_list(d.get("timeline"), "timeline")))
        seen: set[int] = set()
        for s in steps:
            if isinstance(s, ResponseStep):
                if not 0 <= s.response < interactions:
                    raise TimelineFormatError(
                        f"timeline names response {s.response}, the file has {interactions}"
                    )
                if s.response in seen:
                    raise TimelineFormatError(f"response {s.response} appears twice in timeline")
                seen.add(s.response)
            if calls and not 0 <= s.call < len(calls):
                raise TimelineFormatError(f"timeline names call {s.call}, there are {len(calls)}")
        if len(seen) != interactions:
            raise TimelineFormatError(
                f"timeline covers {len(seen)} of {interactions} recorded interactions"
            )
        notes = d.get("notes", {})
        return cls(prov, calls, steps, fmt, _mapping(notes, "notes"))

    @property
    def duration_s(self) -> float:
        """When the last attempt ended, in seconds from the start of the recording."""
        end = 0.0
        for s in self.timeline:
            dur = s.latency_s if isinstance(s, ResponseStep) else s.after_s
            end = max(end, s.t_s + dur)
        return end


# --------------------------------------------------------------------------- parsing helpers


def _r(x: float) -> float:
    return round(float(x), 4)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TimelineFormatError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise TimelineFormatError(f"llmkit.{where} must be a list, got {type(value).__name__}")
    return value


def _str(d: Mapping[str, Any], key: str, where: str) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise TimelineFormatError(f"{where}.{key} must be a non-empty string")
    return v


def _num(d: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> float | None:
    v = d.get(key)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise TimelineFormatError(f"{where}.{key} must be a number >= 0")
    return float(v)


def _int(d: Mapping[str, Any], key: str, where: str) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise TimelineFormatError(f"{where}.{key} must be an integer >= 0")
    return v


def _step(data: Any, i: int) -> Step:
    where = f"timeline[{i}]"
    d = _mapping(data, where)
    call, key = _int(d, "call", where), _str(d, "key", where)
    t_s = _num(d, "t_s", where)
    assert t_s is not None
    if "fault" in d:
        fault = d["fault"]
        if fault not in FAULTS:
            raise TimelineFormatError(f"{where}.fault must be one of {FAULTS}, got {fault!r}")
        after = _num(d, "after_s", where)
        assert after is not None
        return FaultStep(call, key, t_s, fault, after)
    latency = _num(d, "latency_s", where)
    assert latency is not None
    return ResponseStep(
        call, key, t_s, _int(d, "response", where), latency, _num(d, "ttft_s", where, optional=True)
    )


def _call(data: Any, i: int) -> RecordedCall:
    where = f"calls[{i}]"
    d = _mapping(data, where)
    t_s = _num(d, "t_s", where)
    assert t_s is not None
    api = d.get("api", "chat")
    if api not in ("chat", "responses", "messages", "images", "video-jobs"):
        raise TimelineFormatError(
            f"{where}.api must be chat, responses, messages, images or video-jobs"
        )
    return RecordedCall(
        t_s, _str(d, "provider", where), _mapping(d.get("request"), f"{where}.request"), api
    )
