"""Google Gemini API (``generateContent`` and ``streamGenerateContent?alt=sse``), sans-IO.

What differs from the OpenAI shape, and where it is handled:

- request: ``contents`` with roles ``user``/``model``, the system prompt apart in
  ``systemInstruction``, ``generationConfig`` for limits, tools as ``functionDeclarations``,
  a tool result as a ``functionResponse`` part that names the function (found from the
  assistant turn that made the call); the key in the ``x-goog-api-key`` header, never the URL;
- answer: ``candidates[0].content.parts``; parts flagged ``thought: true`` are reasoning and
  never part of ``text``; ``functionCall`` parts carry ``args`` as an object and usually no id
  (one is made up from the position, ``call_0``...); ``finishReason: STOP`` even when the
  model called a tool (normalized to ``tool_calls``);
- usage: ``promptTokenCount`` already includes ``cachedContentTokenCount``;
  ``candidatesTokenCount`` leaves ``thoughtsTokenCount`` out, so output adds them (llmkit's
  output tokens include reasoning everywhere);
- exact counts: ``:countTokens`` gets the same body as ``generateContentRequest`` (so a
  ``cachedContent`` held on the server is counted too) and answers ``totalTokens``;
- safety: a prompt blocked by ``promptFeedback.blockReason`` has no candidate at all and is
  raised as ``content_filter``; an answer stopped with ``finishReason: SAFETY`` (or
  ``PROHIBITED_CONTENT``, ``BLOCKLIST``, ``SPII``, ``IMAGE_SAFETY``) has ``finish_reason``
  ``content_filter``, and is raised as one too when it carries no text and no call;
- errors: ``{"error": {"code", "message", "status", "details": [...]}}``; ``status`` decides
  (``RESOURCE_EXHAUSTED`` rate limit, ``UNAVAILABLE`` overloaded, ``INTERNAL`` server error,
  ...), ``RetryInfo.retryDelay`` is ``retry_after``, ``ErrorInfo.reason: API_KEY_INVALID``
  is ``auth`` although the status is 400, and a quota whose limit is 0 is
  ``quota_exhausted`` (no wait helps); an ``error`` chunk inside a 200 stream is read alike;
- streams: events framed with ``\\r\\n\\r\\n`` and no ``[DONE]`` (a stream ends cleanly once a
  chunk carried a ``finishReason``); without ``alt=sse`` the body is one JSON array of
  chunks, which :func:`llmkit.parse_stream` also reads.

The error dialect (``status`` and ``details`` to kinds, ``retryDelay``, the request id) is in
:mod:`llmkit.providers.gemini_errors`.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from llmkit.errors import ContentFilterError, InvalidResponseError, LLMError
from llmkit.providers.base import StreamParser, json_body, token_count
from llmkit.providers.gemini_errors import classify_gemini, error_from_google, google_request_id
from llmkit.providers.wire import as_count, as_dict, as_list, as_str
from llmkit.secrets import APIKey
from llmkit.sse import SSEEvent
from llmkit.types import (
    ChatRequest,
    ChatResponse,
    ImagePart,
    Message,
    StreamEvent,
    ToolCall,
    Usage,
)

__all__ = ["GeminiAdapter", "GeminiStreamParser", "gemini_usage"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "BLOCKLIST": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "MALFORMED_FUNCTION_CALL": "malformed_function_call",
}


# --------------------------------------------------------------------------- usage


def gemini_usage(raw: object) -> Usage:
    """``usageMetadata`` -> inclusive :class:`Usage`; a count not reported stays None."""
    data = as_dict(raw)
    prompt = as_count(data.get("promptTokenCount"))
    tool_prompt = as_count(data.get("toolUsePromptTokenCount"))
    candidates = as_count(data.get("candidatesTokenCount"))
    thoughts = as_count(data.get("thoughtsTokenCount"))
    if prompt is not None and tool_prompt is not None:
        prompt += tool_prompt
    output = candidates
    if thoughts is not None:
        output = (output or 0) + thoughts
    return Usage(
        input_tokens=prompt,
        output_tokens=output,
        cache_read_tokens=as_count(data.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


# --------------------------------------------------------------------------- request


def _image(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        return {"inlineData": {"mimeType": part.media_type or "image/png", "data": part.data}}
    return {"fileData": {"mimeType": part.media_type or "image/*", "fileUri": part.url}}


def _user_parts(m: Message) -> list[dict[str, Any]]:
    if not m.parts:
        return [{"text": m.content}]
    return [{"text": p} if isinstance(p, str) else _image(p) for p in m.parts]


def _args(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError as exc:
        raise ValueError("tool call arguments must be a JSON object for Gemini") from exc
    if not isinstance(value, dict):
        raise ValueError("tool call arguments must be a JSON object for Gemini")
    return value


def _result(content: str) -> dict[str, Any]:
    """A ``functionResponse.response`` must be an object: JSON objects pass, anything else is
    wrapped as ``{"result": ...}``."""
    try:
        value = json.loads(content)
    except ValueError:
        return {"result": content}
    return value if isinstance(value, dict) else {"result": value}


def build_contents(
    messages: Iterable[Message],
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(contents, systemInstruction). Consecutive turns of one role are merged, as Gemini
    wants roles to alternate."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for m in messages:
        if m.role == "system":
            system.append({"text": m.content})
        elif m.role == "user":
            add("user", _user_parts(m))
        elif m.role == "assistant":
            parts: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
            for c in m.tool_calls:
                names[c.id] = c.name
                parts.append({"functionCall": {"name": c.name, "args": _args(c.arguments)}})
            add("model", parts or [{"text": ""}])
        else:  # tool
            name = names.get(m.tool_call_id or "") or m.name
            if not name:
                raise ValueError(
                    "a tool message for Gemini needs the function name: answer a call made "
                    "in an earlier assistant message (same tool_call_id), or set name="
                )
            add("user", [{"functionResponse": {"name": name, "response": _result(m.content)}}])
    instruction = {"parts": system} if system else None
    return contents, instruction


def gemini_body(request: ChatRequest) -> dict[str, Any]:
    contents, instruction = build_contents(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if instruction is not None:
        body["systemInstruction"] = instruction
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if config:
        body["generationConfig"] = config
    if request.tools:
        body["tools"] = [
            {
                "functionDeclarations": [
                    {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
                    for t in request.tools
                ]
            }
        ]
    body.update(request.extra)
    return body


# --------------------------------------------------------------------------- response


class _Candidate:
    """Accumulates candidate 0 across one body or many stream chunks."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: list[ToolCall] = []
        self.finish_raw: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.id: str | None = None
        self.blocked: str | None = None

    def feed(self, chunk: Mapping[str, Any], out: list[StreamEvent] | None = None) -> None:
        model = as_str(chunk.get("modelVersion"))
        rid = as_str(chunk.get("responseId"))
        if (model and not self.model) or (rid and not self.id):
            self.model, self.id = self.model or model, self.id or rid
            if out is not None:
                out.append(StreamEvent("meta", id=self.id, model=self.model))
        feedback = as_dict(chunk.get("promptFeedback"))
        reason = as_str(feedback.get("blockReason"))
        if reason:
            detail = as_str(feedback.get("blockReasonMessage"))
            self.blocked = f"prompt blocked: {reason}" + (f" ({detail})" if detail else "")
        candidates = chunk.get("candidates")
        if candidates is not None and not isinstance(candidates, list):
            raise TypeError("candidates is not a list")
        for cand in candidates or ():
            c = as_dict(cand)
            if as_count(c.get("index")) not in (None, 0):
                continue
            for part in as_list(as_dict(c.get("content")).get("parts")):
                self._part(as_dict(part), out)
            finish = as_str(c.get("finishReason"))
            if finish:
                self.finish_raw = finish
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = gemini_usage(chunk["usageMetadata"])
            if out is not None:
                out.append(StreamEvent("usage", usage=self.usage))

    def _part(self, part: Mapping[str, Any], out: list[StreamEvent] | None) -> None:
        call = part.get("functionCall")
        if isinstance(call, dict):
            name = as_str(call.get("name"))
            if not name:
                raise TypeError("functionCall without a name")
            args = call.get("args")
            arguments = json.dumps(args if args is not None else {}, ensure_ascii=False)
            index = len(self.calls)
            cid = as_str(call.get("id")) or f"call_{index}"
            self.calls.append(ToolCall(cid, name, arguments))
            if out is not None:
                out.append(StreamEvent("tool_call", text=arguments, index=index, id=cid, name=name))
            return
        text = as_str(part.get("text"))
        if not text:
            return
        kind: Any = "reasoning" if part.get("thought") is True else "text"
        (self.reasoning if kind == "reasoning" else self.text).append(text)
        if out is not None:
            out.append(StreamEvent(kind, text=text))

    @property
    def finish_reason(self) -> str | None:
        if self.calls and self.finish_raw in (None, "STOP"):
            return "tool_calls"
        if self.finish_raw is None:
            return None
        return _FINISH.get(self.finish_raw, self.finish_raw.lower())

    def response(self, provider: str, headers: httpx.Headers, status: int) -> ChatResponse:
        rid = google_request_id(headers)
        if self.blocked and not self.text and not self.calls:
            raise ContentFilterError(self.blocked, provider=provider, status=status, request_id=rid)
        finish = self.finish_reason
        if finish == "content_filter" and not self.text and not self.calls:
            raise ContentFilterError(
                f"answer blocked: finishReason {self.finish_raw}",
                provider=provider,
                status=status,
                request_id=rid,
            )
        return ChatResponse(
            text="".join(self.text),
            model=self.model,
            provider=provider,
            usage=self.usage or Usage(),
            tool_calls=tuple(self.calls),
            finish_reason=finish,
            request_id=rid,
            id=self.id,
            reasoning="".join(self.reasoning) or None,
        )


