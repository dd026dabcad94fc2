"""Neutral values shared by every provider: what a chat request and its answer mean.

Frozen dataclasses, so a request can be hashed into a cache key or fingerprint and a response
can be shared between threads. The mapping to and from each wire format lives in
``llmkit.providers.<name>`` and nowhere else.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

__all__ = [
    "INSTRUCTION_ROLES",
    "ChatRequest",
    "ChatResponse",
    "ImagePart",
    "Message",
    "Role",
    "StreamEvent",
    "Tool",
    "ToolCall",
    "Usage",
    "as_messages",
    "as_tools",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
"""``system`` and ``developer`` are instructions: each adapter puts them where its API expects
instructions (Anthropic ``system``, Responses ``instructions``, a Chat Completions role)."""
_ROLES: frozenset[str] = frozenset({"system", "developer", "user", "assistant", "tool"})
INSTRUCTION_ROLES: frozenset[str] = frozenset({"system", "developer"})


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool the model asked to call. ``arguments`` is the JSON string, as the model wrote it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a user message: a URL, or base64 ``data`` with its ``media_type``.

    Each adapter writes it in its provider's shape (OpenAI ``image_url``, Anthropic ``image``
    blocks, Gemini ``inlineData``/``fileData``). A ``data:`` URL is split into the two.
    """

    url: str | None = None
    data: str | None = None
    """Base64 bytes (no ``data:`` prefix)."""
    media_type: str | None = None
    detail: str | None = None
    """OpenAI's ``low``/``high``/``auto``; other providers ignore it."""

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("an image needs exactly one of url= or data=")
        if self.data is not None and not self.media_type:
            raise ValueError("a base64 image needs its media_type (image/png, image/jpeg, ...)")

    @property
    def data_url(self) -> str:
        """The image as one URL (a ``data:`` URL for base64 bytes)."""
        if self.data is not None:
            return f"data:{self.media_type};base64,{self.data}"
        return self.url or ""

    @property
    def size_bytes(self) -> int | None:
        """Decoded size of a base64 image; None for a URL (its size is not known here)."""
        if self.data is None:
            return None
        return len(self.data) * 3 // 4 - self.data[-2:].count("=")

    @property
    def dimensions(self) -> tuple[int, int] | None:
        """(width, height) read from a base64 PNG, GIF, WebP or JPEG header; None otherwise."""
        if self.data is None:
            return None
        try:
            head = base64.b64decode(self.data[:87_384] + "=" * (-len(self.data[:87_384]) % 4))
        except (ValueError, TypeError):
            return None
        return image_size(head)


