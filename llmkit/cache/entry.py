"""What a cache stores: a ChatResponse as JSON (never pickle), in a small envelope.

The envelope carries its own freshness (``fresh_until``, Unix seconds) so the layer can tell a
fresh entry from a stale one kept for degraded serving; backends only know how long to keep
bytes. Decoding is strict: anything unexpected raises :class:`CorruptEntryError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Protocol

from llmkit.errors import CorruptEntryError
from llmkit.types import ChatResponse, ToolCall, Usage

__all__ = [
    "CacheBackend",
    "Entry",
    "decode_entry",
    "encode_entry",
    "response_from_dict",
    "response_to_dict",
]

ENTRY_VERSION: Final = 1


class CacheBackend(Protocol):
    """Bytes by key, kept ``ttl`` seconds (None = until evicted). Safe to share across threads."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, *, ttl: float | None) -> None: ...

    def delete(self, key: str) -> None: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    response: ChatResponse
    stored_at: float
    """Unix seconds."""
    fresh_until: float | None
    """Unix seconds after which the entry is stale (None = never)."""

    def is_fresh(self, wall: float) -> bool:
        return self.fresh_until is None or wall < self.fresh_until


def response_to_dict(r: ChatResponse) -> dict[str, Any]:
    u = r.usage
    return {
        "text": r.text,
        "model": r.model,
        "provider": r.provider,
        "usage": {
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "cache_read_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
            "reasoning_tokens": u.reasoning_tokens,
        },
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in r.tool_calls
        ],
        "finish_reason": r.finish_reason,
        "refusal": r.refusal,
        "request_id": r.request_id,
        "id": r.id,
        "reasoning": r.reasoning,
        "ttft": r.ttft,
        "latency": r.latency,
    }


def _get(d: dict[str, Any], name: str, *types: type) -> Any:
    value = d.get(name)
    if not isinstance(value, types):
        raise CorruptEntryError(f"field {name!r} has type {type(value).__name__}")
    return value


def _opt_int(d: dict[str, Any], name: str) -> int | None:
    value = d.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise CorruptEntryError(f"field {name!r} is not an integer")
    return value


def _opt_float(d: dict[str, Any], name: str) -> float | None:
    value = d.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CorruptEntryError(f"field {name!r} is not a number")
    return float(value)


def response_from_dict(d: Any) -> ChatResponse:
    if not isinstance(d, dict):
        raise CorruptEntryError("response is not an object")
    usage = _get(d, "usage", dict)
    calls = _get(d, "tool_calls", list)
    for c in calls:
        if not isinstance(c, dict):
            raise CorruptEntryError("tool call is not an object")
    return ChatResponse(
        text=_get(d, "text", str),
        model=_get(d, "model", str, type(None)),
        provider=_get(d, "provider", str),
        usage=Usage(
            input_tokens=_opt_int(usage, "input_tokens"),
            output_tokens=_opt_int(usage, "output_tokens"),
            cache_read_tokens=_opt_int(usage, "cache_read_tokens"),
            cache_write_tokens=_opt_int(usage, "cache_write_tokens"),
            reasoning_tokens=_opt_int(usage, "reasoning_tokens"),
        ),
        tool_calls=tuple(
            ToolCall(_get(c, "id", str), _get(c, "name", str), _get(c, "arguments", str))
            for c in calls
        ),
        finish_reason=_get(d, "finish_reason", str, type(None)),
        refusal=_get(d, "refusal", str, type(None)),
        request_id=_get(d, "request_id", str, type(None)),
        id=_get(d, "id", str, type(None)),
        reasoning=_get(d, "reasoning", str, type(None)),
        ttft=_opt_float(d, "ttft"),
        latency=_opt_float(d, "latency"),
    )


def encode_entry(entry: Entry) -> bytes:
    doc = {
        "v": ENTRY_VERSION,
        "key": entry.key,
        "stored_at": entry.stored_at,
        "fresh_until": entry.fresh_until,
        "response": response_to_dict(entry.response),
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_entry(raw: bytes | str, *, key: str) -> Entry:
    """Parse an envelope; :class:`CorruptEntryError` for anything that is not one for ``key``."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise CorruptEntryError(f"entry is not JSON ({len(raw)} bytes)") from exc
    if not isinstance(doc, dict):
        raise CorruptEntryError("entry is not an object")
    if doc.get("v") != ENTRY_VERSION:
        raise CorruptEntryError(f"entry version {doc.get('v')!r} is not {ENTRY_VERSION}")
    if doc.get("key") != key:
        raise CorruptEntryError("entry was stored under another key")
    stored_at = _opt_float(doc, "stored_at")
    if stored_at is None:
        raise CorruptEntryError("entry has no stored_at")
    return Entry(
        key=key,
        response=response_from_dict(doc.get("response")),
        stored_at=stored_at,
        fresh_until=_opt_float(doc, "fresh_until"),
    )
