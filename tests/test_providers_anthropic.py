"""AnthropicAdapter: request building, JSON and SSE parsing, error classification."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from llmkit.errors import (
    AuthError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    InvalidResponseError,
    LLMError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from llmkit.providers.anthropic import AnthropicAdapter
from llmkit.providers.anthropic_errors import ratelimit_reset_delay
from llmkit.secrets import APIKey
from llmkit.sse import SSEDecoder
from llmkit.types import ChatRequest, Message, Tool, ToolCall

A = AnthropicAdapter()
URL = "https://api.anthropic.com/v1/messages"
KEY = "sk-ant-api03-SECRETSECRETSECRET"


def _resp(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(
        status, headers=headers or {}, content=content, request=httpx.Request("POST", URL)
    )


def _body(req: httpx.Request) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(req.content)
    return out


def _stream(body: str, *, status: int = 200) -> Any:
    """Run the SSE body through the adapter's stream parser; returns (events, response)."""
    resp = _resp(status, body.encode(), {"content-type": "text/event-stream"})
    parser = A.stream_parser(resp)
    dec = SSEDecoder()
    events = [out for ev in dec.feed(body) for out in parser.feed(ev)]
    tail, clean = dec.close()
    events += [out for ev in tail for out in parser.feed(ev)]
    return events, parser.finish(clean=clean)


def _sse(*events: dict[str, Any], pad: str = "") -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)[:-1]}{pad}}}\n\n" for e in events)


# ----------------------------------------------------------------------------- build_request


def test_build_request_lifts_system_and_maps_tools() -> None:
    req = ChatRequest(
        model="claude-haiku-4-5",
        messages=(
            Message("system", "Be terse."),
            Message("user", "Weather in Rome?"),
            Message(
                "assistant",
                "Checking.",
                tool_calls=(ToolCall("toolu_1", "weather", '{"city": "Rome"}'),),
            ),
            Message("tool", "22C sunny", tool_call_id="toolu_1"),
            Message("user", "Thanks"),
        ),
        tools=(Tool("weather", "Current weather", {"type": "object", "properties": {}}),),
        extra={"top_k": 5},
    )
    http = A.build_request(req, base_url=A.default_base_url, api_key=APIKey(KEY))
    assert http.method == "POST"
    assert str(http.url) == URL
    assert http.headers["x-api-key"] == KEY
    assert http.headers["anthropic-version"] == "2023-06-01"
    body = _body(http)
    assert body["system"] == "Be terse."
    assert body["max_tokens"] == 1024  # required by Anthropic, defaulted
    assert body["top_k"] == 5
    assert "stream" not in body
    assert body["tools"] == [
        {
            "name": "weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {}},
        }
    ]
    roles = [t["role"] for t in body["messages"]]
    assert roles == ["user", "assistant", "user"]
    assistant = body["messages"][1]["content"]
    assert assistant[0] == {"type": "text", "text": "Checking."}
    assert assistant[1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "weather",
        "input": {"city": "Rome"},
    }
    last = body["messages"][2]["content"]
    assert last[0] == {"type": "tool_result", "tool_use_id": "toolu_1", "content": "22C sunny"}
    assert last[1] == {"type": "text", "text": "Thanks"}
    # The key travels in its header only.
    assert KEY not in http.content.decode()
    assert KEY not in str(http.url)


def test_build_request_stream_max_tokens_and_v1_base_url() -> None:
    req = ChatRequest("m", (Message("user", "hi"),), max_tokens=7, stream=True, temperature=0.2)
    http = A.build_request(req, base_url="http://127.0.0.1:9/v1/", api_key=None)
    assert str(http.url) == "http://127.0.0.1:9/v1/messages"
    assert "x-api-key" not in http.headers
    body = _body(http)
    assert body["stream"] is True
    assert body["max_tokens"] == 7
    assert body["temperature"] == 0.2
    assert "system" not in body


