"""A pre-flight input-token estimate for a request as it goes on the wire.

``estimate_input_tokens(provider, body)`` reads the JSON body an adapter builds and returns a
count meant to be an upper bound in practice: a budget or quota that reserves it is rarely
short. It needs no tokenizer files (nothing downloads at run time) and costs microseconds.

How it counts, and why:

- Text is cut the way byte-pair tokenizers pre-split it (a word with its leading space, a
  run of digits in threes, each punctuation mark); a common word is one token, a long or rare
  word a few more. Counting pieces, not bytes, keeps repeated prose honest (``"You are an
  expert "`` is 4 tokens at 5 bytes each) and JSON schemas dense (``"}},`` is 3).
- Each provider's known overheads are modelled, because the text alone misses them:
  per-message framing; tool definitions (OpenAI renders them as a typed namespace, Anthropic
  adds a tool-use system prompt of several hundred tokens); structured-output schemas; images
  by their size (OpenAI tiles or patches, Anthropic ``w*h/750``, both from the providers'
  docs); extended thinking. OpenRouter bodies are counted with the overheads of the provider
  named by the model prefix (``anthropic/...``).
- Where it is unsure it rounds up: the figure is a reservation, and a reservation that is too
  small is the expensive mistake.

Measured against every real recording in ``../shared/real-cassettes`` (and ``-set2``) of a
supported provider whose request body is intact and whose response reports input tokens:
``benchmarks/token_estimate.py`` prints the error distribution, and a test holds the floor
(at most 1 in 20 underestimated, never by more than 10%).

What it cannot see: a Gemini body that names a ``cachedContent`` (a prompt stored on the
server with ``cachedContents.create``) is billed for those cached tokens too, and the body holds
only the name. For such a request the estimate is a lower bound, not an upper one.

Exact counts, where a provider offers them (Anthropic ``/v1/messages/count_tokens``, OpenAI
``/v1/responses/input_tokens``, Gemini ``:countTokens``), come from ``llmkit.providers``
``count_tokens_request`` and ``parse_token_count`` (``Client.count_tokens``); a budget can use
them instead of this estimate. Gemini's counter sees the cached content too: the server that
counts is the one holding it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmkit.types import image_size

if TYPE_CHECKING:
    from llmkit.providers.base import Adapter
    from llmkit.types import ChatRequest

__all__ = ["estimate_input_tokens", "estimate_request_tokens", "image_tokens", "text_tokens"]

PROVIDERS = ("openai", "anthropic", "openrouter", "gemini", "compatible", "openai-compatible")

# A word with an optional leading space, up to three digits, or one other visible character.
_PIECES = re.compile(r" ?[A-Za-z]+| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]{1,2}|\s+")
_LONG = 8
"""Letters a word may have and still be one token; longer ones cost one more per 4 letters."""


def text_tokens(text: str) -> int:
    """Tokens in ``text``, rounded up (see the module docstring)."""
    if not text:
        return 0
    n = 0
    for m in _PIECES.finditer(text):
        size = len(m.group().lstrip(" "))
        n += 1 if size <= _LONG else 1 + (size - _LONG + 3) // 4
    # Characters outside ASCII (other scripts, emoji) take 1-3 tokens each, not one per run.
    extra = len(text.encode("utf-8")) - len(text)
    return n + extra


def _json_tokens(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return text_tokens(value)
    return text_tokens(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


# --------------------------------------------------------------------------- images


def image_tokens(
    provider: str, width: int | None, height: int | None, *, detail: str = "auto"
) -> int:
    """Input tokens of one image, from the providers' documented formulas (unknown size: the
    largest an image can cost)."""
    if provider == "anthropic":
        if not width or not height:
            return 1600
        scale = min(1.0, 1568 / max(width, height))
        w, h = width * scale, height * scale
        return min(1600, math.ceil(w * h / 750)) + 1
    if provider == "gemini":
        # 258 tokens an image up to 384 px; larger ones in 768-px tiles of 258 each. Unknown
        # size: the highest media resolution's 1120.
        if not width or not height:
            return 1120
        if max(width, height) <= 384:
            return 258
        return 258 * math.ceil(width / 768) * math.ceil(height / 768)
    if detail == "low":
        return 85
    if not width or not height:
        return 1105 + 85
    # Tile models: fit in 2048 square, short side to 768, 170 per 512-px tile plus 85.
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    tile_cost = 85 + 170 * tiles
    # Patch models (gpt-4.1-mini and others): 32-px patches capped at 1536, times up to 2.46.
    patches = min(1536, math.ceil(width / 32) * math.ceil(height / 32))
    return max(tile_cost, math.ceil(patches * 2.46))


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    return image_size(data) or (None, None)


def _data_url_size(url: str) -> tuple[int | None, int | None]:
    if not url.startswith("data:") or "," not in url:
        return None, None
    head = url.split(",", 1)[1][:4096]
    head = head[: len(head) - len(head) % 4]
    try:
        return _image_size(base64.b64decode(head))
    except (binascii.Error, ValueError):
        return None, None


def _b64_size(data: str) -> tuple[int | None, int | None]:
    head = data[:4096]
    head = head[: len(head) - len(head) % 4]
    try:
        return _image_size(base64.b64decode(head))
    except (binascii.Error, ValueError):
        return None, None


# --------------------------------------------------------------------------- OpenAI


def _openai_part(part: Any) -> int:
    """One content part of a Chat or Responses message."""
    if isinstance(part, str):
        return text_tokens(part)
    if not isinstance(part, Mapping):
        return _json_tokens(part)
    kind = part.get("type")
    if kind in ("image_url", "input_image"):
        url = part.get("image_url")
        detail = str(part.get("detail") or "auto")
        if isinstance(url, Mapping):
            detail = str(url.get("detail") or detail)
            url = url.get("url")
        w, h = _data_url_size(url) if isinstance(url, str) else (None, None)
        return image_tokens("openai", w, h, detail=detail)
    if kind in ("input_audio", "file", "input_file"):
        return _json_tokens(part) * 4  # contents unknowable here: a generous allowance
    text = part.get("text")
    if isinstance(text, str):
        return text_tokens(text)
    return _json_tokens({k: v for k, v in part.items() if k != "type"})


def _openai_content(content: Any) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, Sequence):
        return sum(_openai_part(p) for p in content)
    return _json_tokens(content)


def _openai_message(message: Any) -> int:
    if not isinstance(message, Mapping):
        return _json_tokens(message) + 5
    n = 5 + _openai_content(message.get("content"))
    for key in ("name", "tool_call_id", "refusal"):
        if isinstance(message.get(key), str):
            n += text_tokens(message[key]) + 1
    for call in message.get("tool_calls") or ():
        n += 8 + _json_tokens(call)
    if message.get("type") in ("function_call", "function_call_output", "reasoning"):
        n += 8 + _json_tokens({k: v for k, v in message.items() if k != "type"})
    return n


_SCHEMA_WORDS = frozenset({"type", "additionalProperties", "strict", "required", "title"})


def _schema_tokens(schema: Any) -> int:
    """A JSON schema as OpenAI renders it to the model (TypeScript-like: names, types,
    descriptions and enums, not JSON punctuation)."""
    if isinstance(schema, str):
        return text_tokens(schema)
    if isinstance(schema, Sequence):
        return sum(_schema_tokens(x) + 1 for x in schema)
    if not isinstance(schema, Mapping):
        return 1
    n = 0
    for key, value in schema.items():
        if key == "properties" and isinstance(value, Mapping):
            n += sum(text_tokens(str(k)) + 3 + _schema_tokens(v) for k, v in value.items())
        elif key == "type":
            n += 2
        elif key in _SCHEMA_WORDS:
            continue
        elif key in ("description", "name"):
            n += text_tokens(str(value)) + 3
        else:
            n += _schema_tokens(value) + 2
    return n


def _openai_tools(tools: Any) -> int:
    """OpenAI renders function tools into a TypeScript-like namespace: ~12 tokens of frame,
    then each tool's name, description and parameter schema."""
    if not tools or not isinstance(tools, Sequence):
        return 0
    n = 12
    for tool in tools:
        spec = tool.get("function", tool) if isinstance(tool, Mapping) else tool
        n += 10 + _schema_tokens(spec)
    return n


