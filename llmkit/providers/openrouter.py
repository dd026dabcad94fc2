"""OpenRouter: Chat Completions (and ``/responses``) with its own quirks on top.

What differs from OpenAI, and where it is handled:

- errors: ``error.code`` is an integer HTTP status, upstream failures carry
  ``error.metadata.raw`` and ``provider_name`` (folded into the message), 402 means out of
  credits (quota_exhausted), 403 with ``metadata.reasons``/``flagged_input`` is moderation
  (content_filter) -- all in :func:`llmkit.providers.openai_errors.error_from_payload`;
- JSON bodies padded with leading blank lines (keep-alive) -- ``json_body`` strips them;
- ``: OPENROUTER PROCESSING`` SSE comments -- the SSE decoder drops comments;
- mid-stream errors as a normal chunk with an ``error`` object and/or ``finish_reason:
  "error"`` -- the chat stream parser raises the classified error;
- ``reasoning`` deltas and ``message.reasoning`` -- kept apart from the text;
- ``/responses`` is served too, so parsing follows the request path.
"""

from __future__ import annotations

import time
from typing import Literal

import httpx

from llmkit.errors import LLMError, RateLimitError
from llmkit.providers.base import StreamParser, json_body
from llmkit.providers.openai_chat import OpenAIChatAdapter
from llmkit.providers.openai_responses import (
    OpenAIResponsesStreamParser,
    parse_responses_body,
    responses_body,
)
from llmkit.providers.wire import join_url, json_request, path_of
from llmkit.ratelimit import parse_epoch_ms
from llmkit.secrets import APIKey
from llmkit.types import ChatRequest, ChatResponse

__all__ = ["OpenRouterAdapter"]


class OpenRouterAdapter(OpenAIChatAdapter):
    """``api="responses"`` builds ``/responses`` requests; parsing always follows the path."""

    def __init__(
        self,
        name: str = "openrouter",
        default_base_url: str = "https://openrouter.ai/api/v1",
        *,
        api: Literal["chat", "responses"] = "chat",
        max_tokens_field: str | None = "max_tokens",
    ) -> None:
        super().__init__(name, default_base_url, max_tokens_field=max_tokens_field)
        if api not in ("chat", "responses"):
            raise ValueError(f"api must be 'chat' or 'responses', got {api!r}")
        self.api = api

    def build_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        if self.api == "chat":
            return super().build_request(request, base_url=base_url, api_key=api_key)
        return json_request(
            join_url(base_url, "/responses"),
            responses_body(request),
            api_key=api_key,
            stream=request.stream,
        )

    def parse_response(self, response: httpx.Response) -> ChatResponse:
        if _is_responses(response):
            return parse_responses_body(json_body(response, self.name), response, self.name)
        return super().parse_response(response)

    def classify(self, response: httpx.Response) -> LLMError:
        err = super().classify(response)
        if isinstance(err, RateLimitError) and err.retry_after is None:
            err.retry_after = _reset_epoch_ms(response.headers.get("x-ratelimit-reset"))
        return err

    def stream_parser(self, response: httpx.Response) -> StreamParser:
        if _is_responses(response):
            return OpenAIResponsesStreamParser(response, self.name)
        return super().stream_parser(response)


def _reset_epoch_ms(value: str | None, *, now: float | None = None) -> float | None:
    """OpenRouter's ``X-RateLimit-Reset`` is a Unix time in milliseconds."""
    at = parse_epoch_ms(value)
    return None if at is None else max(0.0, at - (time.time() if now is None else now))


def _is_responses(response: httpx.Response) -> bool:
    return path_of(response).rstrip("/").endswith("/responses")
