"""Readers and request helpers every provider adapter shares (sans-IO).

Provider bodies are JSON whose shape is not guaranteed: these readers turn "not what we
expected" into an empty value or None, so ``.get`` chains never raise and the adapter decides
what is missing (an :class:`~llmkit.errors.InvalidResponseError` via :func:`invalid`, never a
``KeyError``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from llmkit.errors import InvalidResponseError
from llmkit.providers.base import request_id
from llmkit.secrets import APIKey

__all__ = [
    "as_count",
    "as_dict",
    "as_list",
    "as_str",
    "invalid",
    "join_url",
    "json_request",
    "path_of",
]


def as_dict(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (so ``.get`` chains never raise)."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def as_count(value: object) -> int | None:
    """A reported token count, or None. Bools and negatives are not counts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def path_of(response: httpx.Response) -> str:
    """The request path, or "" for a response built without a request."""
    try:
        return response.request.url.path
    except RuntimeError:
        return ""


def invalid(message: str, response: httpx.Response, provider: str) -> InvalidResponseError:
    return InvalidResponseError(
        message,
        provider=provider,
        status=response.status_code,
        request_id=request_id(response.headers),
    )


def json_request(
    url: str, body: Mapping[str, Any], *, api_key: APIKey | None, stream: bool
) -> httpx.Request:
    """A POST with a JSON body; the key goes in the Authorization header and nowhere else."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key.reveal()}"
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return httpx.Request("POST", url, headers=headers, content=content)


def join_url(base_url: str, path: str) -> str:
    if not base_url:
        raise ValueError("base_url must not be empty")
    return base_url.rstrip("/") + path
