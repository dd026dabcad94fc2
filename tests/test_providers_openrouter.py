"""OpenRouter adapter: its error shape, padding, comments, mid-stream errors, reasoning."""

from __future__ import annotations

import email.utils
import json
import time
from pathlib import Path
from typing import Any

import _real
import httpx
import pytest

from llmkit.errors import (
    BadRequestError,
    InvalidResponseError,
    LLMError,
    OverloadedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from llmkit.providers.openrouter import OpenRouterAdapter
from llmkit.secrets import APIKey
from llmkit.sse import SSEDecoder
from llmkit.types import ChatRequest, ChatResponse, Message, StreamEvent, Tool, ToolCall, Usage

OR = OpenRouterAdapter()
CHAT_PATH = "/api/v1/chat/completions"
RESP_PATH = "/api/v1/responses"
KEY = "sk-or-v1-" + "0123456789abcdef0123456789abcdefSECRET"  # a canary, split for scanners
PADDING = b"\n         \n\n         \n"


def make_response(
    status: int,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    path: str = CHAT_PATH,
    raw: bytes | None = None,
) -> httpx.Response:
    content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    request = httpx.Request("POST", f"https://openrouter.ai{path}")
    return httpx.Response(status, headers=headers or {}, content=content, request=request)


def sse_body(*items: Any, done: bool = True, comments: bool = True) -> bytes:
    out = [": OPENROUTER PROCESSING\n\n"] if comments else []
    for item in items:
        data = item if isinstance(item, str) else json.dumps(item)
        out.append(f"data: {data}\n\n")
        if comments:
            out.append(": OPENROUTER PROCESSING\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def run_stream(
    body: bytes, *, path: str = CHAT_PATH, clean: bool | None = None
) -> tuple[ChatResponse, list[StreamEvent]]:
    response = make_response(200, headers={"x-generation-id": "gen-1"}, path=path, raw=b"")
    parser = OR.stream_parser(response)
    decoder = SSEDecoder()
    events: list[StreamEvent] = []
    for i in range(0, len(body), 11):
        for ev in decoder.feed(body[i : i + 11]):
            events.extend(parser.feed(ev))
    tail, was_clean = decoder.close()
    for ev in tail:
        events.extend(parser.feed(ev))
    return parser.finish(clean=was_clean if clean is None else clean), events


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "gen-1",
        "provider": "Minimax",
        "model": "minimax/minimax-m2",
        "object": "chat.completion.chunk",
        "choices": []
        if delta is None
        else [
            {
                "index": 0,
                "delta": {"role": "assistant", **delta},
                "finish_reason": finish,
                "native_finish_reason": finish,
            }
        ],
    }
    body.update(extra)
    return body


USAGE = {
    "prompt_tokens": 3329,
    "completion_tokens": 53,
    "total_tokens": 3382,
    "cost": 0.00219855,
    "is_byok": False,
    "prompt_tokens_details": {"cached_tokens": 3211, "cache_write_tokens": 115},
    "completion_tokens_details": {"reasoning_tokens": 11},
}


# --------------------------------------------------------------------------- build_request


def test_build_request_chat_shape() -> None:
    request = OR.build_request(
        ChatRequest(
            model="anthropic/claude-4.5-haiku",
            messages=(Message("system", "be brief"), Message("user", "2+2?")),
            max_tokens=10,
            temperature=0.0,
            tools=(Tool("plus"),),
            stream=True,
            tags={"account": "acme"},
            extra={"provider": {"order": ["Anthropic"]}},
        ),
        base_url=OR.default_base_url,
        api_key=APIKey(KEY),
    )
    assert OR.name == "openrouter"
    assert str(request.url) == "https://openrouter.ai/api/v1/chat/completions"
    body = json.loads(request.content)
    assert body["max_tokens"] == 10
    assert "max_completion_tokens" not in body
    assert body["temperature"] == 0.0
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["provider"] == {"order": ["Anthropic"]}
    assert body["tools"][0]["function"]["name"] == "plus"
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert "acme" not in request.content.decode()
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert KEY.encode() not in request.content
    assert KEY not in str(request.url)
    assert [k for k, v in request.headers.items() if KEY in v] == ["authorization"]


def test_build_request_responses_api() -> None:
    adapter = OpenRouterAdapter(api="responses")
    request = adapter.build_request(
        ChatRequest(model="openai/gpt-5-nano", messages=(Message("user", "2+2?"),), max_tokens=128),
        base_url="https://openrouter.ai/api/v1",
        api_key=APIKey(KEY),
    )
    assert request.url.path == RESP_PATH
    body = json.loads(request.content)
    assert body["input"] == [{"role": "user", "content": "2+2?"}]
    assert body["max_output_tokens"] == 128