def parse_gemini_body(body: Any, response: httpx.Response, provider: str) -> ChatResponse:
    if not isinstance(body, dict):
        raise InvalidResponseError(
            "response body is not a JSON object",
            provider=provider,
            status=response.status_code,
            request_id=google_request_id(response.headers),
        )
    if isinstance(body.get("error"), dict):
        raise error_from_google(
            body["error"], provider=provider, headers=response.headers, status=None
        )
    acc = _Candidate()
    try:
        acc.feed(body)
    except TypeError as exc:
        raise InvalidResponseError(
            f"malformed response: {exc}",
            provider=provider,
            status=response.status_code,
            request_id=google_request_id(response.headers),
        ) from exc
    if not body.get("candidates") and not acc.blocked:
        raise InvalidResponseError(
            "response has no candidates",
            provider=provider,
            status=response.status_code,
            request_id=google_request_id(response.headers),
        )
    return acc.response(provider, response.headers, response.status_code)


class GeminiStreamParser:
    """Aggregates ``GenerateContentResponse`` chunks. Gemini sends no ``[DONE]``: the stream
    ended cleanly when the transport closed cleanly after a chunk with a ``finishReason``
    (or a prompt block, which has none)."""

    def __init__(self, response: httpx.Response, provider: str) -> None:
        self._headers = response.headers
        self._status = response.status_code
        self._provider = provider
        self._acc = _Candidate()

    def _invalid(self, message: str) -> InvalidResponseError:
        return InvalidResponseError(
            message,
            provider=self._provider,
            status=self._status,
            request_id=google_request_id(self._headers),
        )

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        data = event.data.strip()
        if not data:
            return []
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise self._invalid(f"stream data is not JSON ({len(data)} chars)") from exc
        if not isinstance(chunk, dict):
            raise self._invalid("stream chunk is not a JSON object")
        if isinstance(chunk.get("error"), dict):
            raise error_from_google(
                chunk["error"], provider=self._provider, headers=self._headers, status=None
            )
        out: list[StreamEvent] = []
        try:
            self._acc.feed(chunk, out)
        except TypeError as exc:
            raise self._invalid(f"malformed stream chunk: {exc}") from exc
        finish = self._acc.finish_reason
        if self._acc.finish_raw is not None and finish is not None:
            out.append(StreamEvent("finish", finish_reason=finish))
        return out

    def finish(self, *, clean: bool = True) -> ChatResponse:
        ended = self._acc.finish_raw is not None or self._acc.blocked is not None
        if not clean or not ended:
            raise self._invalid("stream was truncated: it ended before a finishReason")
        return self._acc.response(self._provider, self._headers, self._status)


