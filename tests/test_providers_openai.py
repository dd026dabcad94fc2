"""OpenAI Chat Completions and Responses adapters: requests, bodies, errors, streams."""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.errors import (
    ContentFilterError,
    ContextLengthError,
    InvalidResponseError,
    LLMError,
    NotFoundError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from llmkit.providers.openai_chat import OpenAIChatAdapter
from llmkit.providers.openai_responses import OpenAIResponsesAdapter
from llmkit.ratelimit import parse_duration as parse_reset_duration
from llmkit.secrets import APIKey
from llmkit.sse import SSEDecoder, SSEEvent
from llmkit.types import ChatRequest, ChatResponse, Message, StreamEvent, Tool, ToolCall, Usage

CHAT = OpenAIChatAdapter()
RESP = OpenAIResponsesAdapter()
CHAT_PATH = "/v1/chat/completions"
RESP_PATH = "/v1/responses"
KEY = "sk-proj-" + "TESTKEY0123456789abcdefSECRET"  # a canary, split so secret scanners pass


def make_response(
    status: int,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    path: str = CHAT_PATH,
    raw: bytes | None = None,
) -> httpx.Response:
    content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    request = httpx.Request("POST", f"https://api.openai.com{path}")
    return httpx.Response(status, headers=headers or {}, content=content, request=request)


def sse_body(*items: Any, done: bool = True, events: bool = False) -> bytes:
    """An SSE body: dicts become ``data: <json>``; ``events`` adds ``event: <type>`` lines."""
    out = []
    for item in items:
        data = item if isinstance(item, str) else json.dumps(item)
        head = f"event: {item['type']}\n" if events and isinstance(item, dict) else ""
        out.append(f"{head}data: {data}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def run_stream(
    adapter: Any, body: bytes, *, path: str = CHAT_PATH, clean: bool | None = None
) -> tuple[ChatResponse, list[StreamEvent]]:
    response = make_response(200, headers={"x-request-id": "req_s"}, path=path, raw=b"")
    parser = adapter.stream_parser(response)
    decoder = SSEDecoder()
    events: list[StreamEvent] = []
    # Feed in small pieces, as a network would deliver them.
    for i in range(0, len(body), 7):
        for ev in decoder.feed(body[i : i + 7]):
            events.extend(parser.feed(ev))
    tail, was_clean = decoder.close()
    for ev in tail:
        events.extend(parser.feed(ev))
    return parser.finish(clean=was_clean if clean is None else clean), events


def req(**kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": (Message("user", "hi"),),
    }
    base.update(kw)
    return ChatRequest(**base)


CONVERSATION = (
    Message("system", "be brief"),
    Message("user", "weather in Paris?"),
    Message("assistant", "", tool_calls=(ToolCall("call_1", "weather", '{"city":"Paris"}'),)),
    Message("tool", "18C", tool_call_id="call_1"),
    Message("assistant", "It is 18C."),
    Message("user", "thanks", name="ann"),
)
WEATHER = Tool("weather", "Current weather", {"type": "object", "properties": {}})


# --------------------------------------------------------------------------- build_request


def body_of(request: httpx.Request) -> dict[str, Any]:
    data = json.loads(request.content)
    assert isinstance(data, dict)
    return data


def assert_key_only_in_auth(request: httpx.Request) -> None:
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in str(request.url)
    assert KEY.encode() not in request.content
    others = [v for k, v in request.headers.items() if k.lower() != "authorization"]
    assert not any(KEY in v for v in others)
    assert KEY not in repr(request)


def test_chat_build_request_shape() -> None:
    request = CHAT.build_request(
        req(
            messages=CONVERSATION,
            max_tokens=50,
            temperature=0.2,
            tools=(WEATHER,),
            tags={"account": "acme"},
            extra={"seed": 7, "user": "u1"},
        ),
        base_url="https://api.openai.com/v1/",
        api_key=APIKey(KEY),
    )
    assert request.method == "POST"
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["content-type"] == "application/json"
    body = body_of(request)
    assert body["model"] == "gpt-4o-mini"
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body
    assert body["temperature"] == 0.2
    assert body["seed"] == 7
    assert body["user"] == "u1"
    assert "tags" not in body
    assert "acme" not in request.content.decode()
    assert "stream" not in body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Current weather",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "assistant", "content": "It is 18C."},
        {"role": "user", "content": "thanks", "name": "ann"},
    ]
    assert_key_only_in_auth(request)


def test_chat_stream_request_asks_for_usage() -> None:
    request = CHAT.build_request(req(stream=True), base_url="http://x/v1", api_key=None)
    body = body_of(request)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert request.headers["accept"] == "text/event-stream"
    assert "authorization" not in request.headers


def test_compatible_endpoint_uses_max_tokens_and_its_own_url() -> None:
    vllm = OpenAIChatAdapter(name="vllm", default_base_url="http://127.0.0.1:8000/v1")
    request = vllm.build_request(
        req(max_tokens=9), base_url=vllm.default_base_url, api_key=APIKey(KEY)
    )
    assert str(request.url) == "http://127.0.0.1:8000/v1/chat/completions"
    assert body_of(request)["max_tokens"] == 9
    assert "max_completion_tokens" not in body_of(request)