def test_unknown_api_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="api"):
        OpenRouterAdapter(api="completions")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- parse_response


def completion(**message: Any) -> dict[str, Any]:
    return {
        "id": "gen-2",
        "provider": "Amazon Bedrock",
        "model": "anthropic/claude-4.5-haiku-20251001",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "native_finish_reason": "end_turn",
                "message": {"role": "assistant", **message},
            }
        ],
        "usage": USAGE,
    }


def test_parse_padded_body_with_reasoning_and_cache_usage() -> None:
    raw = PADDING + json.dumps(completion(content="4", reasoning="2+2 is 4")).encode()
    out = OR.parse_response(make_response(200, raw=raw, headers={"x-generation-id": "gen-2"}))
    assert out.text == "4"
    assert out.reasoning == "2+2 is 4"
    assert out.provider == "openrouter"
    assert out.request_id == "gen-2"
    assert out.finish_reason == "stop"
    assert out.usage == Usage(
        input_tokens=3329,
        output_tokens=53,
        cache_read_tokens=3211,
        cache_write_tokens=115,
        reasoning_tokens=11,
    )


def test_parse_tool_call() -> None:
    body = completion(
        content=None,
        tool_calls=[
            {
                "type": "function",
                "index": 0,
                "id": "toolu_1",
                "function": {"name": "plus", "arguments": '{"a": 1}'},
            }
        ],
    )
    body["choices"][0]["finish_reason"] = "tool_calls"
    out = OR.parse_response(make_response(200, body))
    assert out.tool_calls == (ToolCall("toolu_1", "plus", '{"a": 1}'),)
    assert out.finish_reason == "tool_calls"


def test_usage_not_reported_is_none() -> None:
    body = completion(content="hi")
    body["usage"] = {"prompt_tokens": 17, "completion_tokens": 442}
    usage = OR.parse_response(make_response(200, body)).usage
    assert usage.input_tokens == 17
    assert usage.cache_read_tokens is None
    assert usage.cache_write_tokens is None
    assert usage.reasoning_tokens is None


def test_error_object_in_a_200_body_is_raised_classified() -> None:
    raw = PADDING + b'{"error": {"code": 502, "message": "Provider returned error"}}'
    with pytest.raises(ServerError) as info:
        OR.parse_response(make_response(200, raw=raw))
    assert info.value.status == 502


@pytest.mark.parametrize("raw", [PADDING, PADDING + b"{not json", b'{"choices": []}', b"[]"])
def test_malformed_2xx_is_invalid_response(raw: bytes) -> None:
    with pytest.raises(InvalidResponseError):
        OR.parse_response(make_response(200, raw=raw))


def test_responses_path_body_is_parsed_as_responses() -> None:
    body = {
        "id": "gen-3",
        "status": "completed",
        "model": "openai/gpt-5-nano",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "4"}]}],
        "usage": {"input_tokens": 20, "output_tokens": 19},
    }
    out = OR.parse_response(make_response(200, body, path=RESP_PATH))
    assert out.text == "4"
    assert out.finish_reason == "stop"
    assert out.usage == Usage(input_tokens=20, output_tokens=19)


# --------------------------------------------------------------------------- classify


