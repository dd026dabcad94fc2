"""Provider wire formats, one module each. ``adapter_for`` picks one by provider name and path.

Adapters are stateless, so one instance per (provider, API) is built on first use and shared.
"""

from __future__ import annotations

import functools

from llmkit.providers.anthropic import AnthropicAdapter
from llmkit.providers.base import Adapter
from llmkit.providers.openai_chat import OpenAIChatAdapter
from llmkit.providers.openai_responses import OpenAIResponsesAdapter
from llmkit.providers.openrouter import OpenRouterAdapter

__all__ = ["KNOWN_PROVIDERS", "Adapter", "adapter_for"]

KNOWN_PROVIDERS: tuple[str, ...] = (
    "anthropic",
    "compatible",
    "openai",
    "openai-compatible",
    "openrouter",
)
"""``compatible``/``openai-compatible``: any server speaking OpenAI Chat Completions."""

_APIS = ("chat", "responses", "messages", "images", "video-jobs")
"""``images``: OpenAI's Images API; ``video-jobs``: the create → poll → download job API."""


def adapter_for(provider: str, *, path: str = "", api: str | None = None) -> Adapter:
    """The adapter for ``provider``; ``path`` (or ``api="responses"``) selects OpenAI's
    Responses API over Chat Completions. Raises ValueError for an unknown provider or api."""
    if not isinstance(provider, str):
        raise TypeError(f"provider must be a string, not {type(provider).__name__}")
    name = provider.strip().lower()
    if name not in KNOWN_PROVIDERS:
        raise ValueError(
            f"unknown provider {provider!r}; known providers: {', '.join(KNOWN_PROVIDERS)}"
        )
    if api is not None and api not in _APIS:
        raise ValueError(f"unknown api {api!r}; known: {', '.join(_APIS)}")
    if api is None:
        api = "responses" if path.rstrip("/").endswith("/responses") else "chat"
    if api in ("images", "video-jobs"):
        return _media(name, api)
    return _build(name, api == "responses")


@functools.cache
def _media(name: str, api: str) -> Adapter:
    from llmkit.providers.openai_images import OpenAIImagesAdapter  # noqa: PLC0415
    from llmkit.providers.video_jobs import VideoJobsAdapter  # noqa: PLC0415

    return OpenAIImagesAdapter(name) if api == "images" else VideoJobsAdapter(name)


@functools.cache
def _build(name: str, responses: bool) -> Adapter:
    if name == "anthropic":
        return AnthropicAdapter()
    if name == "openrouter":
        return OpenRouterAdapter(api="responses") if responses else OpenRouterAdapter()
    if responses:
        return OpenAIResponsesAdapter() if name == "openai" else OpenAIResponsesAdapter(name=name)
    return OpenAIChatAdapter() if name == "openai" else OpenAIChatAdapter(name=name)