def test_extra_overrides_defaults() -> None:
    request = CHAT.build_request(
        req(stream=True, extra={"stream_options": {"include_usage": False}}),
        base_url="http://x/v1",
        api_key=None,
    )
    assert body_of(request)["stream_options"] == {"include_usage": False}


def test_tool_message_without_call_id_is_a_value_error() -> None:
    bad = req(messages=(Message("user", "x"), Message("tool", "18C")))
    with pytest.raises(ValueError, match="tool_call_id"):
        CHAT.build_request(bad, base_url="http://x/v1", api_key=None)
    with pytest.raises(ValueError, match="tool_call_id"):
        RESP.build_request(bad, base_url="http://x/v1", api_key=None)


def test_responses_build_request_shape() -> None:
    request = RESP.build_request(
        req(
            messages=CONVERSATION,
            max_tokens=64,
            temperature=1.0,
            tools=(WEATHER,),
            stream=True,
            tags={"job": "j1"},
            extra={"store": False},
        ),
        base_url="https://api.openai.com/v1",
        api_key=APIKey(KEY),
    )
    assert str(request.url) == "https://api.openai.com/v1/responses"
    body = body_of(request)
    assert body["instructions"] == "be brief"
    assert body["max_output_tokens"] == 64
    assert body["temperature"] == 1.0
    assert body["stream"] is True
    assert "stream_options" not in body
    assert body["store"] is False
    assert "tags" not in body
    assert body["tools"] == [
        {
            "type": "function",
            "name": "weather",
            "description": "Current weather",
            "parameters": {"type": "object", "properties": {}},
        }
    ]
    assert body["input"] == [
        {"role": "user", "content": "weather in Paris?"},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"role": "assistant", "content": "It is 18C."},
        {"role": "user", "content": "thanks"},
    ]
    assert_key_only_in_auth(request)


def test_build_request_round_trips_through_mock_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            headers={"x-request-id": "req_mock"},
            json={
                "id": "chatcmpl-1",
                "model": "gpt-4o-mini",
                "choices": [{"message": {"content": "hello"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1},
            },
        )

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        response = client.send(CHAT.build_request(req(), base_url="http://t/v1", api_key=None))
        out = CHAT.parse_response(response)
    assert seen[0].url.path == "/v1/chat/completions"
    assert out.text == "hello"
    assert out.request_id == "req_mock"
    assert out.usage == Usage(input_tokens=3, output_tokens=1)


# --------------------------------------------------------------------------- parse_response


def chat_body(**message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 1220,
            "completion_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 1152},
            "completion_tokens_details": {"reasoning_tokens": 64},
        },
    }


def test_chat_parse_full_response() -> None:
    out = CHAT.parse_response(
        make_response(200, chat_body(content="Paris."), headers={"x-request-id": "req_1"})
    )
    assert out.text == "Paris."
    assert out.model == "gpt-4o-2024-08-06"
    assert out.provider == "openai"
    assert out.id == "chatcmpl-1"
    assert out.request_id == "req_1"
    assert out.finish_reason == "stop"
    assert out.reasoning is None
    assert out.refusal is None
    assert out.usage == Usage(
        input_tokens=1220, output_tokens=100, cache_read_tokens=1152, reasoning_tokens=64
    )
    assert out.usage.cache_write_tokens is None


def test_chat_parse_tool_calls_and_refusal() -> None:
    body = chat_body(
        content=None,
        tool_calls=[
            {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "b", "arguments": {"x": 1}}},
        ],
    )
    body["choices"][0]["finish_reason"] = "tool_calls"
    out = CHAT.parse_response(make_response(200, body))
    assert out.text == ""
    assert out.tool_calls == (ToolCall("c1", "a", "{}"), ToolCall("c2", "b", '{"x": 1}'))
    assert out.finish_reason == "tool_calls"

    refused = CHAT.parse_response(make_response(200, chat_body(content=None, refusal="No.")))
    assert refused.refusal == "No."
    assert refused.text == ""


def test_usage_none_is_not_zero() -> None:
    body = chat_body(content="x")
    body["usage"] = {"prompt_tokens": 9, "completion_tokens": 0}
    out = CHAT.parse_response(make_response(200, body))
    assert out.usage.input_tokens == 9
    assert out.usage.output_tokens == 0  # reported 0 stays 0
    assert out.usage.cache_read_tokens is None  # not reported stays None
    assert out.usage.reasoning_tokens is None
    del body["usage"]
    bare = CHAT.parse_response(make_response(200, body))
    assert bare.usage == Usage()
    assert bare.usage.total_tokens is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("function_call", "tool_calls"),
        ("something_new", "something_new"),
        (None, None),
    ],
)
def test_finish_reason_normalized(raw: str | None, expected: str | None) -> None:
    body = chat_body(content="x")
    body["choices"][0]["finish_reason"] = raw
    assert CHAT.parse_response(make_response(200, body)).finish_reason == expected


def test_compatible_reasoning_content_and_list_content() -> None:
    body = chat_body(
        content=[{"type": "text", "text": "4"}, {"type": "image_url", "image_url": {}}],
        reasoning_content="2+2 is 4",
    )
    out = OpenAIChatAdapter(name="vllm").parse_response(make_response(200, body))
    assert out.text == "4"
    assert out.reasoning == "2+2 is 4"
    assert out.provider == "vllm"