def _openai_format(fmt: Any) -> int:
    """A structured-output schema is sent to the model as text too."""
    if not isinstance(fmt, Mapping) or fmt.get("type") in (None, "text"):
        return 0
    return 25 + _schema_tokens(fmt)


def _openai_chat(body: Mapping[str, Any]) -> int:
    n = 3  # every reply is primed with <|start|>assistant<|message|>
    for m in body.get("messages") or ():
        n += _openai_message(m)
    n += _openai_tools(body.get("tools"))
    if body.get("tools") and body.get("tool_choice") not in (None, "auto", "none"):
        n += 8
    n += _openai_format(body.get("response_format"))
    return n


def _openai_responses(body: Mapping[str, Any]) -> int:
    n = 6
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        n += 4 + text_tokens(instructions)
    items = body.get("input")
    if isinstance(items, str):
        n += 4 + text_tokens(items)
    elif isinstance(items, Sequence):
        n += sum(_openai_message(item) for item in items)
    n += _openai_tools(body.get("tools"))
    if body.get("tools") and body.get("tool_choice") not in (None, "auto", "none"):
        n += 8
    text = body.get("text")
    if isinstance(text, Mapping):
        n += _openai_format(text.get("format"))
    return n


# --------------------------------------------------------------------------- Anthropic

