"""Property tests: whatever a server sends, the parsers raise only LLMError (and the registry).

Bodies are arbitrary bytes, JSON shaped like each wire format but with the wrong types in
the wrong places, real recorded bodies cut or corrupted, and SSE streams of arbitrary events.
Each adapter is also driven directly, without the public functions' safety net, so a parsing
slip in an adapter shows up here instead of being converted quietly.
"""

from __future__ import annotations

import json
from typing import Any

import _real
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkit import classify, parse_response, parse_stream
from llmkit.errors import InvalidResponseError, LLMError
from llmkit.providers import KNOWN_PROVIDERS, adapter_for
from llmkit.providers.anthropic import AnthropicAdapter
from llmkit.providers.compatible import (
    AzureAdapter,
    AzureResponsesAdapter,
    CompatibleAdapter,
    OllamaNativeAdapter,
)
from llmkit.providers.gemini import GeminiAdapter
from llmkit.providers.openai_chat import OpenAIChatAdapter
from llmkit.providers.openai_responses import OpenAIResponsesAdapter
from llmkit.providers.openrouter import OpenRouterAdapter
from llmkit.recordings import load_recording
from llmkit.sse import SSEDecoder
from llmkit.types import ChatResponse

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PATHS = [
    "/v1/messages",
    "/v1/chat/completions",
    "/v1/responses",
    "/api/v1/chat/completions",
    "/api/v1/responses",
    "/v1beta/models/m:generateContent",
    "/api/chat",
    None,  # a response built without a request
]

_KEYS = [
    "candidates",
    "parts",
    "functionCall",
    "usageMetadata",
    "promptFeedback",
    "finishReason",
    "status",
    "details",
    "detail",
    "type",
    "error",
    "message",
    "code",
    "content",
    "text",
    "thinking",
    "choices",
    "delta",
    "usage",
    "input_tokens",
    "output_tokens",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "prompt_tokens_details",
    "cached_tokens",
    "stop_reason",
    "finish_reason",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "id",
    "input",
    "index",
    "content_block",
    "output",
    "response",
    "status",
    "partial_json",
    "model",
    "metadata",
    "raw",
    "refusal",
    "item",
    "output_index",
    "incomplete_details",
    "reasoning",
    "request_id",
    "tool_use",
    "param",
]
_TYPES = [
    "message",
    "error",
    "text",
    "tool_use",
    "thinking",
    "redacted_thinking",
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "ping",
    "overloaded_error",
    "rate_limit_error",
    "invalid_request_error",
    "api_error",
    "billing_error",
    "function_call",
    "output_text",
    "response.completed",
    "response.output_text.delta",
    "response.output_item.added",
    "response.failed",
    "response.incomplete",
    "response.created",
    "insufficient_quota",
    "tokens",
]

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=False),
    st.sampled_from(_TYPES),
    st.text(max_size=12),
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(_KEYS), inner, max_size=6),
    ),
    max_leaves=30,
)
json_objects = st.dictionaries(st.sampled_from(_KEYS), json_values, max_size=8)

_HEADER_NAMES = [
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "request-id",
    "x-request-id",
    "date",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-remaining",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "content-type",
]
_HEADER_VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "7",
            "-1",
            "1e400",
            "nan",
            "inf",
            "true",
            "false",
            "<REQUEST_ID>",
            "1970-01-01T00:00:00Z",
            "2025-08-11T23:47:12Z",
            "9999-12-31T23:59:59+14:00",
            "2025-08-11T23:47:12",
            "Mon, 11 Aug 2025 23:46:00 GMT",
            "Tue, 31 Feb 99999 GMT",
            "6m0s",
            "300ms",
            "1h2m3.5s",
            "X-RATELIMIT-RESET-XXX",
            "text/event-stream",
            "",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)
headers_st = st.dictionaries(st.sampled_from(_HEADER_NAMES), _HEADER_VALUES, max_size=6)
statuses = st.one_of(
    st.sampled_from([200, 400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 529]),
    st.integers(min_value=100, max_value=599),
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_objects.map(lambda o: json.dumps(o).encode()),
    json_values.map(lambda o: json.dumps(o).encode()),
    st.just(b"[" * 5000),
)


