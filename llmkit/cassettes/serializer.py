"""The cassette file format: vcrpy ``version: 1`` YAML, made readable and key-free.

Registered with vcrpy as the ``"llmkit"`` serializer (``VCR.register_serializer``), so vcrpy
still does the patching, matching and play counting, and this module only decides what the
file looks like:

- the ``llmkit:`` section (provenance, calls, timeline; see ``timeline``) comes first;
- JSON request and response bodies are stored parsed, as YAML mappings under ``parsed_body``
  (as pydantic-ai's recorder does), not as escaped strings;
- SSE and other text bodies are stored as ``body`` block text, one line per line;
- gzip/deflate bodies are stored decompressed (the ``content-encoding`` header is dropped);
- headers go through the allowlist in ``scrub`` and every string through the key scrubber;
- loopback URLs lose their port (``http://127.0.0.1/v1/...``) so re-recording against a
  simulator on a new random port gives the same bytes.

Loading rebuilds exactly what vcrpy's own YAML serializer would hand to vcrpy. The YAML is
written with PyYAML's pure-Python emitter (same bytes with or without libyaml) and read with
the safe loader.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import gzip
import json
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import yaml

from llmkit.cassettes.matching import body_bytes
from llmkit.cassettes.scrub import scrub_headers, scrub_json
from llmkit.cassettes.timeline import CassetteMeta, TimelineFormatError
from llmkit.errors import CassetteNotFoundError, CorruptCassetteError
from llmkit.secrets import redact_url
from llmkit.secrets import scrub as scrub_text

__all__ = [
    "LoadedCassette",
    "deserialize",
    "dump_yaml",
    "load_cassette",
    "serialize",
]

VERSION: Final = 1
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CassetteFormatError(ValueError):
    """The file is YAML but not a cassette; loaders turn it into CorruptCassetteError."""


# --------------------------------------------------------------------------- YAML dumping


class _Dumper(yaml.SafeDumper):
    """Block text for multi-line strings; never anchors/aliases (each value written in full)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a cassette is parsed or written.

    PyYAML builds a node and an object per scalar and container: a 5 MB cassette is millions
    of objects, none in a reference cycle, and each generation-2 collection the allocations
    trigger walks all of them again, so parsing time grows with the square of the file
    (2,000 calls: 12 s with collections, 2.5 s without). Reference counting still frees
    everything; the collector is re-enabled (if it was on) on the way out.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def dump_yaml(data: Any) -> str:
    with no_gc():
        return _dump(data)


def _dump(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=None,
    )


# --------------------------------------------------------------------------- bodies


def _header(headers: Mapping[str, Any], name: str) -> str:
    for k, v in headers.items():
        if k.lower() == name:
            vals = v if isinstance(v, list | tuple) else [v]
            return str(vals[0]) if vals else ""
    return ""


def _decode(raw: bytes, encoding: str) -> bytes:
    enc = encoding.strip().lower()
    if not raw or enc in ("", "identity"):
        return raw
    if enc == "gzip":
        return gzip.decompress(raw)
    if enc == "deflate":
        try:
            return zlib.decompress(raw)
        except zlib.error:
            return zlib.decompress(raw, -zlib.MAX_WBITS)
    raise CassetteFormatError(
        f"cannot store a {enc!r}-encoded body; record with accept-encoding: gzip"
    )


def _body_fields(raw: bytes, content_type: str) -> dict[str, Any]:
    """``parsed_body`` for JSON, ``body`` text for SSE/text, ``body`` bytes otherwise."""
    if not raw:
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"body": raw}  # PyYAML writes !!binary, which the safe loader reads back
    if "event-stream" not in content_type:
        try:
            return {"parsed_body": scrub_json(json.loads(text))}
        except (ValueError, RecursionError):
            pass
    return {"body": scrub_text(text)}


def _body_from_fields(d: Mapping[str, Any], where: str) -> bytes | None:
    if "parsed_body" in d:
        return json.dumps(d["parsed_body"], ensure_ascii=False, separators=(",", ":")).encode()
    body = d.get("body")
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, Mapping) and "string" in body:  # stock vcrpy and Ruby VCR: {string: ...}
        inner = body["string"]
        if inner is None:
            return b""
        if isinstance(inner, bytes | str):
            return inner if isinstance(inner, bytes) else inner.encode("utf-8")
    b64 = body.get("base64", body.get("base64_string")) if isinstance(body, Mapping) else None
    if b64 is not None:  # hand-edited files, and vcrpy's base64 form
        try:
            return base64.b64decode(str(b64))
        except ValueError as exc:  # binascii.Error: a bare ValueError would escape the loader
            raise CassetteFormatError(f"{where}.body base64 is not valid base64") from exc
    raise CassetteFormatError(
        f"{where}.body must be text, binary, {{string: ...}} or {{base64_string: ...}}, "
        f"not {type(body).__name__}"
    )


def _uri(uri: str) -> str:
    # Userinfo and credential query values (``?key=``, ``?api-key=``) are masked first.
    parts = urlsplit(redact_url(uri))
    host = parts.hostname or ""
    netloc = parts.netloc
    if host in _LOOPBACK:
        netloc = "127.0.0.1"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


# --------------------------------------------------------------------------- vcrpy interface


def _request_out(req: Mapping[str, Any]) -> dict[str, Any]:
    headers = req.get("headers") or {}
    out: dict[str, Any] = {
        "method": str(req.get("method", "GET")).upper(),
        "uri": _uri(str(req.get("uri", ""))),
        "headers": scrub_headers(headers, response=False),
    }
    out.update(_body_fields(body_bytes(req.get("body")), _header(headers, "content-type")))
    return out


