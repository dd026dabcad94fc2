"""Neutral values shared by every provider: what a chat request and its answer mean.

Frozen dataclasses, so a request can be hashed into a cache key or fingerprint and a response
can be shared between threads. The mapping to and from each wire format lives in
``llmkit.providers.<name>`` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = [
    "INSTRUCTION_ROLES",
    "ChatRequest",
    "ChatResponse",
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
class Message:
    role: Role
    content: str
    name: str | None = None
    tool_call_id: str | None = None
    """For ``role="tool"``: the id of the call this message answers."""
    tool_calls: tuple[ToolCall, ...] = ()
    """For ``role="assistant"``: the calls the model made in this turn."""

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
        if not isinstance(content, str):
            raise TypeError("message content must be a string")
        calls = tuple(_tool_call(c) for c in data.get("tool_calls") or ())
        return cls(
            role=role,
            content=content,
            name=data.get("name"),
            tool_call_id=data.get("tool_call_id"),
            tool_calls=calls,
        )


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