def test_build_request_rejects_bad_tool_messages() -> None:
    no_id = ChatRequest("m", (Message("tool", "x"),))
    with pytest.raises(ValueError, match="tool_call_id"):
        A.build_request(no_id, base_url=A.default_base_url, api_key=None)
    bad_args = ChatRequest(
        "m", (Message("assistant", "", tool_calls=(ToolCall("t", "f", "[1]"),)),)
    )
    with pytest.raises(ValueError, match="JSON object"):
        A.build_request(bad_args, base_url=A.default_base_url, api_key=None)


# ----------------------------------------------------------------------------- parse_response


def test_parse_response_text_thinking_tools_and_inclusive_usage() -> None:
    body = {
        "id": "msg_1",
        "model": "claude-x",
        "type": "message",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "xxx"},
            {"type": "text", "text": "Hello "},
            {"type": "tool_use", "id": "toolu_9", "name": "calc", "input": {"x": 1}},
            {"type": "text", "text": "world"},
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 4,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 50,
            "output_tokens": 9,
        },
    }
    r = A.parse_response(_resp(200, body, {"request-id": "req_abc"}))
    assert r.text == "Hello world"
    assert r.reasoning == "hmm"
    assert r.tool_calls == (ToolCall("toolu_9", "calc", '{"x": 1}'),)
    assert r.finish_reason == "tool_calls"
    assert r.usage.input_tokens == 154
    assert r.usage.output_tokens == 9
    assert r.usage.cache_read_tokens == 50
    assert r.usage.cache_write_tokens == 100
    assert r.usage.reasoning_tokens is None
    assert (r.request_id, r.id, r.model, r.provider) == (
        "req_abc",
        "msg_1",
        "claude-x",
        "anthropic",
    )


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("pause_turn", "pause_turn"),
        (None, None),
    ],
)
def test_finish_reason_normalized(stop: str | None, finish: str | None) -> None:
    body = {"content": [{"type": "text", "text": "x"}], "stop_reason": stop}
    assert A.parse_response(_resp(200, body)).finish_reason == finish


def test_refusal_sets_content_filter_and_refusal() -> None:
    body = {"content": [{"type": "text", "text": "I can't help."}], "stop_reason": "refusal"}
    r = A.parse_response(_resp(200, body))
    assert r.finish_reason == "content_filter"
    assert r.refusal == "I can't help."


def test_usage_not_reported_stays_none() -> None:
    r = A.parse_response(_resp(200, {"content": []}))
    assert r.usage.input_tokens is None
    assert r.usage.output_tokens is None
    assert r.usage.cache_read_tokens is None
    r = A.parse_response(_resp(200, {"content": [], "usage": {"output_tokens": 3}}))
    assert (r.usage.input_tokens, r.usage.output_tokens) == (None, 3)


def test_request_id_placeholder_is_not_an_id() -> None:
    r = A.parse_response(_resp(200, {"content": []}, {"request-id": "<REQUEST_ID>"}))
    assert r.request_id is None


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"content": "text"}', b'{"content": [1]}']
)
def test_malformed_body_is_invalid_response(body: bytes) -> None:
    with pytest.raises(InvalidResponseError):
        A.parse_response(_resp(200, body))


def test_error_object_in_200_body_is_classified() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(OverloadedError):
        A.parse_response(_resp(200, body))


# ----------------------------------------------------------------------------- classify


def _err(etype: str, message: str = "boom") -> dict[str, Any]:
    return {"type": "error", "error": {"type": etype, "message": message}}


@pytest.mark.parametrize(
    ("status", "etype", "message", "cls", "retryable"),
    [
        (400, "invalid_request_error", "messages: field required", BadRequestError, False),
        (400, "invalid_request_error", "prompt is too long: 3 > 2", ContextLengthError, False),
        (
            400,
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit",
            ContextLengthError,
            False,
        ),
        (
            400,
            "invalid_request_error",
            "Your credit balance is too low",
            QuotaExhaustedError,
            False,
        ),
        (401, "authentication_error", "invalid x-api-key", AuthError, False),
        (403, "permission_error", "no", PermissionDeniedError, False),
        (404, "not_found_error", "model: x", NotFoundError, False),
        (413, "request_too_large", "too big", BadRequestError, False),
        (429, "rate_limit_error", "slow down", RateLimitError, True),
        (500, "api_error", "Internal server error", ServerError, True),
        (529, "overloaded_error", "Overloaded", OverloadedError, True),
        (400, "billing_error", "pay up", QuotaExhaustedError, False),
    ],
)
def test_classify_by_type_and_status(
    status: int, etype: str, message: str, cls: type, retryable: bool
) -> None:
    err = A.classify(_resp(status, _err(etype, message)))
    assert type(err) is cls
    assert err.retryable is retryable
    assert err.status == status
    assert err.code == etype
    assert err.provider == "anthropic"


