"""OpenAI-compatible services by name, Azure OpenAI, and Ollama's native chat route.

Every service here speaks Chat Completions closely enough for
:class:`~llmkit.providers.openai_chat.OpenAIChatAdapter`; what differs is where it lives, how
the key is sent, and how errors look. Real recordings of each (``../shared/real-cassettes-set2``)
show the error dialects this module folds into llmkit's kinds:

- no ``error`` wrapper (Cerebras ``{"code", "message", "type"}``, Mistral
  ``{"object": "error", ...}``), ``{"detail": "..."}`` and FastAPI 422 ``detail`` lists
  (Mistral), a string ``error`` with a sentence in ``code`` (xAI), plain-text bodies
  (DeepSeek's 422), ``{"error": "..."}`` (Ollama);
- an invalid key is ``auth`` even when the status is 400 (xAI answers a bad key with 400);
- Groq's context overflow says only "Please reduce the length of the messages";
- Groq reports a failed tool call as ``event: error`` inside a 200 stream (the chat stream
  parser raises it);
- Azure: the key in ``api-key``, deployment URLs that carry ``?api-version=`` (the path is
  inserted before the query), the newer ``/openai/v1`` route, Azure AI Foundry's
  ``/models`` route, content-filter 400s (``code: content_filter`` with or without
  ``innererror``) and 200s with ``finish_reason: content_filter``, request ids in
  ``apim-request-id``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from llmkit.errors import AuthError, BadRequestError, ContextLengthError, LLMError
from llmkit.providers.base import StreamParser, json_body, make_error
from llmkit.providers.openai_chat import (
    OpenAIChatAdapter,
    normalize_finish_reason,
    reasoning_text,
)
from llmkit.providers.openai_responses import OpenAIResponsesAdapter
from llmkit.providers.wire import as_count, as_dict, as_list, as_str, invalid, json_request
from llmkit.secrets import APIKey, scrub
from llmkit.types import ChatRequest, ChatResponse, ToolCall, Usage

__all__ = [
    "SERVICES",
    "AzureAdapter",
    "AzureResponsesAdapter",
    "CompatibleAdapter",
    "OllamaNativeAdapter",
    "Service",
    "refine_compatible_error",
]


@dataclass(frozen=True, slots=True)
class Service:
    """A named OpenAI-compatible service: its default base URL and key variable."""

    base_url: str
    env: tuple[str, ...]
    max_tokens_field: str = "max_tokens"


SERVICES: dict[str, Service] = {
    "groq": Service("https://api.groq.com/openai/v1", ("GROQ_API_KEY",)),
    "mistral": Service("https://api.mistral.ai/v1", ("MISTRAL_API_KEY",)),
    "deepseek": Service("https://api.deepseek.com", ("DEEPSEEK_API_KEY",)),
    "together": Service("https://api.together.xyz/v1", ("TOGETHER_API_KEY",)),
    "xai": Service("https://api.x.ai/v1", ("XAI_API_KEY",)),
    "cerebras": Service("https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",)),
    "ollama": Service("http://localhost:11434/v1", ("OLLAMA_API_KEY",)),
}
"""Aliases accepted wherever a provider name is: ``Client(provider="groq")`` needs no
base_url. Telemetry reports the alias as the provider name."""

_BAD_KEY_RE = re.compile(
    r"(incorrect|invalid|wrong|bad)[ _]api[ _]key|api key not valid|unauthorized",
    re.IGNORECASE,
)
_GROQ_CONTEXT_RE = re.compile(r"reduce the length of the messages", re.IGNORECASE)


def _detail_message(response: httpx.Response, provider: str) -> str | None:
    """A FastAPI 422 ``detail`` list as one readable line (``loc: msg; ...``)."""
    try:
        body: Any = json_body(response, provider)
    except LLMError:
        return None
    items = as_list(as_dict(body).get("detail"))
    lines = []
    for item in items[:5]:
        d = as_dict(item)
        loc = ".".join(str(x) for x in as_list(d.get("loc")))
        lines.append(f"{loc}: {as_str(d.get('msg')) or ''}".strip(": "))
    return "; ".join(lines) or None


def refine_compatible_error(err: LLMError, response: httpx.Response | None) -> LLMError:
    """The kinds the generic OpenAI reading gets wrong for compatible services."""
    message = err.message
    if response is not None and err.status == 422:
        detail = _detail_message(response, err.provider or "")
        if detail:
            err.message = message = scrub(detail)
            err.args = (message,)
    if isinstance(err, BadRequestError) and _BAD_KEY_RE.search(message):
        return _recast(AuthError, err)
    if isinstance(err, BadRequestError) and _GROQ_CONTEXT_RE.search(message):
        return _recast(ContextLengthError, err)
    return err


def _recast(cls: type[LLMError], err: LLMError) -> LLMError:
    out = cls(
        err.message,
        provider=err.provider,
        status=err.status,
        request_id=err.request_id,
        retry_after=err.retry_after,
        code=err.code,
    )
    out.__cause__ = err.__cause__
    return out


class CompatibleAdapter(OpenAIChatAdapter):
    """Chat Completions for a compatible service, with its error dialects folded in."""

    def classify(self, response: httpx.Response) -> LLMError:
        return refine_compatible_error(super().classify(response), response)


# --------------------------------------------------------------------------- Azure


def azure_url(base_url: str, path: str) -> str:
    """``path`` appended to the base URL's path, its query (``?api-version=``) kept after it."""
    if not base_url:
        raise ValueError("provider='azure' needs a base_url (a deployment or /openai/v1 URL)")
    url = httpx.URL(base_url)
    return str(url.copy_with(path=url.path.rstrip("/") + path))


