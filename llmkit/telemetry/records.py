"""Telemetry records: what one attempt, one call or one event looks like, and their keys.

The column table is in :mod:`llmkit.telemetry`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, ClassVar, Literal

from llmkit.errors import LLMError
from llmkit.types import ChatRequest, ChatResponse, Usage

__all__ = [
    "RECORD_KEYS",
    "AttemptRecord",
    "CallRecord",
    "EventRecord",
    "Record",
    "error_fields",
    "fingerprint",
    "response_fields",
    "usage_fields",
]

RECORD_KEYS: tuple[tuple[str, str], ...] = (
    # (record attribute, as_dict() key), in as_dict() order
    ("kind", "llmkit.record"),
    ("call_id", "llmkit.call_id"),
    ("timestamp", "timestamp"),
    ("provider", "gen_ai.provider.name"),
    ("operation", "gen_ai.operation.name"),
    ("request_model", "gen_ai.request.model"),
    ("response_model", "gen_ai.response.model"),
    ("stream", "gen_ai.request.stream"),
    ("attempt", "llmkit.attempt"),
    ("latency", "gen_ai.client.operation.duration"),
    ("ttft", "gen_ai.response.time_to_first_chunk"),
    ("status", "http.response.status_code"),
    ("error_type", "error.type"),
    ("retry_after", "llmkit.retry_after"),
    ("input_tokens", "gen_ai.usage.input_tokens"),
    ("output_tokens", "gen_ai.usage.output_tokens"),
    ("cache_read_tokens", "gen_ai.usage.cache_read.input_tokens"),
    ("cache_write_tokens", "gen_ai.usage.cache_creation.input_tokens"),
    ("reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),
    ("finish_reasons", "gen_ai.response.finish_reasons"),
    ("response_id", "gen_ai.response.id"),
    ("request_id", "llmkit.request_id"),
    ("server_address", "server.address"),
    ("cost", "llmkit.cost"),
    ("usage_source", "llmkit.usage.source"),
    ("cache_hit", "llmkit.cache_hit"),
    ("tags", "llmkit.tags"),
    ("fingerprint", "llmkit.request.fingerprint"),
    ("retry_delay", "llmkit.retry.delay"),
    ("retry_decision", "llmkit.retry.decision"),
    ("budget_denied", "llmkit.retry.budget_denied"),
    ("read_timeout", "llmkit.timeout.read"),
    ("deadline_remaining", "llmkit.deadline.remaining"),
    ("degraded", "llmkit.degraded"),
    ("cache_status", "llmkit.cache.status"),
    ("target", "llmkit.target"),
    ("fallback_path", "llmkit.fallback.path"),
    ("fallback_skipped", "llmkit.fallback.skipped"),
    ("hedged", "llmkit.hedged"),
    ("hedge_won", "llmkit.hedge.won"),
    ("throttle_wait", "llmkit.throttle.wait"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Fields shared by attempt and call records (see the module docstring for the keys)."""

    kind: ClassVar[Literal["attempt", "call"]]
    call_id: str
    timestamp: float
    provider: str
    request_model: str
    operation: str = "chat"
    response_model: str | None = None
    stream: bool = False
    attempt: int = 1
    latency: float | None = None
    ttft: float | None = None
    status: int | None = None
    error_type: str | None = None
    retry_after: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    finish_reasons: tuple[str, ...] = ()
    response_id: str | None = None
    request_id: str | None = None
    server_address: str | None = None
    cost: float | None = None
    usage_source: str | None = None
    """Where the counts and cost came from: ``answer`` (a complete answer), ``partial`` (a
    stream that ended without its answer, as far as the provider had reported) or
    ``estimated`` (such a stream, with llmkit's upper-bound counts where it had not)."""
    cache_hit: bool | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    fingerprint: str | None = None
    retry_delay: float | None = None
    retry_decision: str | None = None
    budget_denied: bool = False
    read_timeout: float | None = None
    deadline_remaining: float | None = None
    degraded: str | None = None
    cache_status: str | None = None
    target: str | None = None
    fallback_path: str | None = None
    fallback_skipped: int | None = None
    hedged: bool | None = None
    hedge_won: bool | None = None
    throttle_wait: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Columns registered by other layers (``llmkit.outcomes.register_columns``), by key."""

    def as_dict(self) -> dict[str, Any]:
        out = dict(zip(_OUT_KEYS, _read_all(self), strict=True))
        out["llmkit.tags"] = dict(self.tags)
        out["gen_ai.response.finish_reasons"] = list(self.finish_reasons)
        if self.extra:
            out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRecord(Record):
    """One HTTP attempt (or one answer from a layer that short-circuits)."""

    kind: ClassVar[Literal["attempt", "call"]] = "attempt"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord(Record):
    """One logical call: all its attempts, sleeps and layers together."""

    kind: ClassVar[Literal["attempt", "call"]] = "call"


_read_all = attrgetter(*(attr for attr, _ in RECORD_KEYS))
_OUT_KEYS = tuple(key for _, key in RECORD_KEYS)


def usage_fields(usage: Usage | None) -> dict[str, int | None]:
    if usage is None:
        return {}
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }


def response_fields(response: ChatResponse | None) -> dict[str, Any]:
    if response is None:
        return {}
    out: dict[str, Any] = usage_fields(response.usage)
    out["response_model"] = response.model
    out["response_id"] = response.id
    out["request_id"] = response.request_id
    out["finish_reasons"] = (response.finish_reason,) if response.finish_reason else ()
    out["cost"] = None if response.cost is None else float(response.cost)
    return out


def error_fields(error: BaseException | None) -> dict[str, Any]:
    if error is None:
        return {}
    if isinstance(error, LLMError):
        return {
            "error_type": error.kind.value,
            "status": error.status,
            "retry_after": error.retry_after,
            "request_id": error.request_id,
        }
    return {"error_type": type(error).__name__}


def fingerprint(request: ChatRequest) -> str:
    """Stable short hash of what was asked (never the text itself).

    Cheap on the hot path: strings are fed to blake2b with separators; JSON is built only for
    tools and extra parameters, when there are any.
    """
    h = hashlib.blake2b(digest_size=10)
    put = h.update
    put(request.model.encode())
    put(f"\x1e{request.max_tokens}\x1f{request.temperature}".encode())
    for m in request.messages:
        put(f"\x1e{m.role}\x1f{m.name}\x1f{m.tool_call_id}\x1f".encode())
        put(m.content.encode("utf-8", "surrogatepass"))
        for c in m.tool_calls:
            put(f"\x1d{c.id}\x1f{c.name}\x1f".encode())
            put(c.arguments.encode("utf-8", "surrogatepass"))
    if request.tools or request.extra:
        tools = [[t.name, t.description, t.parameters] for t in request.tools]
        blob = json.dumps(
            [tools, request.extra], sort_keys=True, separators=(",", ":"), default=str
        )
        put(b"\x1c" + blob.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    """Something that happened outside any one call (a circuit breaker changing state)."""

    kind: ClassVar[Literal["event"]] = "event"
    timestamp: float
    event: str
    target: str
    reason: str
    previous: str | None = None
    failure_rate: float | None = None
    threshold: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    """A layer's own values (``ctx.event(..., **attributes)``), keys as given."""

    def as_dict(self) -> dict[str, Any]:
        out = {
            "llmkit.record": "event",
            "timestamp": self.timestamp,
            "llmkit.event": self.event,
            "llmkit.target": self.target,
            "llmkit.event.reason": self.reason,
            "llmkit.breaker.previous": self.previous,
            "llmkit.breaker.failure_rate": self.failure_rate,
            "llmkit.breaker.threshold": self.threshold,
        }
        if self.attributes:
            out.update(self.attributes)
        return out
