"""Image content parts in each provider's wire shape (one place, so the mappings compare).

A user message given as a list of parts keeps them in order in ``Message.parts`` (text as
``str``, images as :class:`~llmkit.types.ImagePart`). Gemini's mapping (``inlineData`` /
``fileData``) lives in its adapter; the OpenAI and Anthropic ones are here.
"""

from __future__ import annotations

from typing import Any

from llmkit.types import ImagePart, Message

__all__ = ["anthropic_blocks", "chat_content", "responses_content"]


def chat_content(m: Message) -> str | list[dict[str, Any]]:
    """Chat Completions: ``text`` and ``image_url`` parts (base64 as a ``data:`` URL)."""
    if not m.parts:
        return m.content
    out: list[dict[str, Any]] = []
    for p in m.parts:
        if isinstance(p, str):
            out.append({"type": "text", "text": p})
        else:
            image: dict[str, Any] = {"url": p.data_url}
            if p.detail:
                image["detail"] = p.detail
            out.append({"type": "image_url", "image_url": image})
    return out


def responses_content(m: Message) -> str | list[dict[str, Any]]:
    """Responses API: ``input_text`` and ``input_image`` parts."""
    if not m.parts:
        return m.content
    out: list[dict[str, Any]] = []
    for p in m.parts:
        if isinstance(p, str):
            out.append({"type": "input_text", "text": p})
        else:
            out.append(
                {"type": "input_image", "image_url": p.data_url, "detail": p.detail or "auto"}
            )
    return out


def _anthropic_image(p: ImagePart) -> dict[str, Any]:
    if p.data is not None:
        source = {"type": "base64", "media_type": p.media_type, "data": p.data}
    else:
        source = {"type": "url", "url": p.url}
    return {"type": "image", "source": source}


def anthropic_blocks(m: Message) -> list[dict[str, Any]]:
    """Anthropic Messages: ``text`` and ``image`` blocks (``base64`` or ``url`` sources)."""
    if not m.parts:
        return [{"type": "text", "text": m.content}]
    return [
        {"type": "text", "text": p} if isinstance(p, str) else _anthropic_image(p) for p in m.parts
    ]
