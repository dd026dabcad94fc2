"""Every real recorded interaction in ../shared/real-cassettes-set2 through the public parsers:
Gemini, Azure OpenAI and the OpenAI-compatible services (Groq, Mistral, DeepSeek, Together,
xAI, Cerebras, Ollama, a vLLM-based API), plus a few non-chat OpenAI/Anthropic/xAI endpoints.

Expected answers are read from the recorded JSON here with a few lines per wire format that
share nothing with the adapters; error kinds come from the file names, which name the
scenario the source project recorded. The folder is other projects' data, found through
``tests/_real.py`` (``LLMKIT_REAL_CASSETTES``) and never copied. Without it these tests skip with
the reason (and fail instead when ``LLMKIT_REQUIRE_REAL_CASSETTES=1``, as in CI).
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import _real
import httpx
import pytest

from llmkit import classify, parse_response, parse_stream
from llmkit.errors import ErrorKind, LLMError, error_class
from llmkit.providers import adapter_for
from llmkit.recordings import Interaction, load_recording
from llmkit.sse import SSEDecoder

pytestmark = pytest.mark.real_cassettes(_real.SET2)

CASSETTES = _real.root(_real.SET2)
FILES = [p.name for p in _real.files(name=_real.SET2)]

# File prefix -> the provider name llmkit is asked with.
_PROVIDER = {"azure-openai": "azure", "vllm": "compatible"}

_SCENARIO_KIND = {
    "content_filter": ErrorKind.CONTENT_FILTER,
    "content_filter_responses": ErrorKind.CONTENT_FILTER,
    "unsupported_parameter": ErrorKind.BAD_REQUEST,
    "auth": ErrorKind.AUTH,
    "api_key_invalid": ErrorKind.AUTH,
    "rate_limit": ErrorKind.RATE_LIMIT,
    "resource_exhausted_retryinfo": ErrorKind.RATE_LIMIT,
    "context_length": ErrorKind.CONTEXT_LENGTH,
    "responses_api": ErrorKind.BAD_REQUEST,
    "deserialize": ErrorKind.BAD_REQUEST,
    "invalid_argument": ErrorKind.BAD_REQUEST,
    "invalid_message_order": ErrorKind.BAD_REQUEST,
    "validation": ErrorKind.BAD_REQUEST,
    "invalid_image": ErrorKind.BAD_REQUEST,
    "count_tokens": ErrorKind.NOT_FOUND,
    "model_not_found": ErrorKind.NOT_FOUND,
    "internal": ErrorKind.SERVER_ERROR,
    "overloaded": ErrorKind.OVERLOADED,
    "capacity": ErrorKind.OVERLOADED,
    None: None,  # status only: see _STATUS_KIND
}
_STATUS_KIND = {400: ErrorKind.BAD_REQUEST, 401: ErrorKind.AUTH, 404: ErrorKind.NOT_FOUND}

# 200s that are errors or not chat answers at all, and what each must raise.
_RAISES_ON_200 = {
    "groq__error_stream_event_tool_use_failed__1.yaml": ErrorKind.BAD_REQUEST,
    "gemini__vertex_prompt_blocked__1.yaml": ErrorKind.CONTENT_FILTER,
}
_NOT_CHAT = ("count_tokens__", "images_generation__", "input_tokens__", "video_generation")


def _load(name: str) -> Interaction:
    items = load_recording(CASSETTES / name)
    assert len(items) == 1, "each real cassette holds exactly one interaction"
    return items[0]


def _provider(name: str) -> str:
    prefix = name.split("__", 1)[0]
    return _PROVIDER.get(prefix, prefix)


def _is_stream(it: Interaction) -> bool:
    ctype = it.response.headers.get("content-type", "")
    return "event-stream" in ctype or it.response.content.startswith(b"data:")


# ----------------------------------------------------------------------------- expectations


def _sse(body: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[5:])
        for line in body.splitlines()
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]")
    ]


def _chat(body: dict[str, Any]) -> tuple[str, list[str], int | None, int | None]:
    msg = body["choices"][0]["message"]
    usage = body.get("usage") or {}
    calls = msg.get("tool_calls") or []
    return (
        msg.get("content") or "",
        [c["function"]["name"] for c in calls],
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
    )


def _chat_stream(events: list[dict[str, Any]]) -> tuple[str, list[str], int | None, int | None]:
    text, tools, usage = "", [], {}
    for e in events:
        for choice in e.get("choices") or []:
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            tools += [
                c["function"]["name"]
                for c in delta.get("tool_calls") or []
                if (c.get("function") or {}).get("name")
            ]
        usage = e.get("usage") or usage
    return text, tools, usage.get("prompt_tokens"), usage.get("completion_tokens")


def _gemini(chunks: list[dict[str, Any]]) -> tuple[str, list[str], int | None, int | None]:
    text, tools, usage = "", [], {}
    for c in chunks:
        for part in c["candidates"][0]["content"]["parts"]:
            if "functionCall" in part:
                tools.append(part["functionCall"]["name"])
            elif not part.get("thought"):
                text += part.get("text", "")
        usage = c.get("usageMetadata") or usage
    out = usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0)
    return text, tools, usage.get("promptTokenCount"), out


def _ollama_native(body: dict[str, Any]) -> tuple[str, list[str], int | None, int | None]:
    msg = body["message"]
    tools = [c["function"]["name"] for c in msg.get("tool_calls") or []]
    return msg["content"], tools, body.get("prompt_eval_count"), body.get("eval_count")


def _expected(name: str, it: Interaction) -> tuple[str, list[str], int | None, int | None]:
    body = it.response.content.decode()
    if name.startswith("gemini__"):
        return _gemini(_sse(body) if _is_stream(it) else [json.loads(body)])
    if it.request.url.path.endswith("/api/chat"):
        return _ollama_native(json.loads(body))
    return _chat_stream(_sse(body)) if _is_stream(it) else _chat(json.loads(body))


# ----------------------------------------------------------------------------- every file


def test_the_folder_holds_every_service() -> None:
    providers = {_provider(n) for n in FILES}
    assert len(FILES) >= 60
    assert {"gemini", "azure", "groq", "mistral", "deepseek", "together", "xai"} <= providers
    assert {"cerebras", "ollama", "compatible"} <= providers


@pytest.mark.parametrize("name", _real.or_placeholder(FILES, ""))
def test_real_cassette(name: str) -> None:
    it = _load(name)
    provider = _provider(name)
    resp = it.response
    parse = parse_stream if _is_stream(it) else parse_response

    if not resp.is_success:
        err = classify(provider, resp)
        _check_error(name, it, err)
        with pytest.raises(LLMError) as info:
            parse(provider, resp)
        assert info.value.kind == err.kind
        return

    if name in _RAISES_ON_200:
        with pytest.raises(LLMError) as info:
            parse(provider, resp)
        assert info.value.kind == _RAISES_ON_200[name]
        assert info.value.retryable is False
        assert info.value.provider == adapter_for(provider).name
        return

    if any(marker in name for marker in _NOT_CHAT):
        # A 200 from a non-chat endpoint is not a chat answer: a typed error, never a KeyError.
        with pytest.raises(LLMError) as info:
            parse(provider, resp)
        assert info.value.kind == ErrorKind.INVALID_RESPONSE
        return

    got = parse(provider, resp)
    text, tools, input_tokens, output_tokens = _expected(name, it)
    assert got.provider == adapter_for(provider).name
    assert got.text == text
    assert [c.name for c in got.tool_calls] == tools
    assert got.usage.input_tokens == input_tokens
    assert got.usage.output_tokens == output_tokens
    for call in got.tool_calls:
        assert isinstance(json.loads(call.arguments), dict), "arguments are a JSON object"
    assert got.finish_reason is not None


def _check_error(name: str, it: Interaction, err: LLMError) -> None:
    m = re.search(r"error_(\d{3})(?:_([a-z_]+?))?__\d+\.yaml$", name)
    assert m, f"{name}: not an error file name"
    status, scenario = int(m.group(1)), m.group(2)
    assert it.response.status_code == status
    want = _SCENARIO_KIND[scenario] or _STATUS_KIND[status]
    assert err.kind == want, f"{name}: {err!r}"
    assert err.status == status
    assert err.provider == adapter_for(_provider(name)).name
    assert err.retryable is error_class(err.kind).default_retryable
    assert err.message, "an error always says something"


@pytest.mark.parametrize(
    "name",
    _real.or_placeholder(
        [n for n in FILES if "stream" in n and "error" not in n and "native" not in n], ""
    ),
)
def test_streams_parse_the_same_in_small_chunks(name: str) -> None:
    """Gemini's ``\\r\\n\\r\\n`` framing may be cut anywhere, like any other stream."""
    it = _load(name)
    provider = _provider(name)
    whole = parse_stream(provider, it.response)
    parser = adapter_for(provider, path=it.request.url.path).stream_parser(it.response)
    decoder, body, i = SSEDecoder(), it.response.content, 0
    rng = random.Random(name)
    while i < len(body):
        n = rng.randint(1, 9)
        for event in decoder.feed(body[i : i + n]):
            parser.feed(event)
        i += n
    tail, clean = decoder.close()
    for event in tail:
        parser.feed(event)
    chunked = parser.finish(clean=clean)
    assert (chunked.text, chunked.tool_calls, chunked.usage) == (
        whole.text,
        whole.tool_calls,
        whole.usage,
    )


