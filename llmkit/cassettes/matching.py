"""Which recorded interaction answers a request: method, path and the JSON body.

vcrpy matches on the URL by default, but every chat call POSTs to the same path, so two
different prompts would get each other's answers. llmkit matches on ``method``, ``path`` and
``json_body``: the parsed JSON request body without the fields below, which change from run to
run or from user to user without changing what the model is asked:

    ``stream_options``, ``user``, ``metadata``, ``seed``, ``safety_identifier``,
    ``prompt_cache_key``

Host, port and scheme are ignored on purpose: a recording made against the simulator on a
random loopback port replays against any base URL. Identical requests (a retry, a repeated
prompt) are answered in recorded order, each recorded response once.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, Final, Protocol

from llmkit.cassettes.scrub import scrub_json
from llmkit.secrets import scrub as scrub_text

__all__ = [
    "MATCH_ON",
    "VOLATILE_FIELDS",
    "body_bytes",
    "comparable_body",
    "json_body",
    "request_key",
]

VOLATILE_FIELDS: Final = frozenset(
    {"stream_options", "user", "metadata", "seed", "safety_identifier", "prompt_cache_key"}
)
MATCH_ON: Final = ("method", "path", "json_body")


class _VcrRequest(Protocol):
    method: str
    path: str
    body: Any


def body_bytes(body: Any) -> bytes:
    """A request or response body as vcrpy or a cassette file hands it over, as bytes."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):  # vcrpy hands file-like bodies back as BytesIO
        data = body.read()
        return data if isinstance(data, bytes) else str(data).encode("utf-8")
    return b"".join(body)


def comparable_body(body: Any) -> Any:
    """The part of a request body that decides the answer: parsed JSON without volatile
    top-level fields, scrubbed as a cassette stores it; raw scrubbed text if not JSON.

    Cached by body bytes: vcrpy compares every request with every recorded one, so a long
    cassette would otherwise parse the same bodies quadratically often. Treat it as read-only.
    """
    return _comparable(body_bytes(body))


@functools.lru_cache(maxsize=8192)
def _comparable(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return scrub_text(raw.decode("utf-8", errors="replace"))
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in VOLATILE_FIELDS}
    return scrub_json(data)


def json_body(r1: _VcrRequest, r2: _VcrRequest) -> None:
    """vcrpy matcher: raises AssertionError (vcrpy's convention) naming the first difference."""
    a, b = comparable_body(r1.body), comparable_body(r2.body)
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted({k for k in a.keys() | b.keys() if a.get(k) != b.get(k)})
        raise AssertionError(f"JSON bodies differ in {', '.join(keys)}")
    raise AssertionError("bodies differ")


def request_key(method: str, path: str, body: Any) -> str:
    """A short stable hash of what matching compares; the timeline keys attempts by it."""
    canon = json.dumps(
        [method.upper(), path, comparable_body(body)],
        sort_keys=True,
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canon.encode("ascii")).hexdigest()[:12]


def model_of(body: Any) -> str | None:
    """The ``model`` field of a JSON body, for error messages (never the prompt)."""
    data = comparable_body(body)
    if isinstance(data, dict) and isinstance(data.get("model"), str):
        return str(data["model"])
    return None