def array_events(body: bytes) -> list[SSEEvent]:
    """A stream requested without ``alt=sse`` is one JSON array of chunks: one event each."""
    items = json.loads(body.decode("utf-8"))
    if not isinstance(items, list):
        raise ValueError("stream body is not a JSON array")
    return [SSEEvent("message", json.dumps(i, ensure_ascii=False)) for i in items]


# --------------------------------------------------------------------------- adapter


class GeminiAdapter:
    """The Gemini Developer API (``generativelanguage.googleapis.com``). Vertex AI's routes
    and OAuth are not built here, though its bodies parse the same."""

    json_array_streams = True

    def __init__(self, name: str = "gemini", default_base_url: str = DEFAULT_BASE_URL) -> None:
        self.name = name
        self.default_base_url = default_base_url

    def __repr__(self) -> str:
        return f"GeminiAdapter(name={self.name!r}, default_base_url={self.default_base_url!r})"

    def build_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        if not base_url:
            raise ValueError("base_url must not be empty")
        model = urllib.parse.quote(request.model.removeprefix("models/"), safe="-._~")
        method = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        url = f"{base_url.rstrip('/')}/models/{model}:{method}"
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if request.stream else "application/json",
        }
        if api_key is not None:
            headers["x-goog-api-key"] = api_key.reveal()
        body = json.dumps(gemini_body(request), ensure_ascii=False, separators=(",", ":"))
        return httpx.Request("POST", url, headers=headers, content=body.encode("utf-8"))

    def count_tokens_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        """``POST {base}/models/{model}:countTokens`` for the body :meth:`build_request` would
        send, wrapped whole as ``generateContentRequest`` (free; an unknown model is a 404).

        Wrapped rather than sent as bare ``contents`` because ``contents`` alone leaves out
        what the call is billed for besides the turns: ``systemInstruction``, tool
        declarations and, above all, a ``cachedContent`` reference, whose tokens live on the
        server where no local estimate can see them. Same URL base, query and key header as
        ``generateContent``."""
        built = self.build_request(request.with_(stream=False), base_url=base_url, api_key=api_key)
        model = "models/" + request.model.removeprefix("models/")
        body = {"generateContentRequest": {"model": model, **json.loads(built.content)}}
        url = str(built.url).removesuffix(":generateContent") + ":countTokens"
        headers = {k: v for k, v in built.headers.items() if k.lower() != "content-length"}
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return httpx.Request("POST", url, headers=headers, content=content)

    def parse_token_count(self, response: httpx.Response) -> int:
        """``totalTokens`` of a ``:countTokens`` answer: the whole prompt, a ``cachedContent``
        included (its share, ``cachedContentTokenCount``, is already inside, not added)."""
        return token_count(response, self.name, self, key="totalTokens")

    def parse_response(self, response: httpx.Response) -> ChatResponse:
        return parse_gemini_body(json_body(response, self.name), response, self.name)

    def classify(self, response: httpx.Response) -> LLMError:
        return classify_gemini(response, self.name)

    def stream_parser(self, response: httpx.Response) -> StreamParser:
        return GeminiStreamParser(response, self.name)
