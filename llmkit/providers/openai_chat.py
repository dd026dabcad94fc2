"""OpenAI Chat Completions (``POST {base_url}/chat/completions``) and every endpoint shaped like it.

The same adapter serves vLLM, Ollama, Together and other OpenAI-compatible servers: pass another
``name`` and ``default_base_url``. The error dialect it shares with the Responses and
OpenRouter adapters is in :mod:`llmkit.providers.openai_errors`; the defensive readers every
adapter uses in :mod:`llmkit.providers.wire`.

Why so defensive: a 2xx body that is not what we expect must become an
:class:`InvalidResponseError` the retry layer understands, never a ``KeyError`` from line 300.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from llmkit.errors import InvalidResponseError, LLMError
from llmkit.providers.base import StreamParser, json_body, request_id
from llmkit.providers.images import chat_content
from llmkit.providers.openai_errors import classify_openai, error_from_payload
from llmkit.providers.wire import (
    as_count,
    as_dict,
    as_str,
    invalid,
    join_url,
    json_request,
)
from llmkit.secrets import APIKey
from llmkit.sse import SSEEvent
from llmkit.types import ChatRequest, ChatResponse, Message, StreamEvent, ToolCall, Usage

__all__ = [
    "OpenAIChatAdapter",
    "OpenAIChatStreamParser",
    "chat_usage",
    "normalize_finish_reason",
    "parse_chat_body",
]

_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    # Compatible servers sometimes pass the upstream's own words through.
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "eos": "stop",
}


def normalize_finish_reason(value: object) -> str | None:
    raw = as_str(value)
    if raw is None:
        return None
    return _FINISH.get(raw, raw)


def chat_usage(raw: object) -> Usage:
    """Chat Completions usage (also OpenRouter's). A field not reported stays None."""
    data = as_dict(raw)
    prompt = as_dict(data.get("prompt_tokens_details"))
    completion = as_dict(data.get("completion_tokens_details"))
    return Usage(
        input_tokens=as_count(data.get("prompt_tokens")),
        output_tokens=as_count(data.get("completion_tokens")),
        cache_read_tokens=as_count(prompt.get("cached_tokens")),
        cache_write_tokens=as_count(prompt.get("cache_write_tokens")),
        reasoning_tokens=as_count(completion.get("reasoning_tokens")),
        cost=reported_cost(data.get("cost")),
    )


def reported_cost(value: object) -> Decimal | None:
    """A provider's own ``usage.cost`` (OpenRouter, US dollars), exact; None when absent or
    not a finite non-negative number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = Decimal(str(value))
    except ArithmeticError:
        return None
    return cost if cost.is_finite() and cost >= 0 else None


def content_text(value: object) -> str | None:
    """Message content: a string, or (some compatible servers) a list of text parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [
            t
            for p in value
            if (t := as_str(as_dict(p).get("text"))) is not None
            and as_dict(p).get("type", "text") in ("text", "output_text")
        ]
        return "".join(parts)
    return None


def reasoning_text(message: Mapping[str, Any]) -> str | None:
    """OpenRouter says ``reasoning``; vLLM, DeepSeek and Together say ``reasoning_content``."""
    for key in ("reasoning", "reasoning_content"):
        value = as_str(message.get(key))
        if value:
            return value
    return None


# --------------------------------------------------------------------------- request


def _chat_message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role}
    if m.role == "tool":
        if not m.tool_call_id:
            raise ValueError("a tool message needs tool_call_id (the id of the call it answers)")
        out["tool_call_id"] = m.tool_call_id
        out["content"] = m.content
        return out
    if m.role == "assistant" and m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    else:
        out["content"] = chat_content(m)
    if m.name:
        out["name"] = m.name
    return out


# --------------------------------------------------------------------------- adapter


class OpenAIChatAdapter:
    """Chat Completions, sans-IO. ``max_tokens_field`` defaults to ``max_completion_tokens``
    for OpenAI itself (``max_tokens`` is deprecated there and rejected by o-series models)
    and ``max_tokens`` for compatible servers, most of which only know that one."""

    def __init__(
        self,
        name: str = "openai",
        default_base_url: str = "https://api.openai.com/v1",
        *,
        max_tokens_field: str | None = None,
    ) -> None:
        self.name = name
        self.default_base_url = default_base_url
        self.max_tokens_field = max_tokens_field or (
            "max_completion_tokens" if name == "openai" else "max_tokens"
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, default_base_url={self.default_base_url!r})"
        )

    # -- request

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_chat_message(m) for m in request.messages],
        }
        if request.max_tokens is not None:
            body[self.max_tokens_field] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": dict(t.parameters),
                    },
                }
                for t in request.tools
            ]
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        body.update(request.extra)
        return body

    def build_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        return json_request(
            join_url(base_url, "/chat/completions"),
            self.build_body(request),
            api_key=api_key,
            stream=request.stream,
        )

    # -- response

    def parse_response(self, response: httpx.Response) -> ChatResponse:
        body = json_body(response, self.name)
        return parse_chat_body(body, response, self.name)

    def classify(self, response: httpx.Response) -> LLMError:
        return classify_openai(response, self.name)

    def stream_parser(self, response: httpx.Response) -> StreamParser:
        return OpenAIChatStreamParser(response, self.name)


def _tool_call(raw: object, position: int, response: httpx.Response, provider: str) -> ToolCall:
    call = as_dict(raw)
    fn = as_dict(call.get("function"))
    name = as_str(fn.get("name"))
    if name is None:
        raise invalid(f"tool call {position} has no function name", response, provider)
    args = fn.get("arguments")
    if args is None:
        args = ""
    elif not isinstance(args, str):  # some compatible servers send an object
        args = json.dumps(args, ensure_ascii=False)
    return ToolCall(id=as_str(call.get("id")) or "", name=name, arguments=args)


