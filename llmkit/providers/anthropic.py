"""Anthropic Messages API (``POST /v1/messages``): the wire mapping, and nothing else.

Where Anthropic differs from the OpenAI shape, and why the code below looks the way it does:

- ``system`` is a top-level field, not a message; tool calls are ``tool_use`` content blocks and
  tool results are ``tool_result`` blocks inside a *user* turn; ``max_tokens`` is required.
- Usage reports cache reads and cache writes apart from ``input_tokens``; llmkit's ``Usage`` is
  inclusive, so they are added. A count the provider did not report stays None.
- ``thinking``/``redacted_thinking`` blocks are reasoning, never part of ``text``.
- Errors carry ``error.type``; 529 ``overloaded_error`` comes with an empty reason phrase and
  ``x-should-retry: true``. A 429 may lack ``retry-after`` but carry RFC 3339
  ``anthropic-ratelimit-*-reset`` times.
- Streams are SSE with ``event:`` lines, ``ping`` events, JSON padded with runs of spaces, and
  may carry ``event: error`` after a 200; ``message_stop`` is the only proof of a full answer.

The error dialect (``error.type`` to kinds, the rate-limit reset wait) is in
:mod:`llmkit.providers.anthropic_errors`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from llmkit.errors import (
    InvalidResponseError,
    LLMError,
    ServerError,
    readable_message,
)
from llmkit.providers.anthropic_errors import error_class, ratelimit_reset_delay
from llmkit.providers.base import (
    error_for_status,
    json_body,
    make_error,
    parse_retry_after,
    token_count,
)
from llmkit.providers.images import anthropic_blocks
from llmkit.secrets import APIKey
from llmkit.sse import SSEEvent
from llmkit.types import (
    INSTRUCTION_ROLES,
    ChatRequest,
    ChatResponse,
    Message,
    StreamEvent,
    ToolCall,
    Usage,
)

_COUNTED = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking",
                      "mcp_servers", "output_config"})  # fmt: skip
"""The Messages fields ``count_tokens`` accepts (``max_tokens`` and sampling are not)."""

__all__ = ["ANTHROPIC_VERSION", "DEFAULT_MAX_TOKENS", "AnthropicAdapter", "AnthropicStreamParser"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
"""Anthropic rejects a request without ``max_tokens``; this is sent when the caller gave none."""

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


_DELTA_BLOCK = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "tool_use"}

_PLACEHOLDER_RE = re.compile(r"^<[A-Z0-9_]+>$")


@dataclass(frozen=True, slots=True)
class AnthropicAdapter:
    """Stateless; one instance serves every call."""

    name: str = "anthropic"
    default_base_url: str = "https://api.anthropic.com"
    default_max_tokens: int = DEFAULT_MAX_TOKENS

    # ------------------------------------------------------------------------- request

    def build_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        base, mark, query = base_url.partition("?")  # a query string stays at the end
        base = base.rstrip("/")
        url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        url += mark + query
        system, turns = _wire_messages(request.messages)
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or self.default_max_tokens,
            "messages": turns,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [
                {
                    "name": t.name,
                    **({"description": t.description} if t.description else {}),
                    "input_schema": dict(t.parameters),
                }
                for t in request.tools
            ]
        if request.stream:
            body["stream"] = True
        body.update(request.extra)
        headers = {
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
            "accept": "text/event-stream" if request.stream else "application/json",
        }
        if api_key is not None:
            headers["x-api-key"] = api_key.reveal()
        return httpx.Request("POST", url, headers=headers, content=json.dumps(body).encode())

    def count_tokens_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        """``POST /v1/messages/count_tokens`` for the body :meth:`build_request` would send
        (free; its own rate limit; an unknown model is a 404)."""
        built = self.build_request(request.with_(stream=False), base_url=base_url, api_key=api_key)
        body = {k: v for k, v in json.loads(built.content).items() if k in _COUNTED}
        url = str(built.url).removesuffix("/messages") + "/messages/count_tokens"
        headers = {k: v for k, v in built.headers.items() if k.lower() != "content-length"}
        return httpx.Request("POST", url, headers=headers, content=json.dumps(body).encode())

    def parse_token_count(self, response: httpx.Response) -> int:
        return token_count(response, self.name, self)

    # ------------------------------------------------------------------------- response

    def parse_response(self, response: httpx.Response) -> ChatResponse:
        data = json_body(response, self.name)
        if not isinstance(data, dict):
            raise self._invalid(response, "response body is not a JSON object")
        if data.get("type") == "error" or "error" in data:
            raise self.classify(response)
        content = data.get("content")
        if not isinstance(content, list):
            raise self._invalid(response, "response has no 'content' list")
        blocks = Blocks()
        for i, block in enumerate(content):
            if not isinstance(block, dict):
                raise self._invalid(response, f"content[{i}] is not an object")
            blocks.start(i, block)
        return blocks.response(
            provider=self.name,
            model=_str(data.get("model")),
            id=_str(data.get("id")),
            stop_reason=_str(data.get("stop_reason")),
            usage=_usage(data.get("usage")),
            request_id=_request_id(response.headers),
        )

    def classify(self, response: httpx.Response) -> LLMError:
        status = response.status_code
        try:
            data: Any = json.loads(response.content.decode("utf-8", errors="replace") or "null")
        except (ValueError, RecursionError, httpx.ResponseNotRead):
            data = None
        err = data.get("error") if isinstance(data, dict) else None
        etype = _str(err.get("type")) if isinstance(err, dict) else None
        message = _str(err.get("message")) if isinstance(err, dict) else None
        if message is None and data is None:
            message = _snippet(response)
        rid = _request_id(response.headers) or (
            _str(data.get("request_id")) if isinstance(data, dict) else None
        )
        retry_after = parse_retry_after(response.headers)
        if retry_after is None and status == 429:
            retry_after = ratelimit_reset_delay(response.headers)
        cls = error_class(status, etype, message or "")
        if cls is None:
            return error_for_status(
                status,
                message or "",
                provider=self.name,
                headers=response.headers,
                code=etype,
                retry_after=retry_after,
                request_id=rid,
            )
        return make_error(
            cls,
            message or "",
            provider=self.name,
            status=status,
            headers=response.headers,
            code=etype,
            retry_after=retry_after,
            request_id=rid,
        )

    def stream_parser(self, response: httpx.Response) -> AnthropicStreamParser:
        return AnthropicStreamParser(provider=self.name, request_id=_request_id(response.headers))

    def _invalid(self, response: httpx.Response, message: str) -> InvalidResponseError:
        return InvalidResponseError(
            message,
            provider=self.name,
            status=response.status_code,
            request_id=_request_id(response.headers),
        )


# ----------------------------------------------------------------------------- stream


@dataclass(slots=True)
class _Block:
    type: str
    text: list[str] = field(default_factory=list)
    id: str = ""
    name: str = ""
    initial_input: Any = None


@dataclass(slots=True)
class Blocks:
    """Content blocks by index: shared by the JSON and the stream paths, so both agree."""

    by_index: dict[int, _Block] = field(default_factory=dict)

    def start(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        btype = _str(block.get("type")) or "unknown"
        b = _Block(btype)
        self.by_index[index] = b
        if btype == "text":
            return self._append(b, index, "text", block.get("text"))
        if btype == "thinking":
            return self._append(b, index, "reasoning", block.get("thinking"))
        if btype == "tool_use":
            b.id, b.name = _str(block.get("id")) or "", _str(block.get("name")) or ""
            b.initial_input = block.get("input")
            return [StreamEvent("tool_call", index=index, id=b.id, name=b.name)]
        return []  # redacted_thinking, server tools, and block types added later

    def delta(self, index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        dtype = _str(delta.get("type"))
        b = self.by_index.get(index)
        if b is None:  # a delta without its start: infer the block from the delta
            inferred = _DELTA_BLOCK.get(dtype or "")
            if inferred is None:
                return []
            b = self.by_index[index] = _Block(inferred)
        if dtype == "text_delta" and b.type == "text":
            return self._append(b, index, "text", delta.get("text"))
        if dtype == "thinking_delta" and b.type == "thinking":
            return self._append(b, index, "reasoning", delta.get("thinking"))
        if dtype == "input_json_delta" and b.type == "tool_use":
            part = delta.get("partial_json")
            if isinstance(part, str) and part:
                b.text.append(part)
                return [StreamEvent("tool_call", text=part, index=index)]
        return []  # signature_delta, citations_delta: nothing llmkit reports

    @staticmethod
    def _append(b: _Block, index: int, kind: str, value: Any) -> list[StreamEvent]:
        if not isinstance(value, str) or not value:
            return []
        b.text.append(value)
        return [StreamEvent("text" if kind == "text" else "reasoning", text=value, index=index)]

    def response(
        self,
        *,
        provider: str,
        model: str | None,
        id: str | None,
        stop_reason: str | None,
        usage: Usage,
        request_id: str | None,
    ) -> ChatResponse:
        ordered = [self.by_index[i] for i in sorted(self.by_index)]
        text = "".join("".join(b.text) for b in ordered if b.type == "text")
        thinking = [b for b in ordered if b.type == "thinking"]
        calls = tuple(
            ToolCall(b.id, b.name, "".join(b.text) or _dumps(b.initial_input))
            for b in ordered
            if b.type == "tool_use"
        )
        finish = _finish(stop_reason)
        refusal = (text.strip() or "the model refused") if stop_reason == "refusal" else None
        return ChatResponse(
            text=text,
            model=model,
            provider=provider,
            usage=usage,
            tool_calls=calls,
            finish_reason=finish,
            refusal=refusal,
            request_id=request_id,
            id=id,
            reasoning="".join("".join(b.text) for b in thinking) if thinking else None,
        )


@dataclass(slots=True)
class AnthropicStreamParser:
    """Folds Messages SSE events into one response. Stateful: one per stream."""

    provider: str = "anthropic"
    request_id: str | None = None
    blocks: Blocks = field(default_factory=Blocks)
    model: str | None = None
    id: str | None = None
    stop_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    done: bool = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        if self.done or event.event == "ping":
            return []
        try:
            data = json.loads(event.data)
        except (ValueError, RecursionError) as exc:
            raise self._invalid(f"stream event {event.event!r} is not JSON") from exc
        if not isinstance(data, dict):
            raise self._invalid(f"stream event {event.event!r} is not a JSON object")
        kind = _str(data.get("type")) or event.event
        if kind == "error" or event.event == "error":
            raise self._error(data)
        if kind == "message_start":
            return self._message_start(data)
        if kind == "content_block_start":
            block = data.get("content_block")
            if not isinstance(block, dict):
                raise self._invalid("content_block_start without a content_block")
            return self.blocks.start(self._index(data), block)
        if kind == "content_block_delta":
            delta = data.get("delta")
            if not isinstance(delta, dict):
                raise self._invalid("content_block_delta without a delta")
            return self.blocks.delta(self._index(data), delta)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            self.done = True
        return []  # content_block_stop, ping, and event types added later

    def finish(self, *, clean: bool = True) -> ChatResponse:
        if not self.done or not clean:
            raise self._invalid("stream ended before message_stop (truncated)")
        return self.blocks.response(
            provider=self.provider,
            model=self.model,
            id=self.id,
            stop_reason=self.stop_reason,
            usage=_usage(self.usage),
            request_id=self.request_id,
        )

    def _message_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        msg = data.get("message")
        if not isinstance(msg, dict):
            raise self._invalid("message_start without a message")
        self.model, self.id = _str(msg.get("model")), _str(msg.get("id"))
        out = [StreamEvent("meta", id=self.id, model=self.model)]
        return out + self._merge_usage(msg.get("usage"))

    def _message_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        delta = data.get("delta")
        if isinstance(delta, dict) and _str(delta.get("stop_reason")):
            self.stop_reason = _str(delta.get("stop_reason"))
            out.append(StreamEvent("finish", finish_reason=_finish(self.stop_reason)))
        return out + self._merge_usage(data.get("usage"))

    def _merge_usage(self, raw: Any) -> list[StreamEvent]:
        # message_delta counts are cumulative: a later value replaces an earlier one.
        if not isinstance(raw, dict):
            return []
        self.usage.update({k: v for k, v in raw.items() if v is not None})
        return [StreamEvent("usage", usage=_usage(self.usage))]

    def _index(self, data: dict[str, Any]) -> int:
        index = data.get("index", 0)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise self._invalid(f"content block index {index!r} is not a non-negative int")
        return index

    def _error(self, data: dict[str, Any]) -> LLMError:
        err = data.get("error")
        etype = _str(err.get("type")) if isinstance(err, dict) else None
        message = (_str(err.get("message")) if isinstance(err, dict) else None) or ""
        cls = error_class(None, etype, message) or ServerError
        return cls(
            message or f"error event in stream ({etype or 'unknown type'})",
            provider=self.provider,
            request_id=self.request_id or _str(data.get("request_id")),
            code=etype,
        )

    def _invalid(self, message: str) -> InvalidResponseError:
        return InvalidResponseError(message, provider=self.provider, request_id=self.request_id)


# ----------------------------------------------------------------------------- helpers


def _wire_messages(messages: tuple[Message, ...]) -> tuple[str, list[dict[str, Any]]]:
    """Lift system messages out; turn tool calls and results into content blocks."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        # Consecutive same-role turns merge: all tool results must share one user turn.
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for m in messages:
        if m.role in INSTRUCTION_ROLES:
            system.append(m.content)
        elif m.role == "tool":
            if not m.tool_call_id:
                raise ValueError("a tool message needs tool_call_id for Anthropic")
            add(
                "user",
                [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}],
            )
        elif m.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if m.content:
                blocks.append({"type": "text", "text": m.content})
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _tool_input(c)}
                for c in m.tool_calls
            )
            add("assistant", blocks or [{"type": "text", "text": ""}])
        else:
            add("user", anthropic_blocks(m))
    return "\n\n".join(system), turns


