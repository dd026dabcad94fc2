"""Exact token counting: the simulator's endpoints (with the official SDKs), the adapters, and
``Client.count_tokens``, checked against real recordings of the three endpoints when present."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import _real
import anthropic
import httpx
import openai
import pytest

import llmkit
from llmkit.errors import (
    BadRequestError,
    ErrorKind,
    InvalidResponseError,
    NotFoundError,
    RateLimitError,
)
from llmkit.options import chat_args
from llmkit.providers import adapter_for
from llmkit.recordings import load_recording
from llmkit.sim import SimServer

KEY = "sk-test-not-a-real-key"
MSGS: Any = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    s = SimServer("healthy", time_scale=1000.0)
    s.start()
    yield s
    s.stop()


# --------------------------------------------------------------------------- official SDKs


@pytest.mark.sdk
def test_sdks_list_models(server: SimServer) -> None:
    with openai.OpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=0) as o:
        ids = [m.id for m in o.models.list()]
    assert "gpt-4o-mini" in ids
    with anthropic.Anthropic(base_url=server.anthropic_base_url, api_key=KEY,
                             max_retries=0) as a:  # fmt: skip
        page = a.models.list()
        assert [m.type for m in page.data] == ["model"] * len(page.data)
        assert "claude-haiku-4-5" in [m.id for m in page.data]


@pytest.mark.sdk
def test_sdks_count_tokens(server: SimServer) -> None:
    with anthropic.Anthropic(base_url=server.anthropic_base_url, api_key=KEY,
                             max_retries=0) as a:  # fmt: skip
        counted = a.messages.count_tokens(model="claude-haiku-4-5", messages=MSGS)
        assert counted.input_tokens > 0
        billed = a.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=MSGS)
        assert counted.input_tokens == billed.usage.input_tokens  # the count is what is billed
        with pytest.raises(anthropic.NotFoundError, match="model: no-such-model"):
            a.messages.count_tokens(model="no-such-model", messages=MSGS)
    with openai.OpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=0) as o:
        r = o.responses.input_tokens.count(model="gpt-4.1-mini", input=MSGS)
        assert r.object == "response.input_tokens"
        assert r.input_tokens > 0


# --------------------------------------------------------------------------- llmkit clients


@pytest.mark.parametrize(
    ("provider", "model"),
    [("anthropic", "claude-haiku-4-5"), ("openai", "gpt-4o-mini"), ("gemini", "gemini-2.5-flash")],
)
def test_client_count_tokens_over_http(server: SimServer, provider: str, model: str) -> None:
    base = getattr(server, f"{provider}_base_url")
    with llmkit.Client(provider, base_url=base, api_key=KEY) as client:
        count = client.count_tokens(model=model, messages=MSGS)
        reply = client.chat(model=model, messages=MSGS, max_tokens=10)
    assert count == reply.usage.input_tokens


def test_budget_layer_uses_the_exact_count(server: SimServer) -> None:
    with llmkit.Client("anthropic", base_url=server.anthropic_base_url, api_key=KEY) as counter:
        sink = llmkit.MemorySink()
        layer = llmkit.BudgetLayer(llmkit.RequestBudget(max_input_tokens=1000),
                                   counter=counter.count_request_tokens)  # fmt: skip
        with llmkit.Client("anthropic", base_url=server.anthropic_base_url, api_key=KEY,
                           layers=[layer], telemetry=sink) as client:  # fmt: skip
            reply = client.chat(model="claude-haiku-4-5", messages=MSGS, max_tokens=10)
    row = sink.calls()[0].as_dict()
    assert row["llmkit.budget.exact"] is True
    assert row["llmkit.budget.input_estimate"] == reply.usage.input_tokens


def test_async_client_counts(server: SimServer) -> None:
    async def run() -> int:
        async with llmkit.AsyncClient("anthropic", base_url=server.anthropic_base_url,
                                      api_key=KEY) as client:  # fmt: skip
            return await client.count_tokens(model="claude-haiku-4-5", messages=MSGS)

    assert asyncio.run(run()) > 0


def test_providers_without_a_counting_endpoint_say_so() -> None:
    with (
        llmkit.Client("openrouter", api_key=KEY) as client,
        pytest.raises(ValueError, match="estimate_input_tokens"),
    ):
        client.count_tokens(model="m", messages=MSGS)


def test_unknown_model_is_a_typed_not_found(server: SimServer) -> None:
    client = llmkit.Client("anthropic", base_url=server.anthropic_base_url, api_key=KEY)
    with client, pytest.raises(NotFoundError) as info:
        client.count_tokens(model="no-such-model", messages=MSGS)
    assert KEY not in str(info.value)


def test_count_bodies_leave_out_what_the_endpoints_refuse() -> None:
    request = llmkit.ChatRequest(model="m", messages=(llmkit.Message("user", "hi"),),
                                 max_tokens=99, temperature=0.5, stream=True)  # fmt: skip
    for provider, api, path in (("anthropic", None, "/v1/messages/count_tokens"),
                                ("openai", "responses", "/v1/responses/input_tokens")):  # fmt: skip
        adapter: Any = adapter_for(provider, api=api)
        built = adapter.count_tokens_request(request, base_url=adapter.default_base_url,
                                             api_key=None)  # fmt: skip
        assert built.url.path == path
        body = json.loads(built.content)
        assert not {"max_tokens", "max_output_tokens", "temperature", "stream"} & set(body)


def test_malformed_count_answer_is_invalid_response() -> None:
    adapter: Any = adapter_for("anthropic")
    req = httpx.Request("POST", "https://api.anthropic.com/v1/messages/count_tokens")
    with pytest.raises(InvalidResponseError):
        adapter.parse_token_count(httpx.Response(200, json={"tokens": 3}, request=req))


# --------------------------------------------------------------------------- Gemini

GEMINI_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
GEMINI_MSGS: Any = [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": "What is the capital of France?"},
]


def _gemini_count(status: int, body: object) -> httpx.Response:
    url = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:countTokens"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, request=httpx.Request("POST", url))


def test_gemini_count_request_wraps_the_whole_generate_body() -> None:
    """Everything generateContent would send is counted, a cachedContent reference included;
    the key travels as it does there (header, never the URL)."""
    key = "AIza" + "c4n4ry" * 6  # built at run time: no key shape to match in the source
    adapter: Any = adapter_for("gemini")
    request, _ = chat_args(model="models/gemini-2.5-flash", messages=GEMINI_MSGS,
                           tools=[GEMINI_TOOL], max_tokens=50, stream=True,
                           cachedContent="cachedContents/abc123")  # fmt: skip
    built = adapter.count_tokens_request(request, base_url=adapter.default_base_url,
                                         api_key=llmkit.APIKey(key))  # fmt: skip
    generate = adapter.build_request(request.with_(stream=False),
                                     base_url=adapter.default_base_url, api_key=None)  # fmt: skip
    assert built.method == "POST"
    assert str(built.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:countTokens"
    )
    assert built.headers["x-goog-api-key"] == key
    assert key not in str(built.url)
    body = json.loads(built.content)
    expected = {"model": "models/gemini-2.5-flash", **json.loads(generate.content)}
    assert body == {"generateContentRequest": expected}
    inner = body["generateContentRequest"]
    assert inner["cachedContent"] == "cachedContents/abc123"
    assert {"systemInstruction", "tools", "contents"} <= set(inner)


def test_gemini_count_reads_total_tokens() -> None:
    answer = {"totalTokens": 31, "cachedContentTokenCount": 20,
              "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]}  # fmt: skip
    assert adapter_for("gemini").parse_token_count(_gemini_count(200, answer)) == 31  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body",
    [{"input_tokens": 3}, {"totalTokens": "12"}, {"totalTokens": -1}, {"totalTokens": True},
     {"totalTokens": 1.5}, [], None, b"<html>oops</html>", b""],
)  # fmt: skip
def test_malformed_gemini_count_is_invalid_response(body: object) -> None:
    with pytest.raises(InvalidResponseError, match=r"totalTokens|JSON") as info:
        adapter_for("gemini").parse_token_count(_gemini_count(200, body))  # type: ignore[attr-defined]
    assert info.value.provider == "gemini"


def test_gemini_count_errors_classify_as_generate_errors() -> None:
    body = {"error": {"code": 429, "message": "Resource has been exhausted.",
                      "status": "RESOURCE_EXHAUSTED",
                      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                   "retryDelay": "7s"}]}}  # fmt: skip
    with pytest.raises(RateLimitError) as info:
        adapter_for("gemini").parse_token_count(_gemini_count(429, body))  # type: ignore[attr-defined]
    assert info.value.retry_after == 7.0


def test_gemini_count_matches_what_is_billed_with_system_and_tools(server: SimServer) -> None:
    with llmkit.Client("gemini", base_url=server.gemini_base_url, api_key=KEY) as client:
        count = client.count_tokens(model="gemini-2.5-flash", messages=GEMINI_MSGS,
                                    tools=[GEMINI_TOOL])  # fmt: skip
        bare = client.count_tokens(model="gemini-2.5-flash", messages=GEMINI_MSGS[1:])
        reply = client.chat(model="gemini-2.5-flash", messages=GEMINI_MSGS, tools=[GEMINI_TOOL],
                            max_tokens=10)  # fmt: skip
    assert count == reply.usage.input_tokens
    assert count > bare  # the system instruction is counted, not only the turns


def test_async_gemini_count(server: SimServer) -> None:
    async def run() -> tuple[int, int | None]:
        async with llmkit.AsyncClient("gemini", base_url=server.gemini_base_url,
                                      api_key=KEY) as client:  # fmt: skip
            count = await client.count_tokens(model="gemini-2.5-flash", messages=MSGS)
            reply = await client.chat(model="gemini-2.5-flash", messages=MSGS, max_tokens=10)
            return count, reply.usage.input_tokens

    count, billed = asyncio.run(run())
    assert count > 0
    assert count == billed


def test_gemini_count_unknown_model_is_a_typed_not_found(server: SimServer) -> None:
    key = "AIza" + "c4n4ry" * 6
    client = llmkit.Client("gemini", base_url=server.gemini_base_url, api_key=key)
    with client, pytest.raises(NotFoundError, match="not supported for countTokens") as info:
        client.count_tokens(model="no-such-model", messages=MSGS)
    assert key not in str(info.value)
    assert key not in repr(info.value)


def test_simulated_gemini_count_needs_a_key(server: SimServer) -> None:
    url = server.gemini_base_url + "/models/gemini-2.5-flash:countTokens"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert httpx.post(url, json=body).status_code == 403
    with_query = httpx.post(url, json=body, params={"key": KEY})  # the API takes ?key= too
    assert with_query.status_code == 200
    assert with_query.json()["totalTokens"] > 0
    bad = httpx.post(url, json={"generateContentRequest": {"contents": []}},
                     headers={"x-goog-api-key": KEY})  # fmt: skip
    with pytest.raises(BadRequestError):
        adapter_for("gemini").parse_token_count(bad)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- real recordings


def _recording(name: str) -> Any:
    return load_recording(_real.path(f"{name}.yaml", _real.SET2))[0]


@pytest.mark.real_cassettes(_real.SET2)
@pytest.mark.parametrize(
    ("name", "provider", "api"),
    [("anthropic__count_tokens__1", "anthropic", None),
     ("anthropic__count_tokens__2", "anthropic", None),
     ("openai__responses_input_tokens__1", "openai", "responses"),
     ("openai__responses_input_tokens__2", "openai", "responses")],
)  # fmt: skip
def test_adapters_read_real_counts_and_the_simulator_matches_their_shape(
    name: str, provider: str, api: str | None, server: SimServer
) -> None:
    item = _recording(name)
    adapter: Any = adapter_for(provider, api=api)
    real = json.loads(item.response.content)
    assert adapter.parse_token_count(item.response) == real["input_tokens"]
    # The simulator answers the same recorded body with the same keys.
    body = json.loads(item.request.content)
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01",
               "authorization": f"Bearer {KEY}"}  # fmt: skip
    url = server.base_url + item.request.url.path
    sim = httpx.post(url, json=body, headers=headers)
    assert sim.status_code == 200
    assert set(sim.json()) == set(real)


@pytest.mark.real_cassettes(_real.SET2)
def test_real_count_tokens_404_is_not_found() -> None:
    item = _recording("anthropic__count_tokens_error_404__1")
    with pytest.raises(NotFoundError, match="claude-does-not-exist"):
        adapter_for("anthropic").parse_token_count(item.response)  # type: ignore[attr-defined]


@pytest.mark.real_cassettes(_real.SET2)
def test_real_gemini_count_tokens_404_is_not_found(server: SimServer) -> None:
    item = _recording("gemini__error_404_count_tokens__1")
    assert llmkit.classify("gemini", item.response).kind == ErrorKind.NOT_FOUND
    with pytest.raises(NotFoundError, match="nonexistent-model") as info:
        adapter_for("gemini").parse_token_count(item.response)  # type: ignore[attr-defined]
    assert info.value.provider == "gemini"
    # The simulator answers the same recorded request (bare ``contents``) the same way.
    url = server.base_url + item.request.url.path
    sim = httpx.post(url, content=item.request.content, headers={"x-goog-api-key": KEY,
                     "content-type": "application/json"})  # fmt: skip
    assert sim.status_code == item.response.status_code
    assert sim.json() == json.loads(item.response.content)
