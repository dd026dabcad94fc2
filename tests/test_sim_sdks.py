"""The official openai and anthropic SDKs, unchanged, against the served simulator.

If the simulator's wire format drifts from the real APIs, the SDKs' own parsers notice here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from llmkit.sim import SimServer

pytestmark = pytest.mark.sdk

SCALE = 1000.0  # simulated seconds per real second: a 1 s answer takes 1 ms
KEY = "sk-test-not-a-real-key"
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def healthy() -> Iterator[SimServer]:
    server = SimServer("healthy", time_scale=SCALE)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oai(healthy: SimServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=healthy.openai_base_url, api_key=KEY, max_retries=0) as c:
        yield c


@pytest.fixture(scope="module")
def claude(healthy: SimServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=healthy.anthropic_base_url, api_key=KEY, max_retries=0) as c:
        yield c


MSGS: Any = [{"role": "user", "content": "Tell me about retries."}]


def test_openai_chat_plain(oai: openai.OpenAI) -> None:
    resp = oai.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert resp.object == "chat.completion"
    assert resp.choices[0].finish_reason == "stop"
    text = resp.choices[0].message.content
    assert text
    assert resp.usage is not None
    assert resp.usage.completion_tokens == len(text.split())
    assert resp.id.startswith("chatcmpl-")


def test_openai_chat_stream(oai: openai.OpenAI) -> None:
    plain = oai.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    stream = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=MSGS,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(parts) == plain.choices[0].message.content
    assert usage is not None
    assert usage.completion_tokens == len(parts)


def test_openai_chat_tool_call(oai: openai.OpenAI) -> None:
    resp = oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Use get_weather for Oslo"}],
        tools=TOOLS,
    )
    calls = resp.choices[0].message.tool_calls
    assert resp.choices[0].finish_reason == "tool_calls"
    assert calls is not None
    call = calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"


def test_openai_responses_plain_and_stream(oai: openai.OpenAI) -> None:
    resp = oai.responses.create(model="gpt-4o-mini", input="Tell me about retries.")
    assert resp.status == "completed"
    assert resp.output_text
    assert resp.usage is not None
    assert resp.usage.output_tokens == len(resp.output_text.split())
    deltas, final = [], None
    with oai.responses.stream(model="gpt-4o-mini", input="Tell me about retries.") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == resp.output_text
    assert final.output_text == resp.output_text


def test_openai_sdk_against_openrouter_path(healthy: SimServer) -> None:
    with openai.OpenAI(base_url=healthy.openrouter_base_url, api_key=KEY, max_retries=0) as c:
        resp = c.chat.completions.create(model="openai/gpt-4o-mini", messages=MSGS)
        assert resp.choices[0].message.content
        raw = c.chat.completions.with_raw_response.create(model="openai/gpt-4o-mini", messages=MSGS)
        assert raw.headers["x-generation-id"].startswith("gen-")
        chunks = list(
            c.chat.completions.create(model="openai/gpt-4o-mini", messages=MSGS, stream=True)
        )
        assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == (
            resp.choices[0].message.content
        )


def test_anthropic_messages_plain(claude: anthropic.Anthropic) -> None:
    msg = claude.messages.create(model="claude-haiku-4-5", max_tokens=512, messages=MSGS)
    assert msg.stop_reason == "end_turn"
    block = msg.content[0]
    assert block.type == "text"
    assert msg.usage.output_tokens == len(block.text.split())
    assert msg.id.startswith("msg_01")


def test_anthropic_messages_stream(claude: anthropic.Anthropic) -> None:
    plain = claude.messages.create(model="claude-haiku-4-5", max_tokens=512, messages=MSGS)
    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=512, messages=MSGS) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    block = plain.content[0]
    assert block.type == "text"
    assert text == block.text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_anthropic_tool_use(claude: anthropic.Anthropic) -> None:
    msg = claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=512,
        messages=[{"role": "user", "content": "Use get_weather for Oslo"}],
        tools=[
            {
                "name": "get_weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
    )
    assert msg.stop_reason == "tool_use"
    block = msg.content[0]
    assert block.type == "tool_use"
    assert isinstance(block.input, dict)
    assert isinstance(block.input["city"], str)


def test_rate_limited_is_the_sdks_rate_limit_error() -> None:
    with SimServer("rate-limited", time_scale=SCALE) as url:
        with openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as c:
            with pytest.raises(openai.RateLimitError) as oe:
                c.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
            assert oe.value.status_code == 429
            assert oe.value.code == "rate_limit_exceeded"
            assert oe.value.response.headers["retry-after"] == "2"
            with pytest.raises(openai.RateLimitError):
                c.responses.create(model="gpt-4o-mini", input="hi")
        with anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0) as a:
            with pytest.raises(anthropic.RateLimitError) as ae:
                a.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=MSGS)
            assert ae.value.status_code == 429
            assert ae.value.request_id is not None
            assert ae.value.request_id.startswith("req_")


def test_other_failures_map_to_the_sdks_own_errors() -> None:
    with (
        SimServer("overloaded-529", time_scale=SCALE) as url,
        anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0) as a,
        pytest.raises(anthropic.APIStatusError) as ae,
    ):
        a.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=MSGS)
    assert ae.value.status_code == 529
    with (
        SimServer("auth", time_scale=SCALE) as url,
        openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as c,
        pytest.raises(openai.AuthenticationError),
    ):
        c.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    with (
        SimServer("insufficient-quota", time_scale=SCALE) as url,
        openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as c,
        pytest.raises(openai.RateLimitError) as qe,
    ):
        c.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert qe.value.code == "insufficient_quota"


def test_midstream_error_surfaces_in_the_sdk_stream() -> None:
    with SimServer("midstream-error", time_scale=SCALE) as url:
        with openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0) as c:
            stream = c.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True)
            with pytest.raises(openai.APIError):
                list(stream)
        with anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0) as a:
            with (
                pytest.raises(anthropic.APIStatusError) as ae,
                a.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=MSGS) as s,
            ):
                list(s.text_stream)
            assert "overloaded" in str(ae.value).lower()


def test_timeout_surfaces_as_the_sdks_timeout_error() -> None:
    # a 600 s hang at 1000x is 0.6 s of real silence; the client gives up after 0.2 s
    with (
        SimServer("timeout-then-ok", time_scale=SCALE) as url,
        openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=0.2) as c,
    ):
        with pytest.raises(openai.APITimeoutError):
            c.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
        assert c.chat.completions.create(model="gpt-4o-mini", messages=MSGS).choices
