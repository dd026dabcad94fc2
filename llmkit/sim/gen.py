"""Deterministic completions: the same seed and request give the same words and usage.

Text is drawn from a small vocabulary, one word per token, so output usage is exact and a
stream's chunks reassemble into the non-streamed text. Input tokens are ``len(prompt) / 4``,
roughly what real tokenizers give for English.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Call", "Completion", "ToolSpec", "complete", "count_tokens", "text_of"]

VOCAB: tuple[str, ...] = (
    "the",
    "a",
    "model",
    "answer",
    "is",
    "simple",
    "and",
    "clear",
    "request",
    "token",
    "stream",
    "latency",
    "budget",
    "retry",
    "cache",
    "service",
    "response",
    "signal",
    "value",
    "result",
    "careful",
    "quick",
    "steady",
    "small",
    "large",
    "river",
    "stone",
    "light",
    "orange",
    "garden",
    "window",
    "paper",
    "north",
    "quiet",
    "bright",
    "number",
    "system",
    "layer",
    "forest",
    "of",
    "to",
    "in",
    "with",
    "for",
    "on",
    "that",
    "this",
    "it",
    "we",
    "you",
    "can",
    "will",
    "should",
    "might",
    "every",
    "some",
    "more",
    "less",
    "first",
    "last",
    "next",
    "each",
    "time",
    "data",
)
_TOOL_WORDS = ("tool", "function", "call ", "use the", "look up", "lookup")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """A parsed request, provider-neutral."""

    provider: str
    api: str
    """``chat``, ``responses`` or ``messages``."""
    model: str
    stream: bool
    prompt: str
    max_tokens: int | None = None
    tools: tuple[ToolSpec, ...] = ()
    last_is_tool_result: bool = False
    include_usage: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)
    reasoning: str | None = None
    """Reasoning effort (``minimal``, ``low``, ``medium``, ``high``) for a reasoning model or
    a request that asks to think; None for a plain model. Its tokens are billed as output."""
    reasoning_budget: int | None = None
    """Upper bound on reasoning tokens (Anthropic ``budget_tokens``, OpenRouter ``max_tokens``)."""
    show_reasoning: bool = False
    """Whether the wire returns the reasoning text (Anthropic, OpenRouter) or only counts it."""
    cache_prefix: int | None = None
    """Characters of ``prompt`` the request marks cacheable (Anthropic ``cache_control``);
    None means the provider caches any repeated prefix on its own (OpenAI, OpenRouter)."""


@dataclass(frozen=True, slots=True)
class Completion:
    pieces: tuple[str, ...]
    """Text deltas, one per output token; ``"".join(pieces)`` is the text."""
    finish: str
    """``stop``, ``length`` or ``tool_calls`` (each wire renames it)."""
    input_tokens: int
    output_tokens: int
    tool_name: str | None = None
    tool_args: str = ""
    """JSON arguments of the tool call, if any."""
    reasoning_tokens: int = 0
    """Hidden or shown thinking, billed on top of ``output_tokens`` (the visible answer)."""
    reasoning_pieces: tuple[str, ...] = ()
    """The thinking text, one piece per reasoning token, when the wire shows it."""

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_pieces)

    @property
    def billed_output(self) -> int:
        """Output tokens as usage reports them: the answer plus the reasoning."""
        return self.output_tokens + self.reasoning_tokens


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def text_of(content: Any) -> str:
    """Text of a message content: a string, or a list of parts with ``text`` fields."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        out = []
        for part in content:
            if isinstance(part, Mapping):
                t = part.get("text")
                if isinstance(t, str):
                    out.append(t)
                elif "content" in part:  # tool results nest content
                    out.append(text_of(part["content"]))
                elif "output" in part and isinstance(part["output"], str):
                    out.append(part["output"])
            elif isinstance(part, str):
                out.append(part)
        return "\n".join(out)
    return ""


