"""OpenAI Responses API (``POST {base_url}/responses``), which OpenRouter also serves.

The Responses API differs from Chat Completions in shape, not meaning: ``input`` items and
``instructions`` instead of ``messages``; ``output`` items (message, function_call, reasoning)
instead of ``choices``; no ``finish_reason`` (it is derived from ``status``,
``incomplete_details`` and whether a function call was made); typed stream events that end
with ``response.completed`` rather than ``[DONE]``. Errors use the same dialect as chat, so
classification is shared with :mod:`llmkit.providers.openai_chat`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from llmkit.errors import InvalidResponseError, LLMError
from llmkit.providers.base import json_body, request_id, token_count
from llmkit.providers.images import responses_content
from llmkit.providers.openai_errors import classify_openai, error_from_payload
from llmkit.providers.wire import (
    as_count,
    as_dict,
    as_list,
    as_str,
    invalid,
    join_url,
    json_request,
)
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

_COUNTED = frozenset({"model", "input", "instructions", "tools", "tool_choice", "text",
                      "reasoning", "previous_response_id", "conversation", "truncation",
                      "parallel_tool_calls"})  # fmt: skip
"""The fields ``/v1/responses/input_tokens`` accepts (no output cap, no sampling)."""

__all__ = [
    "OpenAIResponsesAdapter",
    "OpenAIResponsesStreamParser",
    "responses_body",
    "responses_finish_reason",
    "responses_usage",
]


def responses_usage(raw: object) -> Usage:
    """Responses usage; a field not reported stays None (never a made-up 0)."""
    data = as_dict(raw)
    inp = as_dict(data.get("input_tokens_details"))
    out = as_dict(data.get("output_tokens_details"))
    return Usage(
        input_tokens=as_count(data.get("input_tokens")),
        output_tokens=as_count(data.get("output_tokens")),
        cache_read_tokens=as_count(inp.get("cached_tokens")),
        cache_write_tokens=as_count(inp.get("cache_write_tokens")),
        reasoning_tokens=as_count(out.get("reasoning_tokens")),
    )


_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def responses_finish_reason(status: object, incomplete: object, has_calls: bool) -> str | None:
    """``completed`` -> ``tool_calls`` when a function was called, else ``stop``;
    ``incomplete`` -> its reason (``length``, ``content_filter``, or the raw reason)."""
    if status == "completed":
        return "tool_calls" if has_calls else "stop"
    if status == "incomplete":
        reason = as_str(as_dict(incomplete).get("reason"))
        return _INCOMPLETE.get(reason or "", reason or "incomplete")
    return as_str(status)


def _input_items(messages: tuple[Message, ...]) -> tuple[str | None, list[dict[str, Any]]]:
    """(instructions, input items): system messages become ``instructions``."""
    system: list[str] = []
    items: list[dict[str, Any]] = []
    for m in messages:
        if m.role in INSTRUCTION_ROLES:
            system.append(m.content)
        elif m.role == "tool":
            if not m.tool_call_id:
                raise ValueError(
                    "a tool message needs tool_call_id (the id of the call it answers)"
                )
            items.append(
                {"type": "function_call_output", "call_id": m.tool_call_id, "output": m.content}
            )
        else:
            if m.content or not m.tool_calls:
                items.append({"role": m.role, "content": responses_content(m)})
            items.extend(
                {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
                for c in m.tool_calls
            )
    return ("\n\n".join(system) if system else None), items


def responses_body(request: ChatRequest) -> dict[str, Any]:
    instructions, items = _input_items(request.messages)
    body: dict[str, Any] = {"model": request.model, "input": items}
    if instructions is not None:
        body["instructions"] = instructions
    if request.max_tokens is not None:
        body["max_output_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": dict(t.parameters),
            }
            for t in request.tools
        ]
    if request.stream:
        body["stream"] = True
    body.update(request.extra)
    return body


class _Output:
    """What the ``output`` items of a response say, read defensively."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.reasoning: list[str] = []
        self.calls: list[ToolCall] = []

    def add(self, item: Mapping[str, Any]) -> None:
        kind = item.get("type")
        if kind == "message":
            for part in as_list(item.get("content")):
                p = as_dict(part)
                if p.get("type") == "output_text" and isinstance(p.get("text"), str):
                    self.text.append(p["text"])
                elif p.get("type") == "refusal" and isinstance(p.get("refusal"), str):
                    self.refusal.append(p["refusal"])
        elif kind == "function_call":
            args = item.get("arguments")
            if args is not None and not isinstance(args, str):
                args = json.dumps(args, ensure_ascii=False)
            self.calls.append(
                ToolCall(
                    id=as_str(item.get("call_id")) or as_str(item.get("id")) or "",
                    name=as_str(item.get("name")) or "",
                    arguments=args or "",
                )
            )
        elif kind == "reasoning":
            for key in ("summary", "content"):
                for part in as_list(item.get(key)):
                    text = as_str(as_dict(part).get("text"))
                    if text:
                        self.reasoning.append(text)


