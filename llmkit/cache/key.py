"""The cache key: a stable hash of what determines the answer, and who may see it.

Included: the scope (the endpoint, its credentials masked, and a keyed hash of the credentials
-- never the key itself -- as :func:`credential_scope` builds it; a ``tenant`` tag too), so an
answer cached for one tenant is never served to another, and another ``base_url`` behind the
same provider name has entries of its own; then provider, model, messages (role, content,
images, name, tool call ids and calls), max_tokens, temperature, tools, and the pass-through
``extra`` parameters. Excluded: ``stream`` (a cached answer can be replayed as a stream), other
``tags`` (labels, never sent) and the volatile ``extra`` fields in :data:`VOLATILE_EXTRA` (user ids,
metadata, stream options) that change per call but not the answer. The hash is SHA-256 of
canonical JSON (sorted keys, no spaces), so it is the same in every process and Python version.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any, Final

from llmkit.secrets import APIKey, redact_url
from llmkit.types import ChatRequest, ImagePart

__all__ = [
    "KEY_VERSION",
    "SCOPE_SECRET_ENV",
    "VOLATILE_EXTRA",
    "cache_key",
    "credential_scope",
    "is_cacheable",
    "normalize",
]

KEY_VERSION: Final = "llmkit-cache-v2"
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


SCOPE_SECRET_ENV: Final = "LLMKIT_CACHE_SECRET"  # noqa: S105 - a variable name
_DEFAULT_SCOPE_SECRET: Final = b"llmkit-cache-scope-v1"


def credential_scope(base_url: str, credentials: Iterable[APIKey | str | None]) -> str:
    """``"<endpoint with credentials masked>#<HMAC-SHA256 of the credentials>"``.

    The HMAC key is ``$LLMKIT_CACHE_SECRET`` when set (set it where a cache is shared, so a
    stolen cache cannot even confirm a guessed key), else a fixed one: keys are long random
    strings, so their hash alone reveals nothing either way. Every process with the same
    secret computes the same scope, so shared caches (SQLite, Redis) still hit across them.
    """
    secret = os.environ.get(SCOPE_SECRET_ENV, "").encode() or _DEFAULT_SCOPE_SECRET
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for c in credentials:
        value = c.reveal() if isinstance(c, APIKey) else c
        mac.update(b"\0" + (value or "").encode("utf-8"))
    return f"{redact_url(base_url)}#{mac.hexdigest()[:32]}"


def normalize(request: ChatRequest, provider: str, scope: str = "") -> dict[str, Any]:
    """The JSON-able value the key hashes. Raises TypeError for an unhashable ``extra``."""
    return {
        "v": KEY_VERSION,
        "scope": scope,
        "tenant": request.tags.get("tenant"),
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


def cache_key(request: ChatRequest, provider: str, scope: str = "") -> str:
    """Hex SHA-256 of the normalized request. Raises TypeError if ``extra`` is not JSON."""
    blob = json.dumps(
        normalize(request, provider, scope),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
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