def _sse(events: list[tuple[str | None, str]]) -> bytes:
    out = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {data}\n\n")
    return "".join(out).encode()


sse_events = st.lists(
    st.tuples(
        st.one_of(st.none(), st.sampled_from([*_TYPES, "error"])),
        st.one_of(
            json_objects.map(json.dumps),
            st.sampled_from(["[DONE]", "", "{", "null", '{"type":"error"}']),
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
        ),
    ),
    max_size=12,
)


def _response(status: int, body: bytes, headers: dict[str, str], path: str | None) -> Any:
    request = None if path is None else httpx.Request("POST", f"https://api.example.com{path}")
    return httpx.Response(status, headers=headers, content=body, request=request)


def _only_llm_errors(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except LLMError as exc:
        return exc


def _all_three(provider: str, resp: httpx.Response) -> None:
    err = classify(provider, resp)
    assert isinstance(err, LLMError)
    assert err.provider is not None
    for fn in (parse_response, parse_stream):
        out = _only_llm_errors(fn, provider, resp)
        assert isinstance(out, (ChatResponse, LLMError))
        if not resp.is_success:
            assert isinstance(out, LLMError), "an error status never parses as an answer"


# ----------------------------------------------------------------------------- public functions


@FUZZ
@given(
    provider=st.sampled_from(KNOWN_PROVIDERS),
    status=statuses,
    body=bodies,
    headers=headers_st,
    path=st.sampled_from(PATHS),
)
def test_arbitrary_bodies_and_headers_raise_only_llm_errors(
    provider: str, status: int, body: bytes, headers: dict[str, str], path: str | None
) -> None:
    _all_three(provider, _response(status, body, headers, path))


@FUZZ
@given(
    provider=st.sampled_from(KNOWN_PROVIDERS),
    events=sse_events,
    cut=st.integers(min_value=0, max_value=10_000),
    path=st.sampled_from(PATHS),
)
def test_arbitrary_sse_streams_raise_only_llm_errors(
    provider: str, events: list[tuple[str | None, str]], cut: int, path: str | None
) -> None:
    body = _sse(events)
    body = body[: cut % (len(body) + 1)]
    resp = _response(200, body, {"content-type": "text/event-stream"}, path)
    out = _only_llm_errors(parse_stream, provider, resp)
    assert isinstance(out, (ChatResponse, LLMError))


def test_unknown_provider_is_a_value_error_listing_the_known_ones() -> None:
    resp = _response(200, b"{}", {}, "/v1/messages")
    for fn in (parse_response, parse_stream, classify):
        with pytest.raises(ValueError, match="anthropic"):
            fn("nope", resp)


def test_unread_streaming_body_is_invalid_response() -> None:
    resp = httpx.Response(200, stream=httpx.ByteStream(b"data: x\n\n"))
    with pytest.raises(InvalidResponseError):
        parse_stream("openai", resp)


def test_gzipped_body_without_content_encoding_is_decompressed() -> None:
    import gzip

    sse = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"hi"}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    resp = _response(200, gzip.compress(sse), {}, "/v1/messages")
    assert parse_stream("anthropic", resp).text == "hi"
    with pytest.raises(InvalidResponseError, match="gzip"):
        parse_stream("anthropic", _response(200, gzip.compress(sse)[:20], {}, "/v1/messages"))


# ----------------------------------------------------------------------------- real bodies, cut

_REAL_FILES = _real.files()


@pytest.mark.real_cassettes
@FUZZ
@given(
    index=st.integers(min_value=0, max_value=10_000),
    cut=st.floats(min_value=0, max_value=1),
    flip=st.integers(min_value=0, max_value=255),
    status=st.one_of(st.none(), statuses),
)
def test_real_bodies_cut_or_corrupted_raise_only_llm_errors(
    index: int, cut: float, flip: int, status: int | None
) -> None:
    path = _REAL_FILES[index % len(_REAL_FILES)]
    [it] = load_recording(path)
    body = bytearray(it.response.content[: int(len(it.response.content) * cut)])
    if body and flip:
        body[flip % len(body)] ^= flip
    resp = httpx.Response(
        status or it.response.status_code,
        headers=it.response.headers,
        content=bytes(body),
        request=it.request,
    )
    _all_three(path.name.split("__")[0], resp)