def _read_output(output: object) -> _Output:
    out = _Output()
    if isinstance(output, list):
        for item in output:
            out.add(as_dict(item))
    return out


def parse_responses_body(body: Any, response: httpx.Response, provider: str) -> ChatResponse:
    if not isinstance(body, dict):
        raise invalid("response body is not a JSON object", response, provider)
    if body.get("error") and (body.get("status") == "failed" or "output" not in body):
        raise error_from_payload(
            body["error"], provider=provider, headers=response.headers, status=None
        )
    output = body.get("output")
    if not isinstance(output, list):
        raise invalid("response has no output list", response, provider)
    out = _read_output(output)
    return ChatResponse(
        text="".join(out.text),
        model=as_str(body.get("model")),
        provider=provider,
        usage=responses_usage(body.get("usage")),
        tool_calls=tuple(out.calls),
        finish_reason=responses_finish_reason(
            body.get("status"), body.get("incomplete_details"), bool(out.calls)
        ),
        refusal="".join(out.refusal) or None,
        request_id=request_id(response.headers),
        id=as_str(body.get("id")),
        reasoning="\n\n".join(out.reasoning) or None,
    )


class OpenAIResponsesAdapter:
    """Responses API, sans-IO. ``name``/``default_base_url`` let OpenRouter reuse it."""

    def __init__(
        self, name: str = "openai", default_base_url: str = "https://api.openai.com/v1"
    ) -> None:
        self.name = name
        self.default_base_url = default_base_url

    def __repr__(self) -> str:
        cls = type(self).__name__
        return f"{cls}(name={self.name!r}, default_base_url={self.default_base_url!r})"

    def build_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        return json_request(
            join_url(base_url, "/responses"),
            responses_body(request),
            api_key=api_key,
            stream=request.stream,
        )

    def count_tokens_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        """``POST /v1/responses/input_tokens`` for the body :meth:`build_request` would send
        (any model the Responses API serves, Chat Completions models included)."""
        body = {k: v for k, v in responses_body(request.with_(stream=False)).items()
                if k in _COUNTED}  # fmt: skip
        return json_request(
            join_url(base_url, "/responses/input_tokens"), body, api_key=api_key, stream=False
        )

    def parse_token_count(self, response: httpx.Response) -> int:
        return token_count(response, self.name, self)

    def parse_response(self, response: httpx.Response) -> ChatResponse:
        return parse_responses_body(json_body(response, self.name), response, self.name)

    def classify(self, response: httpx.Response) -> LLMError:
        return classify_openai(response, self.name)

    def stream_parser(self, response: httpx.Response) -> OpenAIResponsesStreamParser:
        return OpenAIResponsesStreamParser(response, self.name)


class _Call:
    __slots__ = ("args", "id", "index", "name")

    def __init__(self, index: int, cid: str, name: str, args: str) -> None:
        self.index, self.id, self.name, self.args = index, cid, name, args


