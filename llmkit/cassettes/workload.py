"""The logical calls a cassette was recorded from, as plain data a replay can send again.

A cassette stores HTTP bytes; a replay through a *different* policy stack needs the neutral
:class:`~llmkit.types.ChatRequest` each call started from, so the adapter builds the same
bytes again and the matcher finds them. Tags are not stored (they are never sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmkit.types import ChatRequest, Message, Tool

__all__ = ["Arrival", "request_from_data", "request_to_data"]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One call of a workload: when it arrives (seconds from the start) and what it asks."""

    t_s: float
    provider: str
    request: ChatRequest
    api: str = "chat"


def _message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.name is not None:
        out["name"] = m.name
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.tool_calls
        ]
    return out


def request_to_data(request: ChatRequest) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": request.model,
        "messages": [_message(m) for m in request.messages],
    }
    if request.max_tokens is not None:
        out["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        out["temperature"] = request.temperature
    if request.stream:
        out["stream"] = True
    if request.tools:
        out["tools"] = [
            {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
            for t in request.tools
        ]
    if request.extra:
        out["extra"] = dict(request.extra)
    return out


def request_from_data(data: Mapping[str, Any]) -> ChatRequest:
    """Raises ValueError/TypeError (from ChatRequest's own checks) for malformed data."""
    if not isinstance(data, Mapping):
        raise TypeError("a recorded request must be a mapping")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("a recorded request needs a non-empty messages list")
    msgs = tuple(Message.from_dict(m) for m in messages)
    tools = tuple(_tool_from_data(t) for t in data.get("tools") or ())
    return ChatRequest(
        model=str(data.get("model") or ""),
        messages=msgs,
        max_tokens=data.get("max_tokens"),
        temperature=data.get("temperature"),
        tools=tools,
        stream=bool(data.get("stream", False)),
        extra=dict(data.get("extra") or {}),
    )


def _tool_from_data(t: Any) -> Tool:
    """A recorded tool; a missing name is a ValueError, not a bare KeyError."""
    if not isinstance(t, Mapping):
        raise TypeError("a recorded tool must be a mapping")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("a recorded tool needs a non-empty name")
    return Tool(name, str(t.get("description") or ""), t.get("parameters") or {})
