"""The simulator speaks Gemini: llmkit's client against it in process and over real HTTP."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

import llmkit
from llmkit.clock import VirtualClock
from llmkit.errors import ErrorKind, LLMError
from llmkit.sim import SimServer, SimTransport

KEY = "AIza" + "s" * 35
MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]


def _client(scenario: str, **kw: object) -> llmkit.Client:
    clock = VirtualClock()
    return llmkit.Client(
        provider="gemini",
        api_key=KEY,
        transport=SimTransport(scenario, clock=clock, seed=3),
        clock=clock,
        seed=1,
        **kw,  # type: ignore[arg-type]
    )


def test_chat_stream_and_tool_call_in_process() -> None:
    with _client("healthy") as client:
        plain = client.chat(model="gemini-2.5-flash", messages=MSGS)
        with client.stream(model="gemini-2.5-flash", messages=MSGS) as stream:
            events = list(stream)
            streamed = stream.get_final_response()
        tool = client.chat(
            model="gemini-2.0-flash",
            messages=[{"role": "user", "content": "use get_weather for Paris"}],
            tools=[{"name": "get_weather", "parameters": {"type": "object"}}],
        )
    assert plain.text
    assert plain.text == streamed.text  # the same request gets the same answer
    assert plain.provider == "gemini"
    assert plain.usage.reasoning_tokens  # 2.5 models think; it counts as output
    assert plain.usage.output_tokens is not None
    assert plain.usage.output_tokens > plain.usage.reasoning_tokens
    assert sum(e.type == "text" for e in events) > 1
    assert streamed.finish_reason == "stop"
    assert plain.headers["x-gemini-service-tier"] == "standard"
    assert [c.name for c in tool.tool_calls] == ["get_weather"]
    assert tool.finish_reason == "tool_calls"
    assert isinstance(json.loads(tool.tool_calls[0].arguments), dict)


@pytest.mark.parametrize(
    ("scenario", "kind", "retryable"),
    [
        ("rate-limited", ErrorKind.RATE_LIMIT, True),
        ("insufficient-quota", ErrorKind.QUOTA_EXHAUSTED, False),
        ("overloaded-529", ErrorKind.OVERLOADED, True),
        ("context-length", ErrorKind.CONTEXT_LENGTH, False),
        ("content-filter", ErrorKind.CONTENT_FILTER, False),
        ("auth", ErrorKind.AUTH, False),
        ("malformed-json", ErrorKind.INVALID_RESPONSE, False),
    ],
)
def test_fault_scenarios_classify(scenario: str, kind: ErrorKind, retryable: bool) -> None:
    with _client(scenario, retry=False) as client, pytest.raises(LLMError) as info:
        client.chat(model="gemini-2.5-flash", messages=MSGS)
    assert info.value.kind == kind
    assert info.value.retryable is retryable
    assert KEY not in str(info.value)


def test_rate_limit_retry_delay_is_honoured() -> None:
    with _client("retry-after-then-ok") as client:
        reply = client.chat(model="gemini-2.0-flash", messages=MSGS)
    assert reply.text


def test_midstream_error_event_is_a_server_error() -> None:
    with (
        _client("midstream-error", retry=False) as client,
        client.stream(model="gemini-2.0-flash", messages=MSGS) as stream,
        pytest.raises(LLMError) as info,
    ):
        list(stream)
    assert info.value.kind == ErrorKind.SERVER_ERROR


def test_served_over_real_http_key_in_header_or_query() -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    path = "/v1beta/models/gemini-2.0-flash:generateContent"
    with SimServer("healthy", time_scale=50.0) as url, httpx.Client(base_url=url, timeout=5) as c:
        assert c.post(path, json=body).status_code == 403  # no key: unregistered caller
        by_query = c.post(f"{path}?key={KEY}", json=body)
        by_header = c.post(path, json=body, headers={"x-goog-api-key": KEY})
        sse = c.post(
            path.replace(":generateContent", ":streamGenerateContent") + "?alt=sse",
            json=body,
            headers={"x-goog-api-key": KEY},
        )
        with llmkit.Client(provider="gemini", base_url=f"{url}/v1beta", api_key=KEY) as client:
            reply = client.chat(
                model="gemini-2.0-flash", messages=[{"role": "user", "content": "hello"}]
            )
    assert by_query.status_code == by_header.status_code == 200
    assert llmkit.parse_response("gemini", by_header).text == reply.text
    assert b"\r\n\r\n" in sse.content
    assert b"[DONE]" not in sse.content
    assert llmkit.parse_stream("gemini", sse).text == reply.text


def test_async_client_speaks_gemini_too() -> None:
    import asyncio

    from llmkit.sim import AsyncSimTransport

    async def go() -> tuple[str, str]:
        clock = VirtualClock()
        async with llmkit.AsyncClient(
            provider="gemini",
            api_key=KEY,
            transport=AsyncSimTransport("healthy", clock=clock, seed=3),
            clock=clock,
        ) as client:
            plain = await client.chat(model="gemini-2.0-flash", messages=MSGS)
            stream = await client.stream(model="gemini-2.0-flash", messages=MSGS)
            streamed = await stream.get_final_response()
        return plain.text, streamed.text

    plain, streamed = asyncio.run(go())
    assert plain
    assert plain == streamed


def test_a_canary_key_never_leaks_through_gemini_or_azure(caplog: pytest.LogCaptureFixture) -> None:
    from llmkit.telemetry import LoggingSink, MemorySink

    canary = "AIza" + "Cn4ry" * 7  # Gemini's key shape, built at run time
    caplog.set_level(logging.DEBUG)
    memory = MemorySink()
    seen: list[str] = []
    with SimServer("auth", time_scale=50.0) as url:
        for provider, base in (
            ("gemini", f"{url}/v1beta"),
            ("azure", f"{url}/openai/deployments/gpt-4o-mini?api-version=2024-10-21"),
        ):
            with llmkit.Client(
                provider=provider,
                base_url=base,
                api_key=canary,
                telemetry=[memory, LoggingSink()],
                retry=False,
            ) as client:
                with pytest.raises(LLMError) as info:
                    client.chat(model="gemini-2.0-flash", messages=MSGS)
                assert info.value.kind == ErrorKind.AUTH
                seen += [str(info.value), repr(info.value), repr(client)]
    seen += [json.dumps(r.as_dict(), default=str) for r in memory.records]
    seen.append(caplog.text)
    assert memory.records
    for text in seen:
        assert canary not in text
        assert canary[:20] not in text