def image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a PNG, GIF, WebP (VP8X) or JPEG; None when the
    header does not say (a plain VP8 WebP, a cut or unknown format). The one image-size reader
    of the package: ``ImagePart.dimensions`` and the token estimator both use it."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:16] == b"VP8X" and len(head) >= 30:
        w = int.from_bytes(head[24:27], "little") + 1
        return w, int.from_bytes(head[27:30], "little") + 1
    if head[:2] == b"\xff\xd8":  # JPEG: walk the segments to the first frame header
        i = 2
        while i + 9 < len(head):
            if head[i] != 0xFF:
                i += 1
                continue
            marker = head[i + 1]
            length = int.from_bytes(head[i + 2 : i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(head[i + 7 : i + 9], "big"), int.from_bytes(
                    head[i + 5 : i + 7], "big"
                )
            i += 2 + length
    return None


Part = str | ImagePart


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str
    name: str | None = None
    tool_call_id: str | None = None
    """For ``role="tool"``: the id of the call this message answers."""
    tool_calls: tuple[ToolCall, ...] = ()
    """For ``role="assistant"``: the calls the model made in this turn."""
    parts: tuple[Part, ...] = ()
    """Text and images in order, when the content was given as a list of parts (``content``
    then holds the text parts joined). Empty for a plain string content."""

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Message) -> Message:
        if isinstance(data, Message):
            return data
        if not isinstance(data, Mapping):
            raise TypeError(f"a message must be a Message or a mapping, not {type(data).__name__}")
        role = data.get("role")
        if role not in _ROLES:
            raise ValueError(f"message role must be one of {sorted(_ROLES)}, got {role!r}")
        content = data.get("content")
        if content is None:
            content = ""
        parts: tuple[Part, ...] = ()
        if isinstance(content, (list, tuple)):
            parts = tuple(_part(p) for p in content)
            if any(isinstance(p, ImagePart) for p in parts) and role != "user":
                raise ValueError("images are accepted in user messages only")
            content = "".join(p for p in parts if isinstance(p, str))
            if not any(isinstance(p, ImagePart) for p in parts):
                parts = ()
        if not isinstance(content, str):
            raise TypeError("message content must be a string or a list of parts")
        calls = tuple(_tool_call(c) for c in data.get("tool_calls") or ())
        return cls(
            role=role,
            content=content,
            name=data.get("name"),
            tool_call_id=data.get("tool_call_id"),
            tool_calls=calls,
            parts=parts,
        )


def _part(p: object) -> Part:
    """One content part, in the OpenAI shape (``text``, ``image_url``), Anthropic's
    (``image`` with a ``source``) or llmkit's own (``image`` with ``url``/``data``)."""
    if isinstance(p, (str, ImagePart)):
        return p
    if not isinstance(p, Mapping):
        raise TypeError(f"a content part must be a mapping, not {type(p).__name__}")
    kind = p.get("type")
    if kind in ("text", "input_text"):
        text = p.get("text")
        if not isinstance(text, str):
            raise TypeError("a text part needs a string 'text'")
        return text
    if kind in ("image_url", "input_image"):
        raw = p.get("image_url")
        url = raw.get("url") if isinstance(raw, Mapping) else raw
        detail = raw.get("detail") if isinstance(raw, Mapping) else p.get("detail")
        if not isinstance(url, str) or not url:
            raise ValueError("an image_url part needs a url")
        return _from_url(url, detail if isinstance(detail, str) else None)
    if kind == "image":
        source = p.get("source")
        if isinstance(source, Mapping):  # Anthropic's shape
            if source.get("type") == "base64":
                return ImagePart(data=source.get("data"), media_type=source.get("media_type"))
            if isinstance(source.get("url"), str):
                return _from_url(source["url"], None)
            raise ValueError("an image source needs type 'base64' with data, or a url")
        if isinstance(p.get("url"), str):
            return _from_url(p["url"], p.get("detail"), p.get("media_type"))
        return ImagePart(data=p.get("data"), media_type=p.get("media_type"))
    raise ValueError(f"unknown content part type {kind!r} (known: text, image_url, image)")


def _from_url(url: str, detail: str | None, media_type: str | None = None) -> ImagePart:
    if url.startswith("data:"):
        head, sep, data = url[5:].partition(",")
        mtype, _, encoding = head.partition(";")
        if not sep or encoding != "base64" or not mtype:
            raise ValueError("a data: image URL must be data:<media type>;base64,<data>")
        return ImagePart(data=data, media_type=mtype, detail=detail)
    return ImagePart(url=url, media_type=media_type, detail=detail)


def _tool_call(c: ToolCall | Mapping[str, Any]) -> ToolCall:
    if isinstance(c, ToolCall):
        return c
    try:
        return ToolCall(str(c["id"]), str(c["name"]), str(c["arguments"]))
    except (KeyError, TypeError) as exc:
        raise ValueError("a tool call needs 'id', 'name' and 'arguments'") from exc


def as_messages(messages: Iterable[Mapping[str, Any] | Message]) -> tuple[Message, ...]:
    """Accept plain dicts (as the SDKs do) or :class:`Message` values."""
    if isinstance(messages, (str, bytes)):
        raise TypeError("messages must be a list of messages, not a string")
    out = tuple(Message.from_dict(m) for m in messages)
    if not out:
        raise ValueError("messages must not be empty")
    return out


@dataclass(frozen=True, slots=True)
class Tool:
    """A function tool the model may call; ``parameters`` is a JSON schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})


def as_tools(tools: Iterable[Tool | Mapping[str, Any]] | None) -> tuple[Tool, ...]:
    """Accept Tool values, ``{"name", "description", "parameters"}`` or OpenAI's
    ``{"type": "function", "function": {...}}``."""
    if not tools:
        return ()
    out: list[Tool] = []
    for t in tools:
        if isinstance(t, Tool):
            out.append(t)
            continue
        if not isinstance(t, Mapping):
            raise TypeError(f"a tool must be a Tool or a mapping, not {type(t).__name__}")
        spec = t["function"] if isinstance(t.get("function"), Mapping) else t
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("a tool needs a non-empty name")
        params = spec.get("parameters") or spec.get("input_schema") or {"type": "object"}
        out.append(Tool(name, str(spec.get("description") or ""), params))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    tools: tuple[Tool, ...] = ()
    stream: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    """Free-form labels (account, workflow, job) for telemetry and quotas; never sent."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Provider parameters passed through as-is into the JSON body."""

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError("model must be a non-empty string")
        if self.max_tokens is not None and (
            not isinstance(self.max_tokens, int) or self.max_tokens <= 0
        ):
            raise ValueError("max_tokens must be a positive int")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise ValueError("temperature must be between 0 and 2")

    def with_(self, **changes: Any) -> ChatRequest:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts, the same meaning for every provider. None = not reported (never a made-up 0).

    ``input_tokens`` is inclusive: it counts cache reads and cache writes too (Anthropic reports
    them apart; its adapter adds them). ``output_tokens`` includes reasoning/thinking tokens.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: Decimal | None = None
    """US dollars, when the provider reports the cost itself (OpenRouter's ``usage.cost``)."""

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass(frozen=True, slots=True)
class ChatResponse:
    text: str
    model: str | None
    provider: str
    usage: Usage = field(default_factory=Usage)
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    """Normalized: ``stop``, ``length``, ``tool_calls``, ``content_filter``, or the raw value."""
    refusal: str | None = None
    request_id: str | None = None
    id: str | None = None
    reasoning: str | None = None
    """Reasoning/thinking text when the provider returned it; never part of ``text``."""
    ttft: float | None = None
    """Seconds from sending the request to the first content event (streams only)."""
    latency: float | None = None
    cached: bool = False
    degraded: str | None = None
    """Why this answer is a degraded one (stale cache, canned, smaller model), or None."""
    cost: Decimal | None = None
    """US dollars this answer cost (``llmkit.prices``): the provider's reported cost, else
    the usage priced at the call's time; None when the model is unpriced (never a made-up 0).
    A cache hit carries the stored answer's cost (what the hit saved; telemetry's ``llmkit.cost``
    for that call is 0.0)."""
    headers: Mapping[str, str] = field(default_factory=dict, compare=False)
    """The response headers that matter to operators (request id, rate-limit and retry
    headers, processing time), lower-cased, by an allowlist: never cookies or credentials.
    Empty for an answer that did not come over HTTP (cache hit, canned fallback)."""

    def with_(self, **changes: Any) -> ChatResponse:
        return replace(self, **changes)


StreamEventType = Literal["text", "reasoning", "tool_call", "usage", "finish", "meta"]


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One normalized event from a provider stream.

    ``text``/``reasoning``: a delta in ``text``. ``tool_call``: ``index``, and ``id``/``name``
    when first seen, ``text`` is the arguments delta. ``usage``: ``usage`` set. ``finish``:
    ``finish_reason`` set. ``meta``: ids and model (``id``, ``model``).
    """

    type: StreamEventType
    text: str = ""
    index: int = 0
    id: str | None = None
    name: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
