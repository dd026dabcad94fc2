"""Provider wire formats, one module each. ``adapter_for`` picks one by provider name and path.

Adapters are stateless, so one instance per (provider, API) is built on first use and shared.
"""

from __future__ import annotations

import functools

from llmkit.providers.anthropic import AnthropicAdapter
from llmkit.providers.base import Adapter
from llmkit.providers.compatible import (
    SERVICES,
    AzureAdapter,
    AzureResponsesAdapter,
    CompatibleAdapter,
    OllamaNativeAdapter,
)
from llmkit.providers.gemini import GeminiAdapter
from llmkit.providers.openai_chat import OpenAIChatAdapter
from llmkit.providers.openai_responses import OpenAIResponsesAdapter
from llmkit.providers.openrouter import OpenRouterAdapter

__all__ = ["KNOWN_PROVIDERS", "SERVICES", "Adapter", "adapter_for"]

KNOWN_PROVIDERS: tuple[str, ...] = (
    "anthropic",
    "azure",
    "compatible",
    "gemini",
    "openai",
    "openai-compatible",
    "openrouter",
    *sorted(SERVICES),
)
"""``compatible``/``openai-compatible``: any server speaking OpenAI Chat Completions (it needs
a base_url); the named services (``groq``, ``mistral``, ...) carry their own base URL."""

_ALIASES = {"azure-openai": "azure", "google": "gemini", "vllm": "compatible"}
_APIS = ("chat", "responses", "messages", "images", "video-jobs")
"""``images``: OpenAI's Images API; ``video-jobs``: the create → poll → download job API."""


def canonical_provider(provider: str) -> str:
    """The registry name for ``provider`` (case and a few spellings folded).
    Raises ValueError for an unknown name."""
    if not isinstance(provider, str):
        raise TypeError(f"provider must be a string, not {type(provider).__name__}")
    name = provider.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in KNOWN_PROVIDERS:
        raise ValueError(
            f"unknown provider {provider!r}; known providers: {', '.join(KNOWN_PROVIDERS)}"
        )
    return name


def adapter_for(provider: str, *, path: str = "", api: str | None = None) -> Adapter:
    """The adapter for ``provider``; ``path`` (or ``api="responses"``) selects OpenAI's
    Responses API over Chat Completions. Raises ValueError for an unknown provider or api."""
    name = canonical_provider(provider)
    if api is not None and api not in _APIS:
        raise ValueError(f"unknown api {api!r}; known: {', '.join(_APIS)}")
    if name == "ollama" and api is None and path.rstrip("/").endswith("/api/chat"):
        return _build(name, "native")
    if api is None:
        api = "responses" if path.rstrip("/").endswith("/responses") else "chat"
    if api in ("images", "video-jobs"):
        return _media(name, api)
    return _build(name, "responses" if api == "responses" else "chat")


@functools.cache
def _media(name: str, api: str) -> Adapter:
    from llmkit.providers.openai_images import OpenAIImagesAdapter  # noqa: PLC0415
    from llmkit.providers.video_jobs import VideoJobsAdapter  # noqa: PLC0415

    return OpenAIImagesAdapter(name) if api == "images" else VideoJobsAdapter(name)


@functools.cache
def _build(name: str, api: str) -> Adapter:
    responses = api == "responses"
    if name == "anthropic":
        return AnthropicAdapter()
    if name == "gemini":
        return GeminiAdapter()
    if name == "openrouter":
        return OpenRouterAdapter(api="responses") if responses else OpenRouterAdapter()
    if name == "azure":
        return AzureResponsesAdapter() if responses else AzureAdapter()
    if api == "native":
        return OllamaNativeAdapter()
    if name in SERVICES:
        service = SERVICES[name]
        if responses:
            return OpenAIResponsesAdapter(name=name, default_base_url=service.base_url)
        return CompatibleAdapter(name, service.base_url, max_tokens_field=service.max_tokens_field)
    if name == "openai":
        return OpenAIResponsesAdapter() if responses else OpenAIChatAdapter()
    # "compatible": no default URL, so a client must say where the server is.
    if responses:
        return OpenAIResponsesAdapter(name=name, default_base_url="")
    return CompatibleAdapter(name, "")
