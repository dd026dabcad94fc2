"""Which provider's wire a request speaks, and whether it may be answered at all.

One simulator answers every provider's paths, so the first thing it does with a request is
read its path and headers: which wire renders the answer (OpenAI Chat Completions or
Responses, Anthropic, OpenRouter, Gemini, Azure OpenAI), whether it carries the credential
that provider expects, and whether the client accepts a gzip body. Nothing here draws a
random number or keeps state, so routing can never shift the simulator's output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llmkit.sim.gen import Call
from llmkit.sim.wire import anthropic, gemini, openai, openrouter
from llmkit.sim.wire.common import Ctx

__all__ = [
    "ANTHROPIC",
    "AZURE",
    "GEMINI",
    "META_PATHS",
    "OPENAI_CHAT",
    "OPENAI_RESPONSES",
    "OPENROUTER",
    "ROUTES",
    "Wire",
    "accepts_gzip",
    "authorized",
    "header",
    "meta_wire",
    "not_found_wire",
    "resolve",
]


class Wire:
    """One provider's renderers, looked up once per route."""

    __slots__ = (
        "error",
        "headers",
        "invalid",
        "json",
        "missing_auth",
        "new_ids",
        "not_found",
        "parse",
        "provider",
        "stream",
        "stream_error",
    )

    def __init__(
        self,
        provider: str,
        mod: Any,
        parse: Callable[[Any], tuple[Call, str]],
        json_: Callable[[Ctx], bytes],
        stream: Callable[[Ctx], list[tuple[int, bytes]]],
    ) -> None:
        self.provider = provider
        self.parse = parse
        self.json = json_
        self.stream = stream
        self.headers = mod.headers
        self.error = mod.error
        self.invalid = mod.invalid
        self.missing_auth = mod.missing_auth
        self.not_found = mod.not_found
        self.new_ids = mod.new_ids
        self.stream_error = mod.stream_error


OPENAI_CHAT = Wire("openai", openai, openai.parse_chat, openai.chat_json, openai.chat_stream)
OPENAI_RESPONSES = Wire(
    "openai", openai, openai.parse_responses, openai.responses_json, openai.responses_stream
)
ANTHROPIC = Wire(
    "anthropic", anthropic, anthropic.parse, anthropic.message_json, anthropic.message_stream
)
OPENROUTER = Wire(
    "openrouter", openrouter, openrouter.parse, openrouter.chat_json, openrouter.chat_stream
)

GEMINI = Wire(
    "gemini",
    gemini,
    lambda data: gemini.parse(data, "", False),  # the real parse needs the path (see core)
    gemini.json_body,
    gemini.stream,
)

AZURE = Wire("azure", openai, openai.parse_chat, openai.chat_json, openai.chat_stream)
"""Azure OpenAI's deployment (``/openai/deployments/{d}/chat/completions``) and v1
(``/openai/v1/chat/completions``) routes: OpenAI's wire behind Azure's ``api-key`` header."""

ROUTES: dict[str, Wire] = {
    "/v1/chat/completions": OPENAI_CHAT,
    "/v1/responses": OPENAI_RESPONSES,
    "/v1/messages": ANTHROPIC,
    "/api/v1/chat/completions": OPENROUTER,
}
"""Path -> wire. One simulator answers every provider's paths (and Gemini's
``/v1beta/models/{model}:generateContent`` family, matched by :func:`gemini.route`)."""

META_PATHS = frozenset({"/v1/models", "/v1/messages/count_tokens", "/v1/responses/input_tokens"})
"""Served by ``llmkit.sim.wire.meta``: model lists and exact token counts (with Gemini's
``/v1beta/models/{model}:countTokens``, matched by :func:`gemini.count_route`)."""


def resolve(path: str) -> tuple[Wire | None, tuple[str, bool] | None]:
    """The completion wire for ``path`` (None: not a completion path), and for Gemini the
    (model, stream) its path names."""
    wire = ROUTES.get(path)
    google = gemini.route(path) if wire is None else None
    if google is not None:
        wire = GEMINI
    elif wire is None and path.startswith("/openai/") and path.endswith("/chat/completions"):
        wire = AZURE
    return wire, google


def not_found_wire(path: str) -> Wire:
    """Whose 404 an unknown path gets: OpenRouter's under ``/api/``, else OpenAI's."""
    return OPENROUTER if path.startswith("/api/") else OPENAI_CHAT


def meta_wire(path: str, headers: Mapping[str, str]) -> Wire:
    """Whose headers and errors a model list or token count answers with."""
    if gemini.count_route(path) is not None:
        return GEMINI
    if path == "/v1/messages/count_tokens":
        return ANTHROPIC
    if path == "/v1/models" and header(headers, "anthropic-version"):
        return ANTHROPIC
    return OPENAI_CHAT


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A request header by its lower-case name, whatever case the client sent it in."""
    v = headers.get(name)
    if v is not None:
        return v
    for k, val in headers.items():
        if k.lower() == name:
            return val
    return None


def authorized(wire: Wire, headers: Mapping[str, str], query: str = "") -> bool:
    """Whether the request carries a credential where ``wire``'s provider looks for one (its
    value is never checked: any non-empty key will do)."""
    if wire is GEMINI:
        return gemini.authorized(header(headers, "x-goog-api-key"), query)
    auth = header(headers, "authorization") or ""
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return True
    if wire.provider == "azure":
        return bool((header(headers, "api-key") or "").strip())
    return wire.provider == "anthropic" and bool((header(headers, "x-api-key") or "").strip())


def accepts_gzip(headers: Mapping[str, str]) -> bool:
    """Whether ``accept-encoding`` allows gzip (not refused with ``q=0``)."""
    for part in (header(headers, "accept-encoding") or "").lower().split(","):
        name, _, q = part.strip().partition(";")
        if name.strip() == "gzip" and q.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False
