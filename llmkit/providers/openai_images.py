"""OpenAI's Images API (``POST /v1/images/generations``), sans-IO, behind ``llmkit.Client``.

An image call is an ordinary call through the client's stack — deadline, retries, retry budget,
breaker, telemetry — so the adapter speaks the same neutral types as chat: the prompt is the
last message, ``extra`` carries the Images API fields (``size``, ``output_format``,
``quality``, ``n``...) and the answer's first image travels base64-encoded in
``ChatResponse.text`` (:func:`image_bytes` decodes it). ``extra["idempotency_key"]`` becomes
the ``Idempotency-Key`` header, so a create retried after a lost answer is not generated (and
billed) twice.

Usage is the API's own: ``input_tokens`` (text + image), ``output_tokens`` (image tokens).
Refusals (``moderation_blocked``, ``content_policy_violation``) are ``content_filter``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import httpx

from llmkit.errors import InvalidResponseError, LLMError
from llmkit.providers.base import StreamParser, json_body, request_id
from llmkit.providers.openai_errors import classify_openai
from llmkit.providers.wire import join_url
from llmkit.secrets import APIKey
from llmkit.types import ChatRequest, ChatResponse, Usage

__all__ = ["OpenAIImagesAdapter", "image_bytes", "json_request_with_key"]


def json_request_with_key(
    method: str, url: str, body: dict[str, Any] | None, *, api_key: APIKey | None, key: Any
) -> httpx.Request:
    """A JSON request with the key in Authorization and an optional Idempotency-Key."""
    headers = {"Accept": "application/json"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key.reveal()}"
    if key is not None:
        headers["Idempotency-Key"] = str(key)
    if body is None:
        return httpx.Request(method, url, headers=headers)
    headers["Content-Type"] = "application/json"
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return httpx.Request(method, url, headers=headers, content=content)


def _prompt(request: ChatRequest) -> str:
    if not request.messages:
        raise ValueError("an image request needs a prompt (one user message)")
    return request.messages[-1].content


class OpenAIImagesAdapter:
    """Images generations: ``Client(adapter=OpenAIImagesAdapter(), ...)``."""

    def __init__(
        self, name: str = "openai", default_base_url: str = "https://api.openai.com/v1"
    ) -> None:
        self.name = name
        self.default_base_url = default_base_url

    def build_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        extra = dict(request.extra)
        key = extra.pop("idempotency_key", None)
        body = {"model": request.model, "prompt": _prompt(request), **extra}
        url = join_url(base_url, "/images/generations")
        return json_request_with_key("POST", url, body, api_key=api_key, key=key)

    def parse_response(self, response: httpx.Response) -> ChatResponse:
        body = json_body(response, self.name)
        data = body.get("data") if isinstance(body, dict) else None
        first = data[0] if isinstance(data, list) and data else None
        b64 = first.get("b64_json") if isinstance(first, dict) else None
        if not isinstance(b64, str) or not b64:
            raise InvalidResponseError(
                "images response has no data[0].b64_json",
                provider=self.name,
                status=response.status_code,
                request_id=request_id(response.headers),
            )
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        return ChatResponse(
            text=b64,
            model=None,
            provider=self.name,
            usage=Usage(
                input_tokens=_int(usage.get("input_tokens")),
                output_tokens=_int(usage.get("output_tokens")),
            ),
            finish_reason="stop",
            request_id=request_id(response.headers),
            id=str(body.get("created")) if body.get("created") is not None else None,
        )

    def classify(self, response: httpx.Response) -> LLMError:
        return classify_openai(response, self.name)

    def stream_parser(self, response: httpx.Response) -> StreamParser:
        raise NotImplementedError("image streaming (partial images) is not supported")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def image_bytes(response: ChatResponse) -> bytes:
    """The image an :class:`OpenAIImagesAdapter` call returned, decoded."""
    try:
        return base64.b64decode(response.text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidResponseError(
            "image payload is not valid base64", provider=response.provider
        ) from exc