# ----------------------------------------------------------------------------- named files


@pytest.mark.parametrize(("n", "seconds"), [(1, 48.0), (2, 23.0)])
def test_gemini_429_retry_delay_is_retry_after(n: int, seconds: float) -> None:
    it = _load(f"gemini__error_429_resource_exhausted_retryinfo__{n}.yaml")
    details = json.loads(it.response.content)["error"]["details"]
    [info] = [d for d in details if d["@type"].endswith("RetryInfo")]
    assert info["retryDelay"] == f"{seconds:g}s"
    err = classify("gemini", it.response)
    assert (err.kind, err.retryable, err.retry_after) == (ErrorKind.RATE_LIMIT, True, seconds)
    assert err.code == "RESOURCE_EXHAUSTED"


def test_gemini_invalid_key_is_auth_though_400() -> None:
    err = classify("gemini", _load("gemini__error_400_api_key_invalid__1.yaml").response)
    assert (err.kind, err.status, err.retryable) == (ErrorKind.AUTH, 400, False)


def test_gemini_usage_is_inclusive_and_thoughts_are_output() -> None:
    r = parse_response("gemini", _load("gemini__chat_cached_content_usage__1.yaml").response)
    assert (r.usage.input_tokens, r.usage.cache_read_tokens) == (3520, 3512)
    r = parse_stream("gemini", _load("gemini__chat_stream__1.yaml").response)
    assert (r.usage.output_tokens, r.usage.reasoning_tokens) == (7 + 21, 21)
    assert r.usage.total_tokens == 36  # the recorded totalTokenCount