def parse_chat_body(body: Any, response: httpx.Response, provider: str) -> ChatResponse:
    """A Chat Completions body -> ChatResponse; an ``error`` body in a 2xx is raised as one."""
    if not isinstance(body, dict):
        raise invalid("response body is not a JSON object", response, provider)
    choices = body.get("choices")
    if body.get("error") and not choices:
        raise error_from_payload(
            body["error"], provider=provider, headers=response.headers, status=None
        )
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise invalid("response has no choices", response, provider)
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise invalid("response choice has no message", response, provider)
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise invalid("tool_calls is not a list", response, provider)
    calls = tuple(_tool_call(c, i, response, provider) for i, c in enumerate(raw_calls))
    refusal = as_str(message.get("refusal"))
    return ChatResponse(
        text=content_text(message.get("content")) or "",
        model=as_str(body.get("model")),
        provider=provider,
        usage=chat_usage(body.get("usage")),
        tool_calls=calls,
        finish_reason=normalize_finish_reason(choice.get("finish_reason")),
        refusal=refusal or None,
        request_id=request_id(response.headers),
        id=as_str(body.get("id")),
        reasoning=reasoning_text(message),
    )


# --------------------------------------------------------------------------- stream


class OpenAIChatStreamParser:
    """Aggregates ``chat.completion.chunk`` events. Only choice 0 is kept (``n`` > 1 is not
    supported). Ends cleanly only on ``data: [DONE]``."""

    def __init__(self, response: httpx.Response, provider: str) -> None:
        self._headers = response.headers
        self._status = response.status_code
        self._provider = provider
        self._request_id = request_id(response.headers)
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._refusal: list[str] = []
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._model: str | None = None
        self._id: str | None = None
        self._done = False

    def _invalid(self, message: str) -> InvalidResponseError:
        return InvalidResponseError(
            message, provider=self._provider, status=self._status, request_id=self._request_id
        )

    def _error(self, err: object) -> LLMError:
        return error_from_payload(err, provider=self._provider, headers=self._headers, status=None)

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        data = event.data.strip()
        if self._done or not data:
            return []
        if data == "[DONE]":
            self._done = True
            return []
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise self._invalid(f"stream data is not JSON ({len(data)} chars)") from exc
        if not isinstance(chunk, dict):
            raise self._invalid("stream chunk is not a JSON object")
        if chunk.get("error") or event.event == "error":
            raise self._error(chunk.get("error") or chunk)
        out: list[StreamEvent] = []
        self._meta(chunk, out)
        choices = chunk.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise self._invalid("stream chunk choices is not a list")
        for choice in choices or ():
            c = as_dict(choice)
            if as_count(c.get("index")) not in (None, 0):
                continue
            self._delta(as_dict(c.get("delta")), out)
            finish = c.get("finish_reason")
            if finish == "error":  # OpenRouter, when no error object came with it
                raise self._error({"message": "stream finished with finish_reason=error"})
            if isinstance(finish, str):
                self._finish = normalize_finish_reason(finish)
                out.append(StreamEvent("finish", finish_reason=self._finish))
        if isinstance(chunk.get("usage"), dict):
            self._usage = chat_usage(chunk["usage"])
            out.append(StreamEvent("usage", usage=self._usage))
        return out

    def _meta(self, chunk: Mapping[str, Any], out: list[StreamEvent]) -> None:
        cid, model = as_str(chunk.get("id")), as_str(chunk.get("model"))
        if (cid and self._id is None) or (model and self._model is None):
            self._id = self._id or cid
            self._model = self._model or model
            out.append(StreamEvent("meta", id=self._id, model=self._model))

    def _delta(self, delta: Mapping[str, Any], out: list[StreamEvent]) -> None:
        reasoning = reasoning_text(delta)
        if reasoning:
            self._reasoning.append(reasoning)
            out.append(StreamEvent("reasoning", text=reasoning))
        text = content_text(delta.get("content"))
        if text:
            self._text.append(text)
            out.append(StreamEvent("text", text=text))
        refusal = as_str(delta.get("refusal"))
        if refusal:
            self._refusal.append(refusal)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for pos, raw in enumerate(calls):
                self._tool_delta(as_dict(raw), pos, out)

    def _tool_delta(self, call: Mapping[str, Any], pos: int, out: list[StreamEvent]) -> None:
        index = as_count(call.get("index"))
        index = pos if index is None else index
        fn = as_dict(call.get("function"))
        cid, name = as_str(call.get("id")), as_str(fn.get("name"))
        args = fn.get("arguments")
        if args is not None and not isinstance(args, str):
            args = json.dumps(args, ensure_ascii=False)
        slot = self._calls.setdefault(index, ["", "", ""])
        new_id = cid if cid and not slot[0] else None
        new_name = name if name and not slot[1] else None
        slot[0] = slot[0] or cid or ""
        slot[1] = slot[1] or name or ""
        slot[2] += args or ""
        if new_id or new_name or args:
            out.append(
                StreamEvent("tool_call", text=args or "", index=index, id=new_id, name=new_name)
            )

    def finish(self, *, clean: bool = True) -> ChatResponse:
        if not clean or not self._done:
            raise self._invalid("stream was truncated: it ended before data: [DONE]")
        return ChatResponse(
            text="".join(self._text),
            model=self._model,
            provider=self._provider,
            usage=self._usage or Usage(),
            tool_calls=tuple(ToolCall(*self._calls[i]) for i in sorted(self._calls)),
            finish_reason=self._finish,
            refusal="".join(self._refusal) or None,
            request_id=self._request_id,
            id=self._id,
            reasoning="".join(self._reasoning) or None,
        )