_TOOL_PROMPT = 560
"""Anthropic's tool-use system prompt on recent models: measured near 530 on Claude Haiku 4.5
and Opus 4.6 (rounded up)."""
_TOOL_PROMPT_OLDER = 360
"""The documented 346 (auto) / 313 (any, tool) tokens of Claude 3.x, Sonnet 4 and Opus 4."""
_OLDER = re.compile(r"claude-(3|sonnet-4-0|opus-4-0|sonnet-4-2025|opus-4-2025|opus-4-1)")
_FORMAT_PROMPT = 170
"""Structured outputs (``output_config.format``) add a system prompt, measured near 160."""
_THINKING = 40
"""Extended thinking adds a short system block (measured ~30)."""


def _anthropic_block(block: Any) -> int:
    if isinstance(block, str):
        return text_tokens(block)
    if not isinstance(block, Mapping):
        return _json_tokens(block)
    kind = block.get("type")
    if kind == "text":
        return text_tokens(str(block.get("text") or ""))
    if kind == "image":
        source = block.get("source")
        w = h = None
        if isinstance(source, Mapping) and isinstance(source.get("data"), str):
            w, h = _b64_size(source["data"])
        return image_tokens("anthropic", w, h)
    if kind == "document":
        return _json_tokens(block) * 2
    if kind in ("tool_use", "tool_result", "server_tool_use"):
        content = block.get("content")
        inner = (
            sum(_anthropic_block(b) for b in content)
            if isinstance(content, Sequence) and not isinstance(content, str)
            else _json_tokens(content)
        )
        return 10 + inner + _json_tokens(block.get("input")) + _json_tokens(block.get("name"))
    if kind in ("thinking", "redacted_thinking"):
        return 0  # previous turns' thinking is stripped from the context
    return _json_tokens(block)


def _anthropic_content(content: Any) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, Sequence):
        return sum(_anthropic_block(b) for b in content)
    return _json_tokens(content)


def _anthropic(body: Mapping[str, Any]) -> int:
    n = 8
    system = body.get("system")
    if system:
        n += 4 + _anthropic_content(system)
    for m in body.get("messages") or ():
        n += 4 + (_anthropic_content(m.get("content")) if isinstance(m, Mapping) else 0)
    tools = body.get("tools")
    if tools:
        older = _OLDER.search(str(body.get("model") or "")) is not None
        n += _TOOL_PROMPT_OLDER if older else _TOOL_PROMPT
        for tool in tools:
            n += 16 + _json_tokens(tool) + (_json_tokens(tool) if _strict(tool) else 0)
    fmt = body.get("output_config", {}).get("format") if isinstance(body, Mapping) else None
    if isinstance(body.get("output_config"), Mapping) and fmt:
        n += _FORMAT_PROMPT + _json_tokens(fmt)
    if isinstance(body.get("output_format"), Mapping):
        n += _FORMAT_PROMPT + _json_tokens(body["output_format"])
    if body.get("thinking"):
        n += _THINKING
    return n


def _strict(tool: Any) -> bool:
    """Strict tools are compiled into a grammar the prompt spells out: counted twice."""
    if not isinstance(tool, Mapping):
        return False
    schema = tool.get("input_schema")
    return bool(tool.get("strict")) or (isinstance(schema, Mapping) and bool(schema.get("strict")))


# --------------------------------------------------------------------------- Gemini


def _gemini_part(part: Any) -> int:
    if not isinstance(part, Mapping):
        return 0
    n = text_tokens(part["text"]) if isinstance(part.get("text"), str) else 0
    inline = part.get("inlineData")
    if isinstance(inline, Mapping):
        data = inline.get("data")
        w, h = _b64_size(data) if isinstance(data, str) else (None, None)
        n += image_tokens("gemini", w, h)
    if isinstance(part.get("fileData"), Mapping):
        n += image_tokens("gemini", None, None)
    for key in ("functionCall", "functionResponse"):
        if isinstance(part.get(key), Mapping):
            n += 4 + _json_tokens(part[key])
    return n