def or_error(code: int, message: str, **metadata: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if metadata:
        err["metadata"] = metadata
    return {"error": err, "user_id": "user_x"}


CASES: list[tuple[str, int, Any, str, bool]] = [
    (
        "rate_limit_upstream",
        429,
        or_error(
            429,
            "Provider returned error",
            provider_name="Google",
            raw="gemini is temporarily rate-limited upstream",
        ),
        "rate_limit",
        True,
    ),
    (
        "credits",
        402,
        or_error(402, "Insufficient credits. Add more using https://openrouter.ai"),
        "quota_exhausted",
        False,
    ),
    ("overloaded", 503, or_error(503, "No instances available"), "overloaded", True),
    ("server_error", 500, or_error(500, "Internal Server Error"), "server_error", True),
    (
        "bad_gateway",
        502,
        or_error(
            502,
            "Provider returned error",
            provider_name="Together",
            raw={"error": "upstream exploded"},
        ),
        "server_error",
        True,
    ),
    ("timeout", 408, or_error(408, "Your request timed out"), "timeout", True),
    ("bad_request", 400, or_error(400, "Invalid model id format"), "bad_request", False),
    (
        "context_length",
        400,
        or_error(
            400,
            "This endpoint's maximum context length is 200000 "
            "tokens. However, you requested about 2500021 tokens",
            provider_name=None,
        ),
        "context_length",
        False,
    ),
    (
        "moderation",
        403,
        or_error(403, "Input was flagged", reasons=["harassment"], flagged_input="..."),
        "content_filter",
        False,
    ),
    ("auth", 401, or_error(401, "Missing Authentication header"), "auth", False),
    ("permission", 403, or_error(403, "Key is disabled"), "permission", False),
    ("not_found", 404, or_error(404, "No endpoints found for foo/bar"), "not_found", False),
    ("not_json", 502, b"<html>bad gateway</html>", "server_error", True),
    ("empty", 503, b"", "overloaded", True),
]


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classify_every_kind(status: int, body: Any, kind: str, retryable: bool) -> None:
    raw = body if isinstance(body, bytes) else PADDING + json.dumps(body).encode()
    err = OR.classify(make_response(status, raw=raw, headers={"x-generation-id": "gen-e"}))
    assert err.kind == kind
    assert err.retryable is retryable
    assert err.status == status
    assert err.provider == "openrouter"
    assert err.request_id == "gen-e"
    assert err.message


def test_upstream_details_are_in_the_message() -> None:
    body = or_error(
        429,
        "Provider returned error",
        provider_name="Google",
        raw="google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream",
    )
    err = OR.classify(make_response(429, body))
    assert "Google" in err.message
    assert "temporarily rate-limited upstream" in err.message
    assert err.code == "429"


def test_retry_after_headers() -> None:
    assert (
        OR.classify(
            make_response(429, or_error(429, "x"), headers={"retry-after": "12"})
        ).retry_after
        == 12.0
    )
    assert (
        OR.classify(
            make_response(429, or_error(429, "x"), headers={"retry-after-ms": "250"})
        ).retry_after
        == 0.25
    )
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    dated = OR.classify(make_response(503, or_error(503, "x"), headers={"retry-after": when}))
    assert dated.retry_after is not None
    assert 40 < dated.retry_after <= 61
    assert OR.classify(make_response(429, or_error(429, "x"))).retry_after is None


def test_retry_after_from_ratelimit_reset_epoch_ms() -> None:
    reset_ms = str(int((time.time() + 30) * 1000))
    err = OR.classify(
        make_response(
            429,
            or_error(429, "Rate limit exceeded: free-models-per-min"),
            headers={"x-ratelimit-reset": reset_ms, "x-ratelimit-remaining": "0"},
        )
    )
    assert err.retry_after is not None
    assert 20 < err.retry_after <= 31
    junk = OR.classify(make_response(429, or_error(429, "x"), headers={"x-ratelimit-reset": "?"}))
    assert junk.retry_after is None


def test_x_should_retry_overrides() -> None:
    err = OR.classify(make_response(502, or_error(502, "x"), headers={"x-should-retry": "false"}))
    assert err.kind == "server_error"
    assert err.retryable is False


def test_key_echo_is_masked() -> None:
    err = OR.classify(make_response(401, or_error(401, f"Invalid key {KEY}")))
    assert KEY not in str(err)
    assert KEY not in repr(err)
    assert "[REDACTED]" in err.message


# --------------------------------------------------------------------------- streams


def test_stream_with_comments_reasoning_and_usage() -> None:
    body = sse_body(
        chunk({"content": "", "reasoning": "We need", "reasoning_details": [{"text": "We need"}]}),
        chunk({"content": "", "reasoning": " to add."}),
        chunk({"content": "2 + 2"}),
        chunk({"content": " = 4"}),
        chunk({"content": ""}, "stop"),
        chunk({"content": ""}, usage=USAGE),
    )
    out, events = run_stream(body)
    assert out.text == "2 + 2 = 4"
    assert out.reasoning == "We need to add."
    assert out.finish_reason == "stop"
    assert out.usage.cache_write_tokens == 115
    assert out.usage.reasoning_tokens == 11
    assert out.request_id == "gen-1"
    assert out.model == "minimax/minimax-m2"
    kinds = [e.type for e in events]
    assert kinds.count("reasoning") == 2
    assert kinds.count("text") == 2


def test_stream_tool_call() -> None:
    body = sse_body(
        chunk(
            {
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "t1",
                        "type": "function",
                        "function": {"name": "plus", "arguments": ""},
                    }
                ],
            }
        ),
        chunk(
            {
                "content": None,
                "tool_calls": [{"index": 0, "function": {"arguments": '{"a":1,"b":2}'}}],
            }
        ),
        chunk({"content": ""}, "tool_calls"),
        chunk(None, usage=USAGE),
    )
    out, _ = run_stream(body)
    assert out.tool_calls == (ToolCall("t1", "plus", '{"a":1,"b":2}'),)
    assert out.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("code", "cls", "retryable"),
    [
        (400, BadRequestError, False),
        (429, RateLimitError, True),
        (402, QuotaExhaustedError, False),
        (502, ServerError, True),
        (503, OverloadedError, True),
    ],
)
def test_midstream_error_chunk_raises_by_code(
    code: int, cls: type[LLMError], retryable: bool
) -> None:
    body = sse_body(
        chunk({"content": "", "reasoning": "We need"}),
        chunk({"content": ""}, error={"code": code, "message": "Token limit reached"}, usage=USAGE),
    )
    with pytest.raises(cls) as info:
        run_stream(body)
    assert info.value.retryable is retryable
    assert info.value.provider == "openrouter"