def _response_out(resp: Mapping[str, Any]) -> dict[str, Any]:
    headers = resp.get("headers") or {}
    body = resp.get("body") or {}
    raw = body_bytes(body.get("string") if isinstance(body, Mapping) else body)
    raw = _decode(raw, _header(headers, "content-encoding"))
    status = resp.get("status") or {}
    out: dict[str, Any] = {
        "status": {"code": int(status.get("code", 0)), "message": str(status.get("message", ""))},
        "headers": scrub_headers(headers, response=True),
    }
    out.update(_body_fields(raw, _header(headers, "content-type")))
    return out


def serialize(cassette_dict: Mapping[str, Any]) -> str:
    """vcrpy hook: ``{"version", "interactions", "metadata"?}`` -> YAML text."""
    meta = dict(cassette_dict.get("metadata") or {})
    doc: dict[str, Any] = {}
    if "llmkit" in meta:
        section = meta.pop("llmkit")
        doc["llmkit"] = section.to_dict() if isinstance(section, CassetteMeta) else section
    doc["interactions"] = [
        {"request": _request_out(i["request"]), "response": _response_out(i["response"])}
        for i in cassette_dict.get("interactions", [])
    ]
    if meta:
        doc["metadata"] = meta
    doc["version"] = VERSION
    return dump_yaml(doc)


def _headers_in(value: Any, where: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CassetteFormatError(f"{where}.headers must be a mapping")
    return {str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in value.items()}


def _interaction_in(item: Any, i: int) -> dict[str, Any]:
    where = f"interactions[{i}]"
    if not isinstance(item, Mapping):
        raise CassetteFormatError(f"{where} must be a mapping")
    req, resp = item.get("request"), item.get("response")
    if not isinstance(req, Mapping) or not isinstance(resp, Mapping):
        raise CassetteFormatError(f"{where} needs a request and a response mapping")
    method, uri = req.get("method"), req.get("uri")
    if not isinstance(method, str) or not isinstance(uri, str):
        raise CassetteFormatError(f"{where}.request needs method and uri strings")
    status = resp.get("status")
    if not isinstance(status, Mapping) or not isinstance(status.get("code"), int):
        raise CassetteFormatError(f"{where}.response.status.code must be an integer")
    return {
        "request": {
            "method": method,
            "uri": uri,
            "body": _body_from_fields(req, f"{where}.request"),
            "headers": _headers_in(req.get("headers"), f"{where}.request"),
        },
        "response": {
            "status": {"code": status["code"], "message": str(status.get("message") or "")},
            "headers": _headers_in(resp.get("headers"), f"{where}.response"),
            "body": {"string": _body_from_fields(resp, f"{where}.response") or b""},
        },
    }


def deserialize(cassette_string: str) -> dict[str, Any]:
    """vcrpy hook: YAML text -> what vcrpy's YAML serializer would have returned.

    Raises ``yaml.YAMLError`` or :class:`CassetteFormatError` (both ValueErrors to callers of
    :func:`load_cassette`, which names the file).
    """
    with no_gc():
        doc = yaml.load(cassette_string, Loader=_SafeLoader)  # noqa: S506 - a safe loader
    if not isinstance(doc, Mapping):
        raise CassetteFormatError("a cassette is a YAML mapping")
    if doc.get("version") != VERSION:
        raise CassetteFormatError(f"version must be {VERSION}, got {doc.get('version')!r}")
    items = doc.get("interactions")
    if not isinstance(items, list):
        raise CassetteFormatError("interactions must be a list")
    out: dict[str, Any] = {
        "version": VERSION,
        "interactions": [_interaction_in(x, i) for i, x in enumerate(items)],
    }
    raw_meta = doc.get("metadata") or {}
    if not isinstance(raw_meta, Mapping):  # dict() of a str or int raises a bare ValueError
        raise CassetteFormatError("metadata must be a mapping")
    metadata = dict(raw_meta)
    if "llmkit" in doc:
        metadata["llmkit"] = doc["llmkit"]
    if metadata:
        out["metadata"] = metadata
    return out


# --------------------------------------------------------------------------- loading


class LoadedCassette:
    """A cassette file read and checked: its ``meta`` and vcrpy-shaped ``interactions``."""

    __slots__ = ("interactions", "meta", "path")

    def __init__(self, path: Path, meta: CassetteMeta, interactions: list[dict[str, Any]]):
        self.path = path
        self.meta = meta
        self.interactions = interactions

    def __repr__(self) -> str:
        return (
            f"LoadedCassette({self.path.name!r}, source={self.meta.provenance.source!r}, "
            f"interactions={len(self.interactions)}, steps={len(self.meta.timeline)})"
        )


def load_cassette(path: str | Path) -> LoadedCassette:
    """Read and validate one llmkit cassette; every failure is a typed CassetteError."""
    p = Path(path)
    if not p.is_file():
        raise CassetteNotFoundError(p, "cassette file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptCassetteError(p, f"cannot read: {exc}") from None
    try:
        data = deserialize(text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptCassetteError(p, f"not valid YAML ({first})") from None
    except CassetteFormatError as exc:
        raise CorruptCassetteError(p, str(exc)) from None
    section = data.get("metadata", {}).get("llmkit")
    if section is None:
        raise CorruptCassetteError(p, "no llmkit section (provenance and timeline are missing)")
    try:
        meta = CassetteMeta.from_dict(section, interactions=len(data["interactions"]))
    except TimelineFormatError as exc:
        raise CorruptCassetteError(p, str(exc)) from None
    return LoadedCassette(p, meta, data["interactions"])
