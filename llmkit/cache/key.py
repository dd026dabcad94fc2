"""The cache key: a stable hash of what determines the answer, and nothing else.

Included: provider, model, messages (role, content, images, name, tool call ids and calls),
max_tokens, temperature, tools, and the pass-through ``extra`` parameters. Excluded: ``stream``
(a cached answer can be replayed as a stream), ``tags`` (labels, never sent) and the volatile
``extra`` fields in :data:`VOLATILE_EXTRA` (user ids, metadata, stream options) that change per
call but not the answer. The hash is SHA-256 of canonical JSON (sorted keys, no spaces), so it
is the same in every process and Python version.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, Final

from llmkit.types import ChatRequest, ImagePart

__all__ = ["KEY_VERSION", "VOLATILE_EXTRA", "cache_key", "is_cacheable", "normalize"]

KEY_VERSION: Final = "llmkit-cache-v1"
"""Part of every key; bump it when the normalization changes so old entries are not reused."""

VOLATILE_EXTRA: Final[frozenset[str]] = frozenset(
    {
        "user",
        "metadata",
        "stream",
        "stream_options",
        "store",
        "safety_identifier",
        "prompt_cache_key",
        "idempotency_key",
        "request_id",
    }
)


def normalize(request: ChatRequest, provider: str) -> dict[str, Any]:
    """The JSON-able value the key hashes. Raises TypeError for an unhashable ``extra``."""
    return {
        "v": KEY_VERSION,
        "provider": provider,
        "model": request.model,
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "name": m.name,
                "tool_call_id": m.tool_call_id,
                "tool_calls": [[c.id, c.name, c.arguments] for c in m.tool_calls],
                # Only when there are images, so keys of text-only requests stay as they were.
                **({"parts": [_part(p) for p in m.parts]} if m.parts else {}),
            }
            for m in request.messages
        ],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "tools": [
            {"name": t.name, "description": t.description, "parameters": _plain(t.parameters)}
            for t in request.tools
        ],
        "extra": {k: _plain(v) for k, v in request.extra.items() if k not in VOLATILE_EXTRA},
    }


def cache_key(request: ChatRequest, provider: str) -> str:
    """Hex SHA-256 of the normalized request. Raises TypeError if ``extra`` is not JSON."""
    blob = json.dumps(
        normalize(request, provider), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def is_cacheable(request: ChatRequest, *, opt_in: bool = False) -> bool:
    """Only deterministic requests (temperature 0) unless the caller opted in.

    A request tagged ``cache="off"`` is never cached; ``cache="on"`` opts in for that call.
    """
    flag = request.tags.get("cache")
    if flag == "off":
        return False
    if flag == "on" or opt_in:
        return True
    return request.temperature == 0


def _part(p: str | ImagePart) -> Any:
    if isinstance(p, str):
        return p
    return [p.url, p.data, p.media_type, p.detail]


def _plain(value: Any) -> Any:
    """A JSON value with no ambiguity (mappings to dicts, sequences to lists)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError("non-finite float in a cache key")
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    raise TypeError(f"cannot put a {type(value).__name__} in a cache key")