class OpenAIResponsesStreamParser:
    """Aggregates typed Responses events. The event type is read from the JSON ``type``
    (OpenRouter sends no ``event:`` lines), falling back to the SSE event name. A clean end
    is ``response.completed`` (or ``response.incomplete``); a trailing ``[DONE]`` is ignored."""

    def __init__(self, response: httpx.Response, provider: str) -> None:
        self._headers = response.headers
        self._status = response.status_code
        self._provider = provider
        self._request_id = request_id(response.headers)
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._refusal: list[str] = []
        self._calls: dict[str, _Call] = {}  # key: item id, or "#<output_index>"
        self._final: dict[str, Any] | None = None
        self._usage: Usage | None = None
        self._model: str | None = None
        self._id: str | None = None

    def _invalid(self, message: str) -> InvalidResponseError:
        return InvalidResponseError(
            message, provider=self._provider, status=self._status, request_id=self._request_id
        )

    def _error(self, err: object) -> LLMError:
        return error_from_payload(err, provider=self._provider, headers=self._headers, status=None)

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        data = event.data.strip()
        if not data or data == "[DONE]" or self._final is not None:
            return []
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise self._invalid(f"stream data is not JSON ({len(data)} chars)") from exc
        if not isinstance(obj, dict):
            raise self._invalid("stream event is not a JSON object")
        kind = as_str(obj.get("type")) or event.event
        out: list[StreamEvent] = []
        if kind == "error" or (kind == "message" and obj.get("error")):
            raise self._error(obj.get("error") or obj)
        resp = as_dict(obj.get("response"))
        if resp:
            self._meta(resp, out)
        if kind == "response.failed":
            raise self._error(resp.get("error") or {"message": "response failed"})
        if kind in ("response.completed", "response.incomplete"):
            self._complete(resp, out)
        elif kind == "response.output_text.delta":
            self._append(self._text, obj.get("delta"), "text", out)
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            self._append(self._reasoning, obj.get("delta"), "reasoning", out)
        elif kind == "response.refusal.delta":
            delta = as_str(obj.get("delta"))
            if delta:
                self._refusal.append(delta)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            self._item(obj, out)
        elif kind == "response.function_call_arguments.delta":
            call = self._call_for(obj)
            delta = as_str(obj.get("delta")) or ""
            if call is not None and delta:
                call.args += delta
                out.append(StreamEvent("tool_call", text=delta, index=call.index))
        elif kind == "response.function_call_arguments.done":
            call = self._call_for(obj)
            args = as_str(obj.get("arguments"))
            if call is not None and args is not None:
                call.args = args
        return out

    @staticmethod
    def _append(
        sink: list[str], value: object, kind: Literal["text", "reasoning"], out: list[StreamEvent]
    ) -> None:
        delta = as_str(value)
        if delta:
            sink.append(delta)
            out.append(StreamEvent(kind, text=delta))

    def _meta(self, resp: Mapping[str, Any], out: list[StreamEvent]) -> None:
        rid, model = as_str(resp.get("id")), as_str(resp.get("model"))
        if (rid and self._id is None) or (model and self._model is None):
            self._id = self._id or rid
            self._model = self._model or model
            out.append(StreamEvent("meta", id=self._id, model=self._model))

    @staticmethod
    def _key(obj: Mapping[str, Any]) -> str:
        item_id = as_str(obj.get("item_id")) or as_str(as_dict(obj.get("item")).get("id"))
        return item_id or f"#{obj.get('output_index')}"

    def _call_for(self, obj: Mapping[str, Any]) -> _Call | None:
        return self._calls.get(self._key(obj)) or self._calls.get(f"#{obj.get('output_index')}")

    def _item(self, obj: Mapping[str, Any], out: list[StreamEvent]) -> None:
        item = as_dict(obj.get("item"))
        if item.get("type") != "function_call":
            return
        key = self._key(obj)
        cid = as_str(item.get("call_id")) or as_str(item.get("id")) or ""
        name = as_str(item.get("name")) or ""
        args = as_str(item.get("arguments")) or ""
        call = self._calls.get(key)
        if call is None:
            call = _Call(len(self._calls), cid, name, args)
            self._calls[key] = call
            out.append(StreamEvent("tool_call", text=args, index=call.index, id=cid, name=name))
            return
        # output_item.done carries the final values; trust them over the assembled deltas.
        call.id, call.name = cid or call.id, name or call.name
        if item.get("arguments") is not None:
            call.args = args

    def _complete(self, resp: dict[str, Any], out: list[StreamEvent]) -> None:
        self._final = resp
        if isinstance(resp.get("usage"), dict):
            self._usage = responses_usage(resp["usage"])
            out.append(StreamEvent("usage", usage=self._usage))
        has_calls = bool(self._calls) or bool(_read_output(resp.get("output")).calls)
        reason = responses_finish_reason(
            resp.get("status"), resp.get("incomplete_details"), has_calls
        )
        out.append(StreamEvent("finish", finish_reason=reason))

    def finish(self, *, clean: bool = True) -> ChatResponse:
        final = self._final
        if not clean or final is None:
            raise self._invalid("stream was truncated: it ended before response.completed")
        done = _read_output(final.get("output"))
        calls = tuple(
            ToolCall(c.id, c.name, c.args) for c in sorted(self._calls.values(), key=_index)
        )
        calls = calls or tuple(done.calls)
        text = "".join(self._text) or "".join(done.text)
        reasoning = "".join(self._reasoning) or "\n\n".join(done.reasoning)
        refusal = "".join(self._refusal) or "".join(done.refusal)
        return ChatResponse(
            text=text,
            model=as_str(final.get("model")) or self._model,
            provider=self._provider,
            usage=self._usage or Usage(),
            tool_calls=calls,
            finish_reason=responses_finish_reason(
                final.get("status"), final.get("incomplete_details"), bool(calls)
            ),
            refusal=refusal or None,
            request_id=self._request_id,
            id=as_str(final.get("id")) or self._id,
            reasoning=reasoning or None,
        )


def _index(call: _Call) -> int:
    return call.index
