"""The Gemini adapter without a network: request building, safety blocks, errors, keys."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from llmkit import ChatRequest, Message, classify, parse_response, parse_stream
from llmkit.errors import ErrorKind, LLMError
from llmkit.providers import adapter_for
from llmkit.secrets import APIKey
from llmkit.types import ImagePart, ToolCall, as_messages

URL = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"


def _resp(
    status: int, body: Any, *, url: str = URL, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(
        status, headers=headers or {}, content=content, request=httpx.Request("POST", url)
    )


def _build(
    request: ChatRequest, key: str | None = "k" * 39
) -> tuple[httpx.Request, dict[str, Any]]:
    http = adapter_for("gemini").build_request(
        request,
        base_url="https://generativelanguage.googleapis.com/v1beta",
        api_key=APIKey(key) if key else None,
    )
    return http, json.loads(http.content)


def test_request_puts_system_apart_and_the_key_in_a_header() -> None:
    key = "AIza" + "Q" * 35
    req = ChatRequest(
        "gemini-2.5-flash",
        as_messages(
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Bye"},
            ]
        ),
        max_tokens=50,
        temperature=0.2,
    )
    http, body = _build(req, key)
    assert str(http.url) == URL
    assert http.headers["x-goog-api-key"] == key
    assert key not in str(http.url)
    assert "authorization" not in http.headers
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {"maxOutputTokens": 50, "temperature": 0.2}


def test_stream_request_uses_alt_sse() -> None:
    req = ChatRequest(
        "models/gemini-2.5-flash", as_messages([{"role": "user", "content": "x"}]), stream=True
    )
    http, _ = _build(req)
    assert str(http.url).endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")


def test_tool_round_trip_names_the_function() -> None:
    call = ToolCall("call_0", "get_capital", '{"country": "France"}')
    msgs = (
        Message("user", "Capital of France?"),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", '{"capital": "Paris"}', tool_call_id="call_0"),
        Message("tool", "sunny", tool_call_id="x", name="weather"),
    )
    _, body = _build(ChatRequest("m", msgs))
    model, answer = body["contents"][1], body["contents"][2]
    assert model["parts"] == [
        {"functionCall": {"name": "get_capital", "args": {"country": "France"}}}
    ]
    assert answer["parts"] == [
        {"functionResponse": {"name": "get_capital", "response": {"capital": "Paris"}}},
        {"functionResponse": {"name": "weather", "response": {"result": "sunny"}}},
    ]
    with pytest.raises(ValueError, match="function name"):
        _build(ChatRequest("m", (Message("tool", "x", tool_call_id="nope"),)))


def test_images_become_inline_data_or_file_data() -> None:
    msgs = as_messages(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                    {
                        "type": "image",
                        "url": "https://example.com/a.jpg",
                        "media_type": "image/jpeg",
                    },
                ],
            }
        ]
    )
    _, body = _build(ChatRequest("m", msgs))
    assert body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/a.jpg"}},
    ]
    assert msgs[0].images[0] == ImagePart(data="iVBORw0KGgo=", media_type="image/png")


def test_answer_with_thoughts_and_safety_finish() -> None:
    body = {
        "candidates": [
            {
                "content": {"parts": [{"text": "hmm", "thought": True}, {"text": "Hi"}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 3,
            "candidatesTokenCount": 1,
            "thoughtsTokenCount": 2,
        },
    }
    r = parse_response(
        "gemini", _resp(200, body, headers={"x-ratelimit-remaining": "5", "set-cookie": "a=b"})
    )
    assert (r.text, r.reasoning, r.usage.output_tokens) == ("Hi", "hmm", 3)
    assert r.headers == {"x-ratelimit-remaining": "5"}
    body["candidates"][0]["finishReason"] = "SAFETY"
    assert parse_response("gemini", _resp(200, body)).finish_reason == "content_filter"
    body["candidates"][0]["content"]["parts"] = []
    with pytest.raises(LLMError) as info:
        parse_response("gemini", _resp(200, body))
    assert info.value.kind == ErrorKind.CONTENT_FILTER


def test_prompt_block_is_content_filter_in_a_stream_too() -> None:
    chunk = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}
    body = f"data: {json.dumps(chunk)}\r\n\r\n".encode()
    with pytest.raises(LLMError) as info:
        parse_stream(
            "gemini",
            _resp(200, body, url=URL.replace(":generateContent", ":streamGenerateContent?alt=sse")),
        )
    assert info.value.kind == ErrorKind.CONTENT_FILTER


@pytest.mark.parametrize(
    ("status", "gstatus", "message", "kind", "retryable"),
    [
        (429, "RESOURCE_EXHAUSTED", "Quota exceeded", ErrorKind.RATE_LIMIT, True),
        (
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded ... limit: 0, model: x",
            ErrorKind.QUOTA_EXHAUSTED,
            False,
        ),
        (503, "UNAVAILABLE", "overloaded", ErrorKind.OVERLOADED, True),
        (500, "INTERNAL", "oops", ErrorKind.SERVER_ERROR, True),
        (504, "DEADLINE_EXCEEDED", "slow", ErrorKind.TIMEOUT, True),
        (400, "INVALID_ARGUMENT", "bad", ErrorKind.BAD_REQUEST, False),
        (403, "PERMISSION_DENIED", "no", ErrorKind.PERMISSION, False),
        (401, "UNAUTHENTICATED", "who", ErrorKind.AUTH, False),
        (404, "NOT_FOUND", "gone", ErrorKind.NOT_FOUND, False),
    ],
)
def test_google_status_decides(
    status: int, gstatus: str, message: str, kind: ErrorKind, retryable: bool
) -> None:
    err = classify(
        "gemini", _resp(status, {"error": {"code": status, "message": message, "status": gstatus}})
    )
    assert (err.kind, err.retryable, err.status, err.code) == (kind, retryable, status, gstatus)


def test_error_without_google_shape_goes_by_status_and_masks_keys() -> None:
    key = "AIza" + "Z" * 35
    err = classify("gemini", _resp(502, f"<html>bad gateway {key}</html>".encode()))
    assert err.kind == ErrorKind.SERVER_ERROR
    assert key not in str(err)
    assert "?key=[REDACTED]" in str(classify("gemini", _resp(400, {"error": f"see ?key={key}"})))