def test_gemini_thought_flagged_call_is_still_a_call() -> None:
    r = parse_response("gemini", _load("gemini__tool_call__1.yaml").response)
    assert [(c.name, json.loads(c.arguments)) for c in r.tool_calls] == [
        ("get_capital", {"country": "France"})
    ]
    assert r.finish_reason == "tool_calls"
    assert r.text == ""


def test_gemini_stream_ends_without_done_but_a_cut_one_is_truncated() -> None:
    it = _load("gemini__chat_stream__1.yaml")
    assert b"[DONE]" not in it.response.content
    assert it.response.content.endswith(b"\r\n\r\n")
    cut = httpx.Response(
        200,
        headers=it.response.headers,
        content=it.response.content.replace(b'"finishReason": "STOP",', b""),
        request=it.request,
    )
    with pytest.raises(LLMError) as info:
        parse_stream("gemini", cut)
    assert info.value.kind == ErrorKind.INVALID_RESPONSE


def test_gemini_json_array_stream_parses_like_sse() -> None:
    it = _load("gemini__chat_stream_tool_call__1.yaml")
    chunks = _sse(it.response.text)
    array = httpx.Response(
        200,
        headers={"content-type": "application/json"},
        content=json.dumps(chunks).encode(),
        request=httpx.Request("POST", str(it.request.url).replace("?alt=sse", "")),
    )
    sse = parse_stream("gemini", it.response)
    assert parse_stream("gemini", array).tool_calls == sse.tool_calls


def test_azure_content_filter_both_routes_and_request_id() -> None:
    for name in (
        "azure-openai__error_400_content_filter__1.yaml",
        "azure-openai__error_400_content_filter_responses__1.yaml",
    ):
        err = classify("azure", _load(name).response)
        assert (err.kind, err.retryable) == (ErrorKind.CONTENT_FILTER, False)
    err = classify("azure", _load("azure-openai__error_429_rate_limit__1.yaml").response)
    assert err.request_id == "46389dea-9199-4ae5-acbb-99a509437908"  # apim-request-id
    assert err.retry_after == 1.0  # retry-after: 1 beside retry-after-ms: 0


def test_azure_stream_opening_prompt_filter_chunk_is_not_the_model() -> None:
    r = parse_stream("azure", _load("azure-openai__chat_stream__1.yaml").response)
    assert r.model == "gpt-4o-mini-2024-07-18"
    assert r.text == "4200 + 42 equals 4242."


def test_groq_error_event_inside_a_200_stream() -> None:
    it = _load("groq__error_stream_event_tool_use_failed__1.yaml")
    assert b"event: error" in it.response.content
    with pytest.raises(LLMError) as info:
        parse_stream("groq", it.response)
    assert info.value.code == "tool_use_failed"


def test_mistral_fastapi_422_reads_as_one_line() -> None:
    err = classify("mistral", _load("mistral__error_422_validation__1.yaml").response)
    assert err.message.startswith("body.messages.0.user.content.str: Input should be a valid")


def test_ollama_native_reasoning_is_kept_apart() -> None:
    r = parse_response("ollama", _load("ollama__tool_call_native__1.yaml").response)
    assert r.reasoning is not None
    assert r.reasoning.startswith("Thinking Process")
    assert json.loads(r.tool_calls[0].arguments) == {"a": 2, "b": 3}
    assert r.finish_reason == "tool_calls"