# ----------------------------------------------------------------------------- real shapes, mutated


def _templates() -> tuple[list[tuple[str, str, Any]], list[tuple[str, str, list[Any]]]]:
    """(provider, path, JSON body) and (provider, path, [(event, payload)]) from real files."""
    bodies_: list[tuple[str, str, Any]] = []
    streams: list[tuple[str, str, list[Any]]] = []
    for f in _REAL_FILES:
        [it] = load_recording(f)
        provider, path = f.name.split("__")[0], it.request.url.path
        if "event-stream" in it.response.headers.get("content-type", ""):
            events = []
            for block in it.response.text.split("\n\n"):
                name, data = None, None
                for line in block.splitlines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                if data and data != "[DONE]":
                    events.append((name, json.loads(data)))
            streams.append((provider, path, events))
        else:
            bodies_.append((provider, path, json.loads(it.response.content)))
    return bodies_, streams


_BODY_TEMPLATES, _STREAM_TEMPLATES = _templates()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, edits: list[tuple[int, Any, bool]]) -> Any:
    """Replace (or delete) values at chosen paths of a deep copy of ``doc``."""
    doc = json.loads(json.dumps(doc))
    for sel, value, delete in edits:
        paths = _paths(doc)
        path = paths[sel % len(paths)]
        if not path:
            doc = value
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if delete and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return doc


# Wrong-typed values: what a parser that trusts the schema trips on.
_confusing = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=5),
    st.text(max_size=5),
    st.lists(_scalars, max_size=2),
    st.dictionaries(st.sampled_from(_KEYS), _scalars, max_size=2),
)
edits_st = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10_000),
        st.one_of(_confusing, json_values),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


_PROVIDERS = ["anthropic", "openai", "openrouter"]


@pytest.mark.real_cassettes
@pytest.mark.parametrize("provider", _PROVIDERS)
@FUZZ
@given(index=st.integers(min_value=0, max_value=10_000), edits=edits_st, status=statuses)
def test_real_json_shapes_with_wrong_values_raise_only_llm_errors(
    provider: str, index: int, edits: list[tuple[int, Any, bool]], status: int
) -> None:
    mine = [t for t in _BODY_TEMPLATES if t[0] == provider]
    _, path, doc = mine[index % len(mine)]
    resp = _response(status, json.dumps(_mutate(doc, edits)).encode(), {}, path)
    _all_three(provider, resp)
    _drive(adapter_for(provider, path=path), resp)


@pytest.mark.real_cassettes
@pytest.mark.parametrize("provider", _PROVIDERS)
@FUZZ
@given(
    index=st.integers(min_value=0, max_value=10_000),
    edits=edits_st,
    drop=st.integers(min_value=0, max_value=10_000),
)
def test_real_stream_shapes_with_wrong_values_raise_only_llm_errors(
    provider: str, index: int, edits: list[tuple[int, Any, bool]], drop: int
) -> None:
    mine = [t for t in _STREAM_TEMPLATES if t[0] == provider]
    _, path, events = mine[index % len(mine)]
    mutated = _mutate([e[1] for e in events], edits)
    names = [e[0] for e in events]
    pairs = list(zip(names, mutated if isinstance(mutated, list) else [mutated], strict=False))
    if drop % 3 == 0 and pairs:
        del pairs[drop % len(pairs)]
    body = _sse([(n, json.dumps(d)) for n, d in pairs])
    resp = _response(200, body, {"content-type": "text/event-stream"}, path)
    assert isinstance(_only_llm_errors(parse_stream, provider, resp), (ChatResponse, LLMError))
    _drive(adapter_for(provider, path=path), resp)


# ----------------------------------------------------------------------------- adapters directly