def _gemini_content(content: Any) -> int:
    if not isinstance(content, Mapping):
        return 0
    return 4 + sum(_gemini_part(p) for p in content.get("parts") or ())


def _gemini(body: Mapping[str, Any]) -> int:
    """``contents`` of ``parts``, a ``systemInstruction``, ``functionDeclarations`` and a
    ``generationConfig`` response schema (Gemini's generateContent body).

    A ``cachedContent`` is only a name here: its tokens live on the server, so with one the
    figure is a lower bound. The exact counter (Gemini ``:countTokens``) sees them."""
    n = 4 + _gemini_content(body.get("systemInstruction"))
    n += sum(_gemini_content(c) for c in body.get("contents") or ())
    for tool in body.get("tools") or ():
        if isinstance(tool, Mapping):
            n += sum(8 + _json_tokens(d) for d in tool.get("functionDeclarations") or ())
    config = body.get("generationConfig")
    if isinstance(config, Mapping):
        for key in ("responseSchema", "responseJsonSchema"):
            if config.get(key) is not None:
                n += 8 + _schema_tokens(config[key])
    return n


# --------------------------------------------------------------------------- OpenRouter


def _openrouter(body: Mapping[str, Any]) -> int:
    """OpenAI's wire format, served by the provider the model names. An Anthropic model gets
    Anthropic's overheads (tool prompt, structured-output prompt) on top."""
    model = str(body.get("model") or "")
    if "input" in body and "messages" not in body:
        n = _openai_responses(body)
    else:
        n = _openai_chat(body)
    if model.startswith("anthropic/"):
        n += 8
        if body.get("tools"):
            n += _TOOL_PROMPT + sum(
                _json_tokens(t) for t in body["tools"] if isinstance(t, Mapping)
            )
        fmt = body.get("response_format")
        if isinstance(fmt, Mapping) and fmt.get("type") not in (None, "text"):
            n += _FORMAT_PROMPT + _json_tokens(fmt)
        if body.get("reasoning"):
            n += _THINKING
    elif not model.startswith("openai/"):
        n += 8  # other upstreams' chat templates frame each turn in more tokens
        if body.get("tools"):
            n += 2 * sum(_json_tokens(t) for t in body["tools"])  # and render tools as JSON
    return n


def estimate_input_tokens(provider: str, body: Mapping[str, Any]) -> int:
    """Input tokens the request ``body`` (the JSON an adapter builds) will be billed for, as
    an upper bound in practice. ``provider``: ``"openai"`` (Chat Completions or Responses, told
    apart by the body; also ``"compatible"``), ``"anthropic"``, ``"openrouter"`` or ``"gemini"``.

    A Gemini body naming a ``cachedContent`` is the exception: the cached prompt is on the
    server, not in the body, so the figure is then a lower bound; ``Client.count_tokens``
    (Gemini ``:countTokens``) counts it exactly, cached part included.

    Raises ``ValueError`` for an unknown provider and ``TypeError`` for a body that is not a
    mapping.
    """
    if not isinstance(body, Mapping):
        raise TypeError(f"body must be a mapping (the JSON body), not {type(body).__name__}")
    name = provider.strip().lower() if isinstance(provider, str) else provider
    if name not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    if name == "anthropic":
        return _anthropic(body)
    if name == "openrouter":
        return _openrouter(body)
    if name == "gemini":
        return _gemini(body)
    if "messages" not in body and ("input" in body or "instructions" in body):
        return _openai_responses(body)
    return _openai_chat(body)


def estimate_request_tokens(
    request: ChatRequest, provider: str, adapter: Adapter | None = None
) -> int:
    """:func:`estimate_input_tokens` of the body ``provider``'s adapter (or ``adapter``) builds
    for ``request``."""
    if adapter is None:
        from llmkit.providers import adapter_for  # noqa: PLC0415 - providers import slowly

        adapter = adapter_for(provider)
    built = adapter.build_request(request, base_url="http://estimate.invalid", api_key=None)
    body: Mapping[str, Any] = json.loads(built.content)
    name = adapter.name if adapter.name in ("anthropic", "openrouter", "gemini") else "openai"
    return estimate_input_tokens(name, body)
