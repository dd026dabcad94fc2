"""Read recorded HTTP traffic from other projects' cassettes into plain httpx objects.

Three YAML dialects exist in the wild and all three are read here, so a parser can be tested
against real provider bytes without caring which recorder captured them:

- vcrpy ``version: 1``: ``interactions:``; ``body`` is a string, ``{string: ...}``, or
  ``!!binary`` gzip bytes when the recorder kept ``Content-Encoding: gzip`` undecoded;
- the pydantic-ai variant: JSON bodies stored already parsed under ``parsed_body:``;
- Ruby VCR: ``http_interactions:``, lower-case ``method``, ``{encoding, string}`` bodies and
  ``recorded_at``.

Bodies come back decompressed, with ``content-encoding`` removed, so ``response.content`` is
what the provider meant. Anything unreadable raises :class:`CassetteError` naming the file: it
is an :class:`~llmkit.errors.InvalidResponseError` (recorded provider data that cannot be
understood) and a ``ValueError`` (bad input), never a bare ``KeyError``.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from llmkit.errors import CassetteError, CorruptCassetteError

__all__ = ["Interaction", "load_recording"]


@dataclass(frozen=True, slots=True)
class Interaction:
    """One recorded request and the response it got (``response.request`` is ``request``)."""

    request: httpx.Request
    response: httpx.Response
    recorded_at: str | None = None
    source: str = ""
    """The file it came from (for messages)."""


def load_recording(path: str | Path) -> list[Interaction]:
    """Every interaction in a cassette file, in recorded order."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptCassetteError(p.name, f"cannot read cassette: {exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CorruptCassetteError(p.name, f"not valid YAML: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise CorruptCassetteError(p.name, f"a cassette is a mapping, got {type(doc).__name__}")
    items = doc.get("interactions", doc.get("http_interactions"))
    if not isinstance(items, list):
        raise CorruptCassetteError(p.name, "no 'interactions' or 'http_interactions' list")
    out: list[Interaction] = []
    for i, item in enumerate(items):
        try:
            out.append(_interaction(item, p.name))
        except CassetteError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, httpx.HTTPError) as exc:
            raise CorruptCassetteError(p.name, f"interaction {i} is malformed: {exc!r}") from exc
    return out


def _interaction(item: Any, source: str) -> Interaction:
    if not isinstance(item, Mapping):
        raise CorruptCassetteError(source, "an interaction must be a mapping")
    req, resp = item.get("request"), item.get("response")
    if not isinstance(req, Mapping) or not isinstance(resp, Mapping):
        raise CorruptCassetteError(source, "an interaction needs 'request' and 'response' mappings")

    req_headers = _headers(req.get("headers"))
    req_body, req_headers = _decoded(_body(req), req_headers, source)
    method = req.get("method")
    uri = req.get("uri")
    if not isinstance(method, str) or not isinstance(uri, str):
        raise CorruptCassetteError(source, "request needs a string 'method' and 'uri'")
    request = httpx.Request(method.upper(), uri, headers=req_headers, content=req_body)

    status = resp.get("status")
    code = status.get("code") if isinstance(status, Mapping) else status
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 999:
        raise CorruptCassetteError(source, f"response status code {code!r} is not an HTTP status")
    reason = status.get("message") if isinstance(status, Mapping) else None
    resp_headers = _headers(resp.get("headers"))
    resp_body, resp_headers = _decoded(_body(resp), resp_headers, source)
    response = httpx.Response(
        code,
        headers=resp_headers,
        content=resp_body,
        request=request,
        extensions={"reason_phrase": str(reason or "").encode("latin-1", "replace")},
    )
    recorded = item.get("recorded_at")
    return Interaction(request, response, None if recorded is None else str(recorded), source)


def _headers(raw: Any) -> list[tuple[str, str]]:
    """Header pairs; recorders store each value as a list (vcrpy) or a scalar."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise CorruptCassetteError(
            "cassette", f"headers must be a mapping, got {type(raw).__name__}"
        )
    pairs: list[tuple[str, str]] = []
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        pairs.extend((str(name), "" if v is None else str(v)) for v in values)
    return pairs


def _body(part: Mapping[str, Any]) -> bytes:
    if "parsed_body" in part:
        return json.dumps(part["parsed_body"]).encode()
    body = part.get("body")
    if isinstance(body, Mapping):
        body = body.get("string", body.get("base64_string"))
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    raise CorruptCassetteError(
        "cassette", f"body must be a string or bytes, got {type(body).__name__}"
    )


def _decoded(
    body: bytes, headers: list[tuple[str, str]], source: str
) -> tuple[bytes, list[tuple[str, str]]]:
    """Decompress a body recorded compressed, and drop the headers that no longer hold."""
    encodings = [v.strip().lower() for k, v in headers if k.lower() == "content-encoding"]
    gzipped = body[:2] == b"\x1f\x8b"
    if not encodings and not gzipped:
        return body, headers
    try:
        if gzipped:
            body = gzip.decompress(body)
        elif "deflate" in encodings:
            body = zlib.decompress(body)
        elif any(e not in ("gzip", "identity", "") for e in encodings):
            raise CorruptCassetteError(source, f"unsupported content-encoding {encodings}")
        # else: the recorder already decoded it but kept the header.
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptCassetteError(source, f"compressed body is corrupt: {exc}") from exc
    drop = {"content-encoding", "content-length"}
    return body, [(k, v) for k, v in headers if k.lower() not in drop]