MALFORMED: list[tuple[str, bytes]] = [
    ("not json", b"<html>oops</html>"),
    ("empty", b""),
    ("array", b"[1, 2]"),
    ("no choices", b'{"id": "x"}'),
    ("empty choices", b'{"choices": []}'),
    ("choice not object", b'{"choices": [null]}'),
    ("no message", b'{"choices": [{"finish_reason": "stop"}]}'),
    ("message not object", b'{"choices": [{"message": "hi"}]}'),
    ("tool_calls not list", b'{"choices": [{"message": {"tool_calls": {"a": 1}}}]}'),
    ("tool call no name", b'{"choices": [{"message": {"tool_calls": [{"id": "c"}]}}]}'),
    ("truncated json", b'{"choices": [{"message": {"content": "hi"'),
]


@pytest.mark.parametrize(("label", "raw"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_chat_malformed_2xx_is_invalid_response(label: str, raw: bytes) -> None:
    with pytest.raises(InvalidResponseError) as info:
        CHAT.parse_response(make_response(200, raw=raw, headers={"x-request-id": "req_m"}))
    assert info.value.kind == "invalid_response"
    assert info.value.retryable is False
    assert info.value.provider == "openai"


RESP_MALFORMED = [b"nope", b"{}", b'{"output": "text"}', b"[]", b"null"]


@pytest.mark.parametrize("raw", RESP_MALFORMED)
def test_responses_malformed_2xx_is_invalid_response(raw: bytes) -> None:
    with pytest.raises(InvalidResponseError):
        RESP.parse_response(make_response(200, raw=raw, path=RESP_PATH))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(
        [
            "message",
            "function_call",
            "reasoning",
            "output_text",
            "refusal",
            "completed",
            "incomplete",
            "failed",
            "summary_text",
            "stop",
            "error",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "choices",
                    "message",
                    "content",
                    "tool_calls",
                    "function",
                    "name",
                    "usage",
                    "prompt_tokens",
                    "output",
                    "type",
                    "text",
                    "status",
                    "arguments",
                    "delta",
                    "error",
                    "id",
                    "index",
                    "finish_reason",
                    "prompt_tokens_details",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


FIELDS = st.sampled_from(
    [
        "type",
        "content",
        "summary",
        "arguments",
        "call_id",
        "name",
        "id",
        "text",
        "refusal",
        "function",
        "tool_calls",
        "reasoning",
        "reasoning_content",
        "index",
        "delta",
    ]
)
ITEM = st.builds(
    lambda kind, rest: {**rest, "type": kind},
    st.sampled_from(["message", "function_call", "reasoning", "output_text", "refusal"]),
    st.dictionaries(FIELDS, JSON, max_size=5),
)
SHAPED = st.one_of(
    st.fixed_dictionaries(
        {
            "output": st.lists(ITEM, max_size=3),
            "status": JSON,
            "usage": JSON,
            "incomplete_details": JSON,
        }
    ),
    st.fixed_dictionaries(
        {
            "choices": st.lists(
                st.fixed_dictionaries(
                    {"message": st.dictionaries(FIELDS, JSON, max_size=5), "finish_reason": JSON}
                ),
                min_size=1,
                max_size=2,
            ),
            "usage": JSON,
        }
    ),
)


@settings(max_examples=400, deadline=None)
@given(SHAPED)
def test_shaped_bodies_raise_only_llm_errors(doc: Any) -> None:
    raw = json.dumps(doc).encode()
    for adapter, path in ((CHAT, CHAT_PATH), (RESP, RESP_PATH)):
        with contextlib.suppress(LLMError):
            out = adapter.parse_response(make_response(200, raw=raw, path=path))
            assert isinstance(out.text, str)
            assert all(isinstance(c.arguments, str) for c in out.tool_calls)
    for kind in ("response.completed", "response.output_item.added", "response.output_item.done"):
        item = doc["output"][0] if doc.get("output") else doc
        parser = RESP.stream_parser(make_response(200, path=RESP_PATH))
        with contextlib.suppress(LLMError):
            parser.feed(SSEEvent(kind, json.dumps({"type": kind, "response": doc, "item": item})))
            parser.finish()


EVENT_TYPES = [
    "response.created",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "response.output_item.added",
    "response.output_item.done",
    "response.output_text.delta",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "error",
]


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_parse_response_raises_only_llm_errors(doc: Any) -> None:
    raw = json.dumps(doc).encode()
    for adapter, path in ((CHAT, CHAT_PATH), (RESP, RESP_PATH)):
        try:
            out = adapter.parse_response(make_response(200, raw=raw, path=path))
        except LLMError:
            continue
        assert isinstance(out.text, str)
        assert all(isinstance(c.arguments, str) for c in out.tool_calls)


@settings(max_examples=300, deadline=None)
@given(JSON, st.sampled_from(EVENT_TYPES), st.lists(JSON, max_size=3))
def test_stream_parsers_raise_only_llm_errors(doc: Any, kind: str, more: list[Any]) -> None:
    as_obj = doc if isinstance(doc, dict) else {}
    chunks = [
        doc,
        {"choices": [doc]},
        {"choices": [{"delta": doc, "finish_reason": "stop"}]},
        {"type": kind, **as_obj},
        {"type": kind, "response": doc, "item": doc},
        *more,
        "[DONE]",
    ]
    for adapter, path in ((CHAT, CHAT_PATH), (RESP, RESP_PATH)):
        parser = adapter.stream_parser(make_response(200, path=path))
        try:
            for chunk in chunks:
                data = chunk if isinstance(chunk, str) else json.dumps(chunk)
                parser.feed(SSEEvent(kind, data))
            out = parser.finish()
        except LLMError:
            continue
        assert isinstance(out.text, str)
        assert all(isinstance(c.arguments, str) for c in out.tool_calls)


def responses_body(output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "gpt-5-nano",
        "output": output,
        "usage": {
            "input_tokens": 1515,
            "input_tokens_details": {"cached_tokens": 1390},
            "output_tokens": 284,
            "output_tokens_details": {"reasoning_tokens": 256},
        },
    }
    body.update(extra)
    return body


MSG = {
    "type": "message",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Paris", "annotations": []}],
}
REASONING = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thinking"}]}
CALL = {"type": "function_call", "call_id": "call_9", "name": "multiply", "arguments": '{"a":1}'}


def test_responses_parse_text_reasoning_usage() -> None:
    out = RESP.parse_response(
        make_response(
            200, responses_body([REASONING, MSG]), path=RESP_PATH, headers={"x-request-id": "r2"}
        )
    )
    assert out.text == "Paris"
    assert out.reasoning == "thinking"
    assert out.finish_reason == "stop"
    assert out.id == "resp_1"
    assert out.model == "gpt-5-nano"
    assert out.request_id == "r2"
    assert out.usage == Usage(
        input_tokens=1515, output_tokens=284, cache_read_tokens=1390, reasoning_tokens=256
    )


def test_responses_function_call_means_tool_calls() -> None:
    out = RESP.parse_response(make_response(200, responses_body([CALL]), path=RESP_PATH))
    assert out.tool_calls == (ToolCall("call_9", "multiply", '{"a":1}'),)
    assert out.finish_reason == "tool_calls"
    assert out.text == ""


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter"), ("other", "other")],
)
def test_responses_incomplete_finish_reason(reason: str, expected: str) -> None:
    body = responses_body([MSG], status="incomplete", incomplete_details={"reason": reason})
    assert RESP.parse_response(make_response(200, body, path=RESP_PATH)).finish_reason == expected


def test_responses_refusal_and_missing_usage() -> None:
    body = responses_body(
        [{"type": "message", "content": [{"type": "refusal", "refusal": "Cannot help."}]}]
    )
    del body["usage"]
    out = RESP.parse_response(make_response(200, body, path=RESP_PATH))
    assert out.refusal == "Cannot help."
    assert out.text == ""
    assert out.usage == Usage()


def test_responses_failed_body_raises_classified_error() -> None:
    body = responses_body([], status="failed", error={"code": "server_error", "message": "boom"})
    with pytest.raises(ServerError, match="boom"):
        RESP.parse_response(make_response(200, body, path=RESP_PATH))


# --------------------------------------------------------------------------- classify


def err_body(message: str, etype: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


CASES: list[tuple[str, int, Any, str, bool]] = [
    # id, status, body, kind, retryable
    (
        "rate_limit",
        429,
        err_body("Rate limit reached", "requests", "rate_limit_exceeded"),
        "rate_limit",
        True,
    ),
    (
        "finetune_429",
        429,
        err_body("fine-tune rate-limited", "invalid_request_error", "rate_limit_exceeded"),
        "rate_limit",
        True,
    ),
    (
        "quota",
        429,
        err_body("You exceeded your current quota", "insufficient_quota", "insufficient_quota"),
        "quota_exhausted",
        False,
    ),
    (
        "overloaded_503",
        503,
        err_body("The engine is currently overloaded", "server_error"),
        "overloaded",
        True,
    ),
    ("overloaded_529", 529, None, "overloaded", True),
    (
        "server_500",
        500,
        err_body("The server had an error", "server_error", None),
        "server_error",
        True,
    ),
    ("bad_gateway_html", 502, b"<html><body>502 Bad Gateway</body></html>", "server_error", True),
    ("timeout_408", 408, err_body("Request timed out"), "timeout", True),
    (
        "bad_request",
        400,
        err_body("Unsupported parameter: 'stop'", "invalid_request_error", "unsupported_parameter"),
        "bad_request",
        False,
    ),
    (
        "context_code",
        400,
        err_body(
            "Your input exceeds the context window",
            "invalid_request_error",
            "context_length_exceeded",
        ),
        "context_length",
        False,
    ),
    (
        "context_message",
        400,
        err_body(
            "This model's maximum context length is 8192 tokens", "invalid_request_error", None
        ),
        "context_length",
        False,
    ),
    (
        "content_filter",
        400,
        err_body("flagged", "invalid_request_error", "content_filter"),
        "content_filter",
        False,
    ),
    (
        "invalid_prompt_flagged",
        400,
        err_body(
            "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
            "invalid_request_error",
            "invalid_prompt",
        ),
        "content_filter",
        False,
    ),
    (
        "content_policy",
        400,
        err_body("policy", "invalid_request_error", "content_policy_violation"),
        "content_filter",
        False,
    ),
    (
        "auth",
        401,
        err_body(
            "Incorrect API key provided: invalid-key.", "invalid_request_error", "invalid_api_key"
        ),
        "auth",
        False,
    ),
    (
        "permission",
        403,
        err_body(
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        ),
        "permission",
        False,
    ),
    (
        "not_found_404",
        404,
        err_body("The model `x` does not exist", "invalid_request_error", "model_not_found"),
        "not_found",
        False,
    ),
    ("empty_body_500", 500, b"", "server_error", True),
    ("ollama_string_error", 404, {"error": "model 'llama9' not found"}, "not_found", False),
    (
        "vllm_shape",
        400,
        {"object": "error", "message": "bad", "type": "BadRequestError", "code": 400},
        "bad_request",
        False,
    ),
]


@pytest.mark.parametrize("adapter", [CHAT, RESP], ids=["chat", "responses"])
@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_classify_every_kind(
    adapter: Any, status: int, body: Any, kind: str, retryable: bool
) -> None:
    raw = body if isinstance(body, bytes) else None
    response = make_response(
        status, None if raw is not None else body, raw=raw, headers={"x-request-id": "req_e"}
    )
    err = adapter.classify(response)
    assert isinstance(err, LLMError)
    assert err.kind == kind
    assert err.retryable is retryable
    assert err.status == status
    assert err.request_id == "req_e"
    assert err.provider == "openai"
    assert err.message  # never empty, even for an empty body


def test_model_not_found_is_not_found_even_as_400_on_responses() -> None:
    body = err_body(
        "The requested model 'gpt-5.2-proo' does not exist.",
        "invalid_request_error",
        "model_not_found",
    )
    err = RESP.classify(make_response(400, body, path=RESP_PATH))
    assert isinstance(err, NotFoundError)
    assert err.status == 400
    assert err.code == "model_not_found"


def test_rate_limit_too_large_message_is_not_context_length() -> None:
    body = err_body(
        "Request too large for gpt-4.1 on tokens per min (TPM): Limit 400000, Requested 2500013.",
        "tokens",
        "rate_limit_exceeded",
    )
    err = CHAT.classify(make_response(429, body))
    assert isinstance(err, RateLimitError)


def test_non_json_error_body_keeps_a_snippet() -> None:
    err = CHAT.classify(make_response(502, raw=b"upstream connect error"))
    assert err.kind == "server_error"
    assert "upstream connect error" in err.message


def test_auth_message_echoing_a_partial_key_is_masked() -> None:
    partial = "sk-proj-abcdEFGH1234********************************wxYZ"
    body = err_body(
        f"Incorrect API key provided: {partial}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    )
    err = CHAT.classify(make_response(401, body))
    assert err.kind == "auth"
    for text in (err.message, str(err), repr(err)):
        assert "abcdEFGH1234" not in text
        assert "[REDACTED]" in text


def test_classify_never_leaks_the_request_key() -> None:
    request = CHAT.build_request(req(), base_url="http://t/v1", api_key=APIKey(KEY))
    response = httpx.Response(
        401, json=err_body(f"Incorrect API key provided: {KEY}."), request=request
    )
    err = CHAT.classify(response)
    assert KEY not in str(err)
    assert KEY not in repr(err)


@pytest.mark.parametrize("key", ["gsk_abcdefghijklmnop1234", "AIzaSyD-abcdefghijklmnop"])
def test_a_key_without_an_sk_prefix_echoed_by_a_compatible_server_is_masked(key: str) -> None:
    # OpenAI's wording, as OpenAI-compatible servers (Groq, gateways) echo their own keys.
    err = CHAT.classify(make_response(401, err_body(f"Incorrect API key provided: {key}.")))
    for text in (err.message, str(err), repr(err)):
        assert key not in text
        assert "[REDACTED]" in text


# --------------------------------------------------------------------------- retry_after


def test_retry_after_ms_wins() -> None:
    err = CHAT.classify(
        make_response(
            429, err_body("slow down"), headers={"retry-after-ms": "1500", "retry-after": "9"}
        )
    )
    assert err.retry_after == pytest.approx(1.5)


def test_retry_after_seconds() -> None:
    err = CHAT.classify(make_response(503, headers={"retry-after": "7"}))
    assert err.kind == "overloaded"
    assert err.retry_after == pytest.approx(7.0)


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    err = CHAT.classify(make_response(429, err_body("slow"), headers={"retry-after": when}))
    assert err.retry_after is not None
    assert 100 < err.retry_after <= 121


@pytest.mark.parametrize(
    ("message", "etype", "headers", "expected"),
    [
        (
            "Rate limit on tokens per min (TPM)",
            "tokens",
            {"x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-reset-requests": "20ms"},
            360.0,
        ),
        (
            "Rate limit on requests per min (RPM)",
            "requests",
            {"x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-reset-requests": "20ms"},
            0.02,
        ),
        (
            "Rate limit reached",
            None,
            {
                "x-ratelimit-reset-tokens": "1s",
                "x-ratelimit-reset-requests": "6m0s",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-remaining-requests": "12",
            },
            1.0,
        ),
        (
            "Rate limit reached",
            None,
            {"x-ratelimit-reset-tokens": "1s", "x-ratelimit-reset-requests": "1m30s"},
            90.0,
        ),
        (
            "Rate limit reached",
            None,
            {"x-ratelimit-reset-tokens": "X-RATELIMIT-RESET-TOKENS-XXX"},
            None,
        ),
    ],
)
def test_retry_after_from_ratelimit_reset_headers(
    message: str, etype: str | None, headers: dict[str, str], expected: float | None
) -> None:
    err = CHAT.classify(
        make_response(429, err_body(message, etype, "rate_limit_exceeded"), headers=headers)
    )
    assert isinstance(err, RateLimitError)
    assert err.retry_after == (pytest.approx(expected) if expected is not None else None)


def test_retry_after_header_beats_reset_headers_and_resets_only_apply_to_429() -> None:
    headers = {"retry-after": "3", "x-ratelimit-reset-tokens": "6m0s"}
    assert CHAT.classify(make_response(429, err_body("x"), headers=headers)).retry_after == 3.0
    server = CHAT.classify(
        make_response(500, err_body("x"), headers={"x-ratelimit-reset-tokens": "6m0s"})
    )
    assert server.retry_after is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1s", 1.0),
        ("0s", 0.0),
        ("1h2m3.5s", 3723.5),
        ("1.5", 1.5),
        ("", None),
        ("soon", None),
        ("-1", None),
        ("X-RATELIMIT-XXX", None),
    ],
)
def test_parse_reset_duration(value: str, seconds: float | None) -> None:
    got = parse_reset_duration(value)
    assert got == (pytest.approx(seconds) if seconds is not None else None)


def test_x_should_retry_overrides() -> None:
    no = CHAT.classify(make_response(500, err_body("x"), headers={"x-should-retry": "false"}))
    assert no.kind == "server_error"
    assert no.retryable is False
    yes = CHAT.classify(make_response(400, err_body("x"), headers={"x-should-retry": "true"}))
    assert yes.kind == "bad_request"
    assert yes.retryable is True


# --------------------------------------------------------------------------- chat streams


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
        "usage": None,
        "obfuscation": "abc",
    }
    body.update(extra)
    return body


USAGE_CHUNK = chunk(
    usage={
        "prompt_tokens": 54,
        "completion_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
)
MODERATION_CHUNK = chunk(moderation={"input": {"flagged": False}})


def test_chat_stream_text_usage_and_events() -> None:
    body = sse_body(
        chunk({"role": "assistant", "content": "", "refusal": None}),
        chunk({"content": "Par"}),
        chunk({"content": "is."}),
        chunk({}, "stop"),
        USAGE_CHUNK,
        MODERATION_CHUNK,
    )
    out, events = run_stream(CHAT, body)
    assert out.text == "Paris."
    assert out.finish_reason == "stop"
    assert out.usage == Usage(
        input_tokens=54, output_tokens=20, cache_read_tokens=0, reasoning_tokens=0
    )
    assert out.model == "gpt-4o-mini"
    assert out.id == "chatcmpl-s"
    assert out.request_id == "req_s"
    assert [e.type for e in events] == ["meta", "text", "text", "finish", "usage"]
    assert "".join(e.text for e in events if e.type == "text") == "Paris."


def test_chat_stream_assembles_parallel_tool_calls_by_index() -> None:
    def tc(index: int, **kw: Any) -> dict[str, Any]:
        return chunk({"tool_calls": [{"index": index, **kw}]})

    body = sse_body(
        tc(0, id="call_a", type="function", function={"name": "add", "arguments": ""}),
        tc(1, id="call_b", type="function", function={"name": "mul", "arguments": '{"x"'}),
        tc(0, function={"arguments": '{"a":'}),
        tc(1, function={"arguments": ":2}"}),
        tc(0, function={"arguments": "1}"}),
        chunk({}, "tool_calls"),
        USAGE_CHUNK,
    )
    out, events = run_stream(CHAT, body)
    assert out.tool_calls == (
        ToolCall("call_a", "add", '{"a":1}'),
        ToolCall("call_b", "mul", '{"x":2}'),
    )
    assert out.finish_reason == "tool_calls"
    firsts = [e for e in events if e.type == "tool_call" and e.id]
    assert [(e.index, e.id, e.name) for e in firsts] == [(0, "call_a", "add"), (1, "call_b", "mul")]


def test_chat_stream_without_usage_chunk_reports_none() -> None:
    out, _ = run_stream(CHAT, sse_body(chunk({"content": "hi"}), chunk({}, "length")))
    assert out.usage == Usage()
    assert out.finish_reason == "length"


def test_chat_stream_reasoning_and_refusal_stay_out_of_text() -> None:
    body = sse_body(
        chunk({"reasoning_content": "hmm "}),
        chunk({"refusal": "I can't"}),
        chunk({"refusal": " help."}),
        chunk({}, "stop"),
    )
    out, _ = run_stream(CHAT, body)
    assert out.text == ""
    assert out.reasoning == "hmm "
    assert out.refusal == "I can't help."


def test_chat_stream_midstream_error_raises_retryable_server_error() -> None:
    body = sse_body(
        chunk({"content": "1, 2"}),
        {
            "error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
        USAGE_CHUNK,
    )
    with pytest.raises(ServerError) as info:
        run_stream(CHAT, body)
    assert info.value.retryable is True
    assert info.value.request_id == "req_s"


@pytest.mark.parametrize(
    ("error", "cls", "retryable"),
    [
        ({"message": "overloaded", "type": "overloaded_error"}, "overloaded", True),
        ({"message": "slow", "type": "tokens", "code": "rate_limit_exceeded"}, "rate_limit", True),
        (
            {"message": "no money", "type": "insufficient_quota", "code": "insufficient_quota"},
            "quota_exhausted",
            False,
        ),
        ({"message": "bad", "type": "invalid_request_error"}, "bad_request", False),
        ({"message": "flagged", "code": "content_filter"}, "content_filter", False),
        ({"message": "?", "type": "mystery"}, "server_error", True),
    ],
)
def test_chat_stream_error_kinds(error: dict[str, Any], cls: str, retryable: bool) -> None:
    with pytest.raises(LLMError) as info:
        run_stream(CHAT, sse_body(chunk({"content": "a"}), {"error": error}))
    assert info.value.kind == cls
    assert info.value.retryable is retryable


def test_chat_stream_truncated_without_done() -> None:
    body = sse_body(chunk({"content": "half"}), done=False)
    with pytest.raises(InvalidResponseError, match="truncated"):
        run_stream(CHAT, body)


def test_chat_stream_cut_mid_event_is_truncated() -> None:
    body = sse_body(chunk({"content": "a"})) + b'data: {"id": "x", "choi'
    body = body.replace(b"data: [DONE]\n\n", b"")
    with pytest.raises(InvalidResponseError):
        run_stream(CHAT, body)


def test_chat_stream_clean_false_is_truncated_even_after_done() -> None:
    with pytest.raises(InvalidResponseError, match="truncated"):
        run_stream(CHAT, sse_body(chunk({"content": "a"})), clean=False)


def test_chat_stream_non_json_data_is_invalid() -> None:
    with pytest.raises(InvalidResponseError, match="not JSON"):
        run_stream(CHAT, sse_body("this is not json"))


def test_chat_stream_ignores_events_after_done() -> None:
    body = sse_body(chunk({"content": "a"})) + sse_body(chunk({"content": "b"}), done=False)
    out, _ = run_stream(CHAT, body)
    assert out.text == "a"


# --------------------------------------------------------------------------- responses streams


def rev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


RESP_START = rev(
    "response.created",
    response={"id": "resp_s", "model": "gpt-5", "status": "in_progress", "output": []},
)


def completed(
    output: list[dict[str, Any]], status: str = "completed", **extra: Any
) -> dict[str, Any]:
    return rev(
        f"response.{status}",
        response={
            "id": "resp_s",
            "model": "gpt-5",
            "status": status,
            "output": output,
            "usage": {
                "input_tokens": 11,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 5,
                "output_tokens_details": {"reasoning_tokens": 0},
            },
            **extra,
        },
    )


def test_responses_stream_text() -> None:
    body = sse_body(
        RESP_START,
        rev("response.output_item.added", output_index=0, item={"id": "msg_1", "type": "message"}),
        rev("response.reasoning_summary_text.delta", delta="think"),
        rev("response.output_text.delta", item_id="msg_1", delta="po", obfuscation="zz"),
        rev("response.output_text.delta", item_id="msg_1", delta="ng"),
        rev("response.output_text.done", item_id="msg_1", text="pong"),
        completed([MSG]),
        done=False,
        events=True,
    )
    out, events = run_stream(RESP, body, path=RESP_PATH)
    assert out.text == "pong"
    assert out.reasoning == "think"
    assert out.finish_reason == "stop"
    assert out.usage == Usage(
        input_tokens=11, output_tokens=5, cache_read_tokens=0, reasoning_tokens=0
    )
    assert out.id == "resp_s"
    assert out.model == "gpt-5"
    assert out.request_id == "req_s"
    assert [e.type for e in events] == ["meta", "reasoning", "text", "text", "usage", "finish"]


def test_responses_stream_function_call_arguments() -> None:
    item = {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "call_x",
        "name": "multiply",
        "arguments": "",
    }
    body = sse_body(
        RESP_START,
        rev("response.output_item.added", output_index=0, item=item),
        rev(
            "response.function_call_arguments.delta", item_id="fc_1", output_index=0, delta='{"a":'
        ),
        rev("response.function_call_arguments.delta", item_id="fc_1", output_index=0, delta="2}"),
        rev("response.function_call_arguments.done", item_id="fc_1", arguments='{"a":2}'),
        rev("response.output_item.done", output_index=0, item={**item, "arguments": '{"a":2}'}),
        completed([{**item, "arguments": '{"a":2}'}]),
        # OpenRouter's /responses stream adds a [DONE]; it must not hurt.
        events=True,
    )
    out, events = run_stream(RESP, body, path=RESP_PATH)
    assert out.tool_calls == (ToolCall("call_x", "multiply", '{"a":2}'),)
    assert out.finish_reason == "tool_calls"
    deltas = [e.text for e in events if e.type == "tool_call"]
    assert "".join(deltas) == '{"a":2}'


def test_responses_stream_incomplete_is_length() -> None:
    body = sse_body(
        RESP_START,
        rev("response.output_text.delta", delta="long"),
        completed([MSG], status="incomplete", incomplete_details={"reason": "max_output_tokens"}),
        done=False,
    )
    out, _ = run_stream(RESP, body, path=RESP_PATH)
    assert out.finish_reason == "length"
    assert out.text == "long"


def test_responses_stream_failed_raises() -> None:
    body = sse_body(
        RESP_START,
        rev(
            "response.failed",
            response={
                "id": "resp_s",
                "status": "failed",
                "error": {"code": "server_error", "message": "oops"},
            },
        ),
        done=False,
    )
    with pytest.raises(ServerError, match="oops"):
        run_stream(RESP, body, path=RESP_PATH)


@pytest.mark.parametrize(
    ("payload", "cls"),
    [
        (
            rev("error", code="context_length_exceeded", message="too long", param=None),
            ContextLengthError,
        ),
        (rev("error", code="insufficient_quota", message="no quota"), QuotaExhaustedError),
        (rev("error", error={"type": "server_error", "message": "x"}), ServerError),
        (rev("error", code="content_policy_violation", message="no"), ContentFilterError),
    ],
)
def test_responses_stream_error_event(payload: dict[str, Any], cls: type[LLMError]) -> None:
    with pytest.raises(cls):
        run_stream(RESP, sse_body(RESP_START, payload, done=False, events=True), path=RESP_PATH)


def test_responses_stream_truncated_without_completed() -> None:
    body = sse_body(RESP_START, rev("response.output_text.delta", delta="x"), done=True)
    with pytest.raises(InvalidResponseError, match="truncated"):
        run_stream(RESP, body, path=RESP_PATH)


def test_responses_stream_clean_false_is_truncated() -> None:
    body = sse_body(RESP_START, completed([MSG]), done=False)
    with pytest.raises(InvalidResponseError):
        run_stream(RESP, body, path=RESP_PATH, clean=False)


def test_responses_stream_non_json_is_invalid() -> None:
    with pytest.raises(InvalidResponseError):
        run_stream(RESP, sse_body("{broken", done=False), path=RESP_PATH)


# --------------------------------------------------------------------------- real cassettes

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-cassettes"


def _load(path: Path) -> httpx.Response:
    import gzip

    import yaml

    doc = yaml.safe_load(path.read_text())
    it = (doc.get("interactions") or doc.get("http_interactions"))[0]
    rq, rs = it["request"], it["response"]
    if "parsed_body" in rs:
        content = json.dumps(rs["parsed_body"]).encode()
    else:
        s = (rs.get("body") or {}).get("string") or b""
        content = s.encode() if isinstance(s, str) else s
        if content[:2] == b"\x1f\x8b":
            content = gzip.decompress(content)
    headers = [
        (k, str(v))
        for k, vs in (rs.get("headers") or {}).items()
        for v in (vs if isinstance(vs, list) else [vs])
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    request = httpx.Request(rq["method"].upper(), rq["uri"])
    return httpx.Response(rs["status"]["code"], headers=headers, content=content, request=request)


OPENAI_FILES = sorted(REAL.glob("openai__*.yaml")) if REAL.is_dir() else []


@pytest.mark.real_cassettes
@pytest.mark.skipif(not OPENAI_FILES, reason="shared real cassettes not present")
@pytest.mark.parametrize("path", OPENAI_FILES, ids=[p.stem for p in OPENAI_FILES])
def test_real_openai_cassettes(path: Path) -> None:
    response = _load(path)
    adapter = RESP if response.request.url.path.endswith("/responses") else CHAT
    scenario = path.stem.split("__")[1]
    if response.status_code >= 400:
        err = adapter.classify(response)
        expected = {
            "error_400_context_length": "context_length",
            "error_400_invalid_request": "bad_request",
            "error_401_auth": "auth",
            "error_429_insufficient_quota": "quota_exhausted",
            "error_429_rate_limit": "rate_limit",
            "error_500_server": "server_error",
            "error_model_not_found": "not_found",
        }[scenario]
        assert err.kind == expected
        return
    if "event-stream" in response.headers.get("content-type", ""):
        if "midstream_error" in scenario:
            with pytest.raises(ServerError):
                run_stream(adapter, response.content, path=response.request.url.path)
            return
        out, _ = run_stream(adapter, response.content, path=response.request.url.path)
    else:
        out = adapter.parse_response(response)
    assert out.usage.input_tokens is not None
    assert out.usage.output_tokens is not None
    if "tool_call" in scenario:
        assert out.tool_calls
        assert out.finish_reason == "tool_calls"
    elif "refusal" in scenario:
        assert out.refusal
    else:
        assert out.text or out.tool_calls
    if "usage_cached" in scenario:
        assert out.usage.cache_read_tokens
    if "usage_reasoning" in scenario:
        assert out.usage.reasoning_tokens
