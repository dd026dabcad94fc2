"""The simulator's non-chat endpoints: model lists and exact input-token counts.

- ``GET /v1/models``: OpenAI's list (``{"object": "list", "data": [{"id", "object": "model",
  "created", "owned_by"}]}``), or Anthropic's (``{"data": [{"type": "model", "id",
  "display_name", "created_at"}], "has_more", "first_id", "last_id"}``) when the request
  carries ``anthropic-version`` (both SDKs call the same path);
- ``POST /v1/messages/count_tokens`` (Anthropic): ``{"input_tokens": N}``; an unknown model is
  a 404 ``not_found_error`` (``model: <name>``), as recorded from the real API;
- ``POST /v1/responses/input_tokens`` (OpenAI): ``{"object": "response.input_tokens",
  "input_tokens": N}``;
- ``POST /v1beta/models/{model}:countTokens`` (Gemini): the body as ``generateContentRequest``
  or bare ``contents``; ``{"totalTokens": N, "promptTokensDetails": [...]}``; a model not
  named ``gemini-*`` is a 404 ``NOT_FOUND``, worded as recorded from the real API.

N is what the simulator bills the same request as input tokens, so a count taken before a
call matches the usage it reports.
"""

from __future__ import annotations

import time
from typing import Any

from llmkit.sim.gen import count_tokens
from llmkit.sim.wire import anthropic, gemini, openai
from llmkit.sim.wire.common import Ctx, Invalid, Reply, dumps

__all__ = ["ANTHROPIC_MODELS", "OPENAI_MODELS", "count_tokens_reply", "gemini_count_reply",
           "input_tokens_reply", "models_reply"]  # fmt: skip

OPENAI_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o4-mini")
ANTHROPIC_MODELS = (
    ("claude-opus-4-1", "Claude Opus 4.1"),
    ("claude-sonnet-4-5", "Claude Sonnet 4.5"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
)
_CREATED = 1_735_689_600  # 2025-01-01: a fixed date, so recordings stay byte-identical


def models_reply(ctx: Ctx, *, anthropic_shape: bool) -> Reply:
    if anthropic_shape:
        data = [
            {
                "type": "model",
                "id": mid,
                "display_name": name,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_CREATED)),
            }
            for mid, name in ANTHROPIC_MODELS
        ]
        body: dict[str, Any] = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"],
            "last_id": data[-1]["id"],
        }
        return Reply(200, dumps(body).encode(), tuple(anthropic.headers(ctx)))
    listed = [
        {"id": m, "object": "model", "created": _CREATED, "owned_by": "system"}
        for m in OPENAI_MODELS
    ]
    return Reply(
        200, dumps({"object": "list", "data": listed}).encode(), tuple(openai.headers(ctx))
    )


def count_tokens_reply(ctx: Ctx, data: Any) -> Reply:
    """Anthropic's count: the body of a Messages request without ``max_tokens``."""
    if isinstance(data, dict) and "max_tokens" not in data:
        data = {**data, "max_tokens": 1}
    try:
        call, _ = anthropic.parse(data)
    except Invalid as exc:
        return anthropic.invalid(ctx, exc)
    if not call.model.startswith("claude"):
        return Reply(
            404,
            anthropic._err(ctx, "not_found_error", f"model: {call.model}"),
            tuple(anthropic.headers(ctx)),
        )
    body = dumps({"input_tokens": count_tokens(call.prompt)}).encode()
    return Reply(200, body, tuple(anthropic.headers(ctx)))


def input_tokens_reply(ctx: Ctx, data: Any) -> Reply:
    """OpenAI's count: the body of a Responses request."""
    try:
        call, _ = openai.parse_responses(data)
    except Invalid as exc:
        return openai.invalid(ctx, exc)
    body = {"object": "response.input_tokens", "input_tokens": count_tokens(call.prompt)}
    return Reply(200, dumps(body).encode(), tuple(openai.headers(ctx)))


def gemini_count_reply(ctx: Ctx, model: str, data: Any) -> Reply:
    """Gemini's count: a ``generateContentRequest`` (everything the call sends) or bare
    ``contents`` (what the real API also takes, as in its recorded 404)."""
    if not model.removeprefix("models/").startswith("gemini"):
        return gemini.model_not_found(ctx, model, "countTokens")
    inner = data.get("generateContentRequest") if isinstance(data, dict) else None
    if isinstance(data, dict) and not isinstance(inner, dict):
        inner = {"contents": data.get("contents")}
    try:
        call, _ = gemini.parse(inner if inner is not None else data, model, False)
    except Invalid as exc:
        return gemini.invalid(ctx, exc)
    n = count_tokens(call.prompt)
    body = {"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}
    return Reply(200, dumps(body).encode(), tuple(gemini.headers(ctx)))