def test_classify_529_without_body_or_reason() -> None:
    err = A.classify(_resp(529, b"", {"x-should-retry": "true"}))
    assert isinstance(err, OverloadedError)
    assert err.retryable is True


def test_x_should_retry_overrides() -> None:
    err = A.classify(_resp(500, _err("api_error"), {"x-should-retry": "false"}))
    assert isinstance(err, ServerError)
    assert err.retryable is False


def test_classify_non_json_body_keeps_status_mapping() -> None:
    err = A.classify(_resp(502, b"<html>Bad gateway</html>"))
    assert isinstance(err, ServerError)
    assert "Bad gateway" in err.message


def test_classify_request_id_from_header_then_body() -> None:
    body = {**_err("api_error"), "request_id": "req_body"}
    assert A.classify(_resp(500, body, {"request-id": "req_hdr"})).request_id == "req_hdr"
    assert A.classify(_resp(500, body, {"request-id": "<REQUEST_ID>"})).request_id == "req_body"


@pytest.mark.parametrize(("status", "etype"), [(500, "api_error"), (418, None)])
def test_classify_placeholder_id_is_none_on_both_paths(status: int, etype: str | None) -> None:
    """By type (make_error) and by status (error_for_status) alike: no placeholder id, no
    cf-ray standing in for one, and x-should-retry honoured."""
    headers = {"request-id": "<REQUEST_ID>", "cf-ray": "abc-SJC", "x-should-retry": "false"}
    body = _err(etype) if etype else {"oops": 1}
    err = A.classify(_resp(status, body, headers))
    assert err.request_id is None
    assert err.retryable is False
    assert err.status == status


def test_429_retry_after_header_wins() -> None:
    headers = {
        "retry-after": "7",
        "date": "Mon, 11 Aug 2025 23:46:00 GMT",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2025-08-11T23:47:00Z",
    }
    assert A.classify(_resp(429, _err("rate_limit_error"), headers)).retry_after == 7.0


def test_429_without_retry_after_uses_exhausted_bucket_reset() -> None:
    headers = {
        "date": "Mon, 11 Aug 2025 23:46:00 GMT",
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": "2025-08-11T23:47:12Z",
        "anthropic-ratelimit-requests-remaining": "3999",
        "anthropic-ratelimit-requests-reset": "2025-08-11T23:46:01Z",
        "anthropic-ratelimit-tokens-reset": "1970-01-01T00:00:00Z",
    }
    err = A.classify(_resp(429, _err("rate_limit_error"), headers))
    assert err.retry_after == pytest.approx(72.0)


def test_ratelimit_reset_ignores_epoch_and_placeholders() -> None:
    h = httpx.Headers(
        {
            "anthropic-ratelimit-tokens-reset": "1970-01-01T00:00:00Z",
            "anthropic-ratelimit-requests-reset": "X-RATELIMIT-RESET-XXX",
        }
    )
    assert ratelimit_reset_delay(h, now=0.0) is None
    # No bucket says it is empty: the earliest usable reset.
    h = httpx.Headers(
        {
            "anthropic-ratelimit-tokens-reset": "2025-01-01T00:00:30Z",
            "anthropic-ratelimit-requests-reset": "2025-01-01T00:00:10+00:00",
        }
    )
    now = 1735689600.0  # 2025-01-01T00:00:00Z
    assert ratelimit_reset_delay(h, now=now) == pytest.approx(10.0)
    # A reset already past means "now".
    assert ratelimit_reset_delay(h, now=now + 3600) == 0.0