ADAPTERS = [
    AnthropicAdapter(),
    OpenAIChatAdapter(),
    OpenAIResponsesAdapter(),
    OpenRouterAdapter(),
    GeminiAdapter(),
    CompatibleAdapter("compatible", "http://127.0.0.1:1/v1"),
    AzureAdapter(),
    OllamaNativeAdapter(),
]


def _drive(adapter: Any, resp: httpx.Response) -> None:
    assert isinstance(adapter.classify(resp), LLMError)
    _only_llm_errors(adapter.parse_response, resp)

    def stream() -> None:
        parser = adapter.stream_parser(resp)
        decoder = SSEDecoder()
        for ev in decoder.feed(resp.content):
            parser.feed(ev)
        tail, clean = decoder.close()
        for ev in tail:
            parser.feed(ev)
        parser.finish(clean=clean)

    _only_llm_errors(stream)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: type(a).__name__)
@FUZZ
@given(body=bodies, status=statuses, headers=headers_st, path=st.sampled_from(PATHS))
def test_adapters_raise_only_llm_errors_without_the_safety_net(
    adapter: Any, body: bytes, status: int, headers: dict[str, str], path: str | None
) -> None:
    _drive(adapter, _response(status, body, headers, path))


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: type(a).__name__)
@FUZZ
@given(events=sse_events, path=st.sampled_from(PATHS))
def test_adapter_stream_parsers_raise_only_llm_errors(
    adapter: Any, events: list[tuple[str | None, str]], path: str | None
) -> None:
    _drive(adapter, _response(200, _sse(events), {}, path))


# ----------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("provider", "path", "api", "cls", "name"),
    [
        ("openai", "/v1/chat/completions", None, OpenAIChatAdapter, "openai"),
        ("openai", "/v1/responses", None, OpenAIResponsesAdapter, "openai"),
        ("openai", "", "responses", OpenAIResponsesAdapter, "openai"),
        ("openai", "/v1/responses", "chat", OpenAIChatAdapter, "openai"),
        ("anthropic", "/v1/messages", None, AnthropicAdapter, "anthropic"),
        ("openrouter", "/api/v1/chat/completions", None, OpenRouterAdapter, "openrouter"),
        ("openrouter", "/api/v1/responses", None, OpenRouterAdapter, "openrouter"),
        ("compatible", "/v1/chat/completions", None, CompatibleAdapter, "compatible"),
        ("openai-compatible", "", None, CompatibleAdapter, "openai-compatible"),
        ("vllm", "/v1/chat/completions", None, CompatibleAdapter, "compatible"),
        ("groq", "/openai/v1/chat/completions", None, CompatibleAdapter, "groq"),
        ("deepseek", "/responses", None, OpenAIResponsesAdapter, "deepseek"),
        ("ollama", "/api/chat", None, OllamaNativeAdapter, "ollama"),
        ("ollama", "/v1/chat/completions", None, CompatibleAdapter, "ollama"),
        ("azure", "/openai/deployments/d/chat/completions", None, AzureAdapter, "azure"),
        ("azure-openai", "/openai/responses", None, AzureResponsesAdapter, "azure"),
        ("gemini", "/v1beta/models/m:generateContent", None, GeminiAdapter, "gemini"),
        ("Google", "", None, GeminiAdapter, "gemini"),
    ],
)
def test_adapter_for(provider: str, path: str, api: str | None, cls: type, name: str) -> None:
    adapter = adapter_for(provider, path=path, api=api)
    assert type(adapter) is cls
    assert adapter.name == name
    assert adapter_for(provider, path=path, api=api) is adapter  # stateless, so shared


def test_adapter_for_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="openrouter"):
        adapter_for("bedrock")
    with pytest.raises(ValueError, match="api"):
        adapter_for("openai", api="completions")


def test_a_response_without_a_request_is_read_as_chat() -> None:
    body = {
        "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    resp = httpx.Response(200, content=json.dumps(body).encode())
    got = parse_response("openai", resp)
    assert (got.text, got.usage.input_tokens, got.usage.output_tokens) == ("hi", 3, 1)
    err = classify("openai", httpx.Response(429, content=b"{}"))
    assert err.kind == "rate_limit"