def test_finish_reason_error_without_error_object() -> None:
    body = sse_body(chunk({"content": "partial"}), chunk({"content": ""}, "error"))
    with pytest.raises(ServerError):
        run_stream(body)


def test_truncated_stream() -> None:
    with pytest.raises(InvalidResponseError, match="truncated"):
        run_stream(sse_body(chunk({"content": "half"}), done=False))
    with pytest.raises(InvalidResponseError):
        run_stream(sse_body(chunk({"content": "x"})), clean=False)


def test_non_json_data_is_invalid() -> None:
    with pytest.raises(InvalidResponseError):
        run_stream(sse_body("{oops"))


def test_responses_stream_ends_with_done_and_no_event_lines() -> None:
    def ev(kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, **fields}

    resp = {"id": "gen-9", "model": "openai/gpt-5-nano", "status": "in_progress", "output": []}
    final = {
        **resp,
        "status": "completed",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "4"}]}],
        "usage": {
            "input_tokens": 20,
            "output_tokens": 19,
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }
    body = sse_body(
        ev("response.created", response=resp),
        ev("response.output_item.added", output_index=0, item={"type": "reasoning"}),
        ev("response.output_text.delta", output_index=1, delta="4"),
        ev("response.completed", response=final),
    )
    out, _ = run_stream(body, path=RESP_PATH)
    assert out.text == "4"
    assert out.id == "gen-9"
    assert out.usage == Usage(input_tokens=20, output_tokens=19, reasoning_tokens=0)
    with pytest.raises(InvalidResponseError):
        run_stream(sse_body(ev("response.created", response=resp)), path=RESP_PATH)


# --------------------------------------------------------------------------- real cassettes


def _load(path: Path) -> httpx.Response:
    import yaml

    doc = yaml.safe_load(path.read_text())
    it = (doc.get("interactions") or doc.get("http_interactions"))[0]
    rq, rs = it["request"], it["response"]
    if "parsed_body" in rs:
        content = json.dumps(rs["parsed_body"]).encode()
    else:
        s = (rs.get("body") or {}).get("string") or b""
        content = s.encode() if isinstance(s, str) else s
    headers = [
        (k, str(v))
        for k, vs in (rs.get("headers") or {}).items()
        for v in (vs if isinstance(vs, list) else [vs])
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    request = httpx.Request(rq["method"].upper(), rq["uri"])
    return httpx.Response(rs["status"]["code"], headers=headers, content=content, request=request)


@pytest.mark.real_cassettes
@pytest.mark.parametrize("path", _real.params("openrouter__*.yaml"))
def test_real_openrouter_cassettes(path: Path) -> None:
    response = _load(path)
    scenario = path.stem.split("__")[1]
    if response.status_code >= 400:
        kind = {
            "error_400_context_length": "context_length",
            "error_401_auth": "auth",
            "error_429_rate_limit": "rate_limit",
        }[scenario]
        assert OR.classify(response).kind == kind
        return
    rpath = response.request.url.path
    if "event-stream" in response.headers.get("content-type", ""):
        if "midstream_error" in scenario:
            with pytest.raises(BadRequestError, match="Token limit"):
                run_stream(response.content, path=rpath)
            return
        out, _ = run_stream(response.content, path=rpath)
    else:
        out = OR.parse_response(response)
    assert out.usage.input_tokens is not None
    assert out.text or out.tool_calls
    if "reasoning" in scenario:
        assert out.reasoning
        assert out.reasoning not in out.text
    if "usage_cached" in scenario:
        assert out.usage.cache_read_tokens