def test_error_messages_never_carry_the_key() -> None:
    err = A.classify(_resp(401, _err("authentication_error", f"invalid x-api-key {KEY}")))
    assert KEY not in str(err)
    assert KEY not in repr(err)


# ----------------------------------------------------------------------------- streams

_START = {
    "type": "message_start",
    "message": {
        "id": "msg_s",
        "model": "claude-s",
        "content": [],
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1},
    },
}


def _delta(index: int, **delta: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def test_stream_text_thinking_tool_use_and_cumulative_usage() -> None:
    body = _sse(
        _START,
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {"type": "ping"},
        _delta(0, type="thinking_delta", thinking="let me "),
        _delta(0, type="thinking_delta", thinking="think"),
        _delta(0, type="signature_delta", signature="abc"),
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        _delta(1, type="text_delta", text="Hi "),
        _delta(1, type="text_delta", text="there"),
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_s", "name": "f", "input": {}},
        },
        _delta(2, type="input_json_delta", partial_json='{"a":'),
        _delta(2, type="input_json_delta", partial_json=" 1}"),
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 30},
        },
        {"type": "message_stop"},
        pad="        ",
    )
    events, r = _stream(body)
    assert r.text == "Hi there"
    assert r.reasoning == "let me think"
    assert r.tool_calls == (ToolCall("toolu_s", "f", '{"a": 1}'),)
    assert r.finish_reason == "tool_calls"
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.cache_read_tokens) == (15, 30, 5)
    assert (r.id, r.model) == ("msg_s", "claude-s")
    kinds = [e.type for e in events]
    assert kinds[0] == "meta"
    assert "".join(e.text for e in events if e.type == "text") == "Hi there"
    assert "".join(e.text for e in events if e.type == "reasoning") == "let me think"
    assert [e.finish_reason for e in events if e.type == "finish"] == ["tool_calls"]
    first_call = next(e for e in events if e.type == "tool_call")
    assert (first_call.id, first_call.name, first_call.index) == ("toolu_s", "f", 2)


def test_stream_error_event_raises_classified_retryable() -> None:
    body = _sse(_START) + (
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        '"message":"Overloaded"}        }\n\n'
    )
    with pytest.raises(OverloadedError) as info:
        _stream(body)
    assert info.value.retryable is True


@pytest.mark.parametrize(
    ("etype", "message", "expected"),
    [
        ("invalid_request_error", "Output blocked by content filtering policy", ContentFilterError),
        ("invalid_request_error", "Your credit balance is too low", QuotaExhaustedError),
        ("invalid_request_error", "prompt is too long: 210000 tokens", ContextLengthError),
        ("something_new", "?", ServerError),
    ],
)
def test_stream_error_event_classifies_like_a_status_error(
    etype: str, message: str, expected: type
) -> None:
    err = {"type": "error", "error": {"type": etype, "message": message}}
    with pytest.raises(LLMError) as info:
        _stream(_sse(_START) + f"event: error\ndata: {json.dumps(err)}\n\n")
    assert type(info.value) is expected


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_stream_is_invalid_response(cut: float) -> None:
    body = _sse(
        _START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        _delta(0, type="text_delta", text="partial"),
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
        {"type": "message_stop"},
    )
    # Cut inside an event (not JSON) or between events (no message_stop): invalid either way.
    with pytest.raises(InvalidResponseError):
        _stream(body[: int(len(body) * cut)])


def test_finish_not_clean_is_truncated_even_after_message_stop() -> None:
    parser = A.stream_parser(_resp(200, b""))
    dec = SSEDecoder()
    for ev in dec.feed(_sse(_START, {"type": "message_stop"})):
        parser.feed(ev)
    with pytest.raises(InvalidResponseError):
        parser.finish(clean=False)
    assert parser.finish(clean=True).text == ""


def test_stream_non_json_data_is_invalid_response() -> None:
    with pytest.raises(InvalidResponseError):
        _stream("event: message_start\ndata: {oops\n\n")