def _azure_request(request: httpx.Request, api_key: APIKey | None) -> httpx.Request:
    request.headers.pop("Authorization", None)
    if api_key is not None:
        request.headers["api-key"] = api_key.reveal()
    return request


def _azure_error(err: LLMError, response: httpx.Response) -> LLMError:
    err = refine_compatible_error(err, response)
    if err.request_id is None:
        err.request_id = response.headers.get("apim-request-id")
    # Azure may send ``retry-after-ms: 0`` beside ``retry-after: 1``: the longer one holds.
    seconds = response.headers.get("retry-after", "")
    if err.retry_after is not None and seconds.isdigit():
        err.retry_after = max(err.retry_after, float(seconds))
    return err


class AzureAdapter(OpenAIChatAdapter):
    """Azure OpenAI Chat Completions. ``base_url`` is a deployment URL
    (``https://R.openai.azure.com/openai/deployments/D?api-version=2024-10-21``), the v1
    route (``https://R.openai.azure.com/openai/v1``) or a Foundry ``/models`` URL."""

    def __init__(self) -> None:
        super().__init__("azure", "", max_tokens_field="max_completion_tokens")

    def build_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        http = json_request(
            azure_url(base_url, "/chat/completions"),
            self.build_body(request),
            api_key=None,
            stream=request.stream,
        )
        return _azure_request(http, api_key)

    def classify(self, response: httpx.Response) -> LLMError:
        return _azure_error(super().classify(response), response)


class AzureResponsesAdapter(OpenAIResponsesAdapter):
    """Azure's ``/openai/responses`` (and ``/openai/v1/responses``) route."""

    def __init__(self) -> None:
        super().__init__(name="azure")

    def build_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        http = super().build_request(request, base_url="http://placeholder", api_key=None)
        moved = httpx.Request(
            "POST",
            azure_url(base_url, "/responses"),
            headers=http.headers,
            content=http.content,
        )
        return _azure_request(moved, api_key)

    def classify(self, response: httpx.Response) -> LLMError:
        return _azure_error(super().classify(response), response)


# --------------------------------------------------------------------------- Ollama native


class OllamaNativeAdapter(CompatibleAdapter):
    """Ollama's own ``/api/chat`` answer (non-streaming): ``message`` with ``thinking`` and
    ``tool_calls`` whose arguments are objects, ``prompt_eval_count``/``eval_count`` as usage.
    Requests are built for the ``/v1`` route (the parent class); this reads what a native
    client recorded. Its newline-delimited JSON stream is not read."""

    def __init__(self) -> None:
        super().__init__("ollama", SERVICES["ollama"].base_url)

    def parse_response(self, response: httpx.Response) -> ChatResponse:
        body = json_body(response, self.name)
        data = as_dict(body)
        message = data.get("message")
        if not isinstance(message, dict):
            raise invalid("native answer has no message", response, self.name)
        calls = []
        for i, raw in enumerate(as_list(message.get("tool_calls"))):
            fn = as_dict(as_dict(raw).get("function"))
            name = as_str(fn.get("name"))
            if not name:
                raise invalid(f"tool call {i} has no function name", response, self.name)
            args = fn.get("arguments")
            text = args if isinstance(args, str) else json.dumps(args or {}, ensure_ascii=False)
            calls.append(ToolCall(as_str(as_dict(raw).get("id")) or f"call_{i}", name, text))
        finish = normalize_finish_reason(data.get("done_reason"))
        if calls and finish in (None, "stop"):
            finish = "tool_calls"
        return ChatResponse(
            text=as_str(message.get("content")) or "",
            model=as_str(data.get("model")),
            provider=self.name,
            usage=Usage(
                input_tokens=as_count(data.get("prompt_eval_count")),
                output_tokens=as_count(data.get("eval_count")),
            ),
            tool_calls=tuple(calls),
            finish_reason=finish,
            reasoning=as_str(message.get("thinking")) or reasoning_text(message),
        )

    def stream_parser(self, response: httpx.Response) -> StreamParser:
        raise make_error(
            BadRequestError,
            "Ollama's native /api/chat stream (newline-delimited JSON) is not read; "
            "use the /v1 route",
            provider=self.name,
            status=response.status_code,
            headers=response.headers,
        )