def _args_for(schema: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    props = schema.get("properties")
    out: dict[str, Any] = {}
    if not isinstance(props, Mapping):
        return out
    for name, spec in props.items():
        kind = spec.get("type") if isinstance(spec, Mapping) else None
        enum = spec.get("enum") if isinstance(spec, Mapping) else None
        if isinstance(enum, list) and enum:
            out[name] = enum[rng.randrange(len(enum))]
        elif kind == "integer":
            out[name] = rng.randint(1, 1000)
        elif kind == "number":
            out[name] = round(rng.uniform(0, 100), 2)
        elif kind == "boolean":
            out[name] = rng.random() < 0.5
        elif kind == "array":
            out[name] = [VOCAB[rng.randrange(len(VOCAB))]]
        elif kind == "object":
            out[name] = {}
        else:
            out[name] = VOCAB[rng.randrange(len(VOCAB))]
    return out


def requested_schema(raw: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema a request asks its answer to follow (``{}`` for plain JSON mode)."""
    fmt: Any = None
    rf = raw.get("response_format")
    if isinstance(rf, Mapping):
        fmt = rf.get("json_schema") if rf.get("type") == "json_schema" else rf
        if rf.get("type") == "json_object":
            return {}
    text = raw.get("text")
    if fmt is None and isinstance(text, Mapping) and isinstance(text.get("format"), Mapping):
        fmt = text["format"]
    config = raw.get("output_config")
    if fmt is None and isinstance(config, Mapping) and isinstance(config.get("format"), Mapping):
        fmt = config["format"]
    if not isinstance(fmt, Mapping):
        return None
    schema = fmt.get("schema")
    return schema if isinstance(schema, Mapping) else None


def _structured(schema: Mapping[str, Any], rng: random.Random, fail_rate: float) -> str:
    obj = _args_for(schema, rng)
    if fail_rate <= 0 or rng.random() >= fail_rate:
        return json.dumps(obj, separators=(",", ":"))
    required = [k for k in schema.get("required") or () if k in obj]
    if required and rng.random() < 0.5:
        del obj[required[rng.randrange(len(required))]]
        return json.dumps(obj, separators=(",", ":"))
    text = json.dumps(obj, separators=(",", ":"))
    return text[: max(1, len(text) // 2)]  # cut short


def _forced_tool(call: Call) -> ToolSpec | bool | None:
    """What ``tool_choice`` asks for: a tool, True (any tool), False (none) or None (auto).

    OpenAI chat/OpenRouter: ``"required"``, ``"none"``, ``{"type": "function", "function":
    {"name": ...}}``; Responses: ``{"type": "function", "name": ...}``; Anthropic:
    ``{"type": "any" | "tool" | "none" | "auto", "name": ...}``.
    """
    choice = call.raw.get("tool_choice")
    if choice in ("required", "any"):
        return True
    if choice == "none":
        return False
    if not isinstance(choice, Mapping):
        return None
    kind = choice.get("type")
    if kind == "any":
        return True
    if kind == "none":
        return False
    fn = choice.get("function")
    name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
    if kind in ("function", "tool") and isinstance(name, str):
        return next((t for t in call.tools if t.name == name), None)
    return None


def _wanted_tool(call: Call, last_user: str) -> ToolSpec | None:
    if not call.tools:
        return None
    forced = _forced_tool(call)
    if forced is False:
        return None
    if isinstance(forced, ToolSpec):
        return forced
    if forced is True:  # any tool: the one the prompt names, else the first
        low = last_user.lower()
        return next((t for t in call.tools if t.name.lower() in low), call.tools[0])
    if call.last_is_tool_result:
        return None
    low = last_user.lower()
    for tool in call.tools:
        if tool.name.lower() in low:
            return tool
    if any(w in low for w in _TOOL_WORDS):
        return call.tools[0]
    return None


_EFFORT_MEDIAN = {"minimal": 8, "low": 32, "medium": 96, "high": 256}
"""Median reasoning tokens per effort (real: o3-mini high ~64 on a one-liner, gpt-5-mini
medium ~700 on an essay); a lognormal spread around it."""


def _reasoning(call: Call, rng: random.Random) -> tuple[int, tuple[str, ...]]:
    """How many tokens the model thinks, and (if shown) what it thinks, capped by the
    thinking budget and leaving at least one token of ``max_tokens`` for the answer."""
    if call.reasoning is None or call.reasoning == "none":
        return 0, ()
    median = _EFFORT_MEDIAN.get(call.reasoning, _EFFORT_MEDIAN["medium"])
    r = max(1, round(rng.lognormvariate(math.log(median), 0.6)))
    if call.reasoning_budget is not None:
        r = min(r, call.reasoning_budget)
    if call.max_tokens is not None:
        r = min(r, max(0, call.max_tokens - 1))
    if not call.show_reasoning or r == 0:
        return r, ()
    words = [VOCAB[i] for i in rng.choices(range(len(VOCAB)), k=r)]
    return r, tuple([words[0].capitalize()] + [" " + w for w in words[1:]])


def complete(
    call: Call,
    rng: random.Random,
    *,
    median_tokens: int,
    last_user: str,
    input_tokens: int,
    fail_rate: float = 0.0,
) -> Completion:
    """Draw the answer. ``rng`` should be seeded from the scenario seed and the request.

    A request for structured output (a JSON schema in ``response_format``, ``text.format`` or
    ``output_config.format``) gets a JSON object built from the schema; with probability
    ``fail_rate`` (the scenario's per-model quality knob) it is spoiled -- a required field
    left out, or the JSON cut short -- as a weaker model's answer sometimes is.
    """
    r, thought = _reasoning(call, random.Random(rng.random())) if call.reasoning else (0, ())
    tool = _wanted_tool(call, last_user)
    if tool is not None:
        args = json.dumps(_args_for(tool.parameters, rng), separators=(",", ":"))
        n = count_tokens(args) + 5
        return Completion((), "tool_calls", input_tokens, n, tool.name, args, r, thought)
    schema = requested_schema(call.raw)
    if schema is not None:
        text = _structured(schema, rng, fail_rate)
        chunks = tuple(text[i : i + 4] for i in range(0, len(text), 4))
        return Completion(chunks, "stop", input_tokens, len(chunks), reasoning_tokens=r,
                          reasoning_pieces=thought)  # fmt: skip
    n = max(1, round(rng.lognormvariate(math.log(median_tokens), 0.5)))
    finish = "stop"
    room = None if call.max_tokens is None else call.max_tokens - r
    if room is not None and n > room:
        n, finish = room, "length"
    words = [VOCAB[i] for i in rng.choices(range(len(VOCAB)), k=n)]
    pieces = [words[0].capitalize()] + [" " + w for w in words[1:]]
    if finish == "stop":
        pieces[-1] += "."
    return Completion(
        tuple(pieces), finish, input_tokens, n, reasoning_tokens=r, reasoning_pieces=thought
    )