def _tool_input(call: ToolCall) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"tool call {call.id!r}: arguments must be a JSON object for Anthropic")
    return value


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    base = _int(raw.get("input_tokens"))
    read = _int(raw.get("cache_read_input_tokens"))
    write = _int(raw.get("cache_creation_input_tokens"))
    if write is None and isinstance(raw.get("cache_creation"), dict):
        parts = [_int(v) for v in raw["cache_creation"].values()]
        known = [p for p in parts if p is not None]
        write = sum(known) if known else None
    total = None if base is None else base + (read or 0) + (write or 0)
    return Usage(
        input_tokens=total,
        output_tokens=_int(raw.get("output_tokens")),
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


def _finish(stop_reason: str | None) -> str | None:
    return None if stop_reason is None else _FINISH.get(stop_reason, stop_reason)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _dumps(v: Any) -> str:
    try:
        return json.dumps(v if v is not None else {})
    except (TypeError, ValueError):
        return "{}"


def _request_id(headers: httpx.Headers) -> str | None:
    value = headers.get("request-id") or headers.get("x-request-id")
    return None if value is None or _PLACEHOLDER_RE.match(value.strip()) else value


def _snippet(response: httpx.Response) -> str:
    try:
        text = response.content.decode("utf-8", errors="replace").strip()
    except httpx.ResponseNotRead:
        return ""
    return " ".join(readable_message(text).split())[:200]
