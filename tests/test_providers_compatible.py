"""Azure OpenAI, the named OpenAI-compatible services, image parts and response headers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import llmkit
from llmkit import ChatRequest, parse_response
from llmkit.errors import ErrorKind
from llmkit.providers import SERVICES, adapter_for
from llmkit.secrets import APIKey
from llmkit.types import ImagePart, as_messages

CHAT = {
    "id": "c1",
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}


def _req(**kw: Any) -> ChatRequest:
    return ChatRequest("gpt-4o-mini", as_messages([{"role": "user", "content": "hi"}]), **kw)


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        (
            "https://r.openai.azure.com/openai/deployments/gpt4o?api-version=2024-10-21",
            "https://r.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
        ),
        (
            "https://r.openai.azure.com/openai/v1/",
            "https://r.openai.azure.com/openai/v1/chat/completions",
        ),
        (
            "https://r.services.ai.azure.com/models?api-version=2024-05-01-preview",
            "https://r.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview",
        ),
    ],
)
def test_azure_urls_keep_the_query_after_the_path(base_url: str, url: str) -> None:
    key = "a" * 32
    http = adapter_for("azure").build_request(
        _req(max_tokens=5), base_url=base_url, api_key=APIKey(key)
    )
    assert str(http.url) == url
    assert http.headers["api-key"] == key
    assert "authorization" not in http.headers
    assert json.loads(http.content)["max_completion_tokens"] == 5


def test_azure_responses_route() -> None:
    http = adapter_for("azure", api="responses").build_request(
        _req(),
        base_url="https://r.openai.azure.com/openai?api-version=2025-03-01-preview",
        api_key=APIKey("k" * 20),
    )
    assert (
        str(http.url)
        == "https://r.openai.azure.com/openai/responses?api-version=2025-03-01-preview"
    )
    assert http.headers["api-key"] == "k" * 20


def test_azure_client_needs_a_base_url_and_aliases_do_not() -> None:
    with pytest.raises(ValueError, match="base_url"):
        llmkit.Client(provider="azure", api_key="k")
    with pytest.raises(ValueError, match="base_url"):
        llmkit.Client(provider="compatible", api_key="k")
    for name, service in SERVICES.items():
        client = llmkit.Client(provider=name, api_key="k")
        assert client.provider == name
        assert client.endpoint.base_url == service.base_url.rstrip("/")
        client.close()


def test_alias_keys_come_from_their_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_" + "x" * 30)
    monkeypatch.setenv("GEMINI_API_KEY", "AIza" + "y" * 35)
    with llmkit.Client(provider="groq") as groq, llmkit.Client(provider="gemini") as gemini:
        assert groq.endpoint.api_key == APIKey("gsk_" + "x" * 30)
        assert gemini.endpoint.api_key == APIKey("AIza" + "y" * 35)
        assert "gsk_" not in repr(groq)


def test_client_over_azure_sends_api_key_and_returns_safe_headers() -> None:
    seen: list[httpx.Request] = []
    headers = {
        "apim-request-id": "abc",
        "x-ratelimit-remaining-tokens": "99",
        "set-cookie": "session=secret",
        "x-ms-region": "East US",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=CHAT, headers=headers)

    transport = httpx.MockTransport(handler)
    client = llmkit.Client(
        provider="azure",
        base_url="https://r.openai.azure.com/openai/deployments/d?api-version=2024-10-21",
        api_key="azure-key-" + "z" * 20,
        transport=transport,
        retry=False,
    )
    reply = client.chat(model="d", messages=[{"role": "user", "content": "hi"}])
    assert reply.text == "hi"
    assert reply.provider == "azure"
    assert reply.headers == {
        "content-type": "application/json",
        "apim-request-id": "abc",
        "x-ratelimit-remaining-tokens": "99",
        "x-ms-region": "East US",
    }
    assert seen[0].url.params["api-version"] == "2024-10-21"
    assert seen[0].headers["api-key"].startswith("azure-key-")


def test_stream_answer_carries_headers_too() -> None:
    chunk = {
        "id": "c",
        "choices": [{"index": 0, "delta": {"content": "yo"}, "finish_reason": "stop"}],
    }
    sse = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
    headers = {"content-type": "text/event-stream", "x-request-id": "r1", "cookie": "no"}
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=sse, headers=headers))
    client = llmkit.Client(provider="groq", api_key="k", transport=transport, retry=False)
    with client, client.stream(model="m", messages=[{"role": "user", "content": "x"}]) as stream:
        final = stream.get_final_response()
    assert final.text == "yo"
    assert final.headers == {"content-type": "text/event-stream", "x-request-id": "r1"}


def test_parse_response_headers_never_hold_credentials() -> None:
    resp = httpx.Response(
        200,
        json=CHAT,
        headers={
            "x-request-id": "r",
            "set-cookie": "a=b",
            "openai-organization": "org-1",
            "anthropic-ratelimit-requests-remaining": "4",
        },
        request=httpx.Request("POST", "https://api.groq.com/openai/v1/chat/completions"),
    )
    out = parse_response("groq", resp)
    assert set(out.headers) == {
        "content-type",
        "x-request-id",
        "anthropic-ratelimit-requests-remaining",
    }


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            {
                "code": "Client specified an invalid argument",
                "error": "Incorrect API key provided: xa***",
            },
            ErrorKind.AUTH,
        ),
        (
            400,
            {"error": {"message": "Please reduce the length of the messages or completion."}},
            ErrorKind.CONTEXT_LENGTH,
        ),
        (401, {"detail": "Unauthorized"}, ErrorKind.AUTH),
        (422, {"detail": [{"loc": ["body", "messages"], "msg": "bad"}]}, ErrorKind.BAD_REQUEST),
    ],
)
def test_compatible_error_dialects(status: int, body: Any, kind: ErrorKind) -> None:
    resp = httpx.Response(
        status, json=body, request=httpx.Request("POST", "https://api.x.ai/v1/chat/completions")
    )
    assert llmkit.classify("xai", resp).kind == kind


MESSAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Describe"},
            {
                "type": "image_url",
                "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
            },
            {"type": "image", "source": {"type": "url", "url": "https://example.com/x.jpg"}},
        ],
    }
]


def test_images_in_each_wire_format() -> None:
    req = ChatRequest("m", as_messages(MESSAGE))
    chat = json.loads(
        adapter_for("openai").build_request(req, base_url="https://a/v1", api_key=None).content
    )
    assert chat["messages"][0]["content"] == [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/x.jpg"}},
    ]
    resp = json.loads(
        adapter_for("openai", api="responses")
        .build_request(req, base_url="https://a/v1", api_key=None)
        .content
    )
    assert [p["type"] for p in resp["input"][0]["content"]] == [
        "input_text",
        "input_image",
        "input_image",
    ]
    anth = json.loads(
        adapter_for("anthropic").build_request(req, base_url="https://a/v1", api_key=None).content
    )
    assert anth["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/x.jpg"}},
    ]


def test_image_parts_are_validated_and_keyed() -> None:
    from llmkit.cache.key import cache_key

    with pytest.raises(ValueError, match="exactly one"):
        ImagePart()
    with pytest.raises(ValueError, match="media_type"):
        ImagePart(data="AAAA")
    with pytest.raises(ValueError, match="user messages"):
        as_messages([{"role": "assistant", "content": MESSAGE[0]["content"]}])
    with pytest.raises(ValueError, match="unknown content part"):
        as_messages([{"role": "user", "content": [{"type": "audio"}]}])
    a = ChatRequest("m", as_messages(MESSAGE))
    other = [
        dict(
            MESSAGE[0],
            content=[
                *MESSAGE[0]["content"][:1],
                {"type": "image", "url": "https://example.com/y.jpg"},
            ],
        )
    ]
    b = ChatRequest("m", as_messages(other))
    assert a.messages[0].content == b.messages[0].content == "Describe"
    assert cache_key(a, "openai") != cache_key(b, "openai")
    assert ImagePart(data="AAAA", media_type="image/png").size_bytes == 3


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_image_tokens_come_from_pixel_size(fmt: str) -> None:
    import base64
    import io

    from PIL import Image

    from llmkit.throttle import request_cost

    buf = io.BytesIO()
    Image.new("RGB", (800, 600), "white").save(buf, format=fmt)
    part = ImagePart(
        data=base64.b64encode(buf.getvalue()).decode(), media_type=f"image/{fmt.lower()}"
    )
    if fmt == "WEBP":  # a plain (VP8) WebP does not say its size in the header we read
        assert part.dimensions in (None, (800, 600))
    else:
        assert part.dimensions == (800, 600)
    assert ImagePart(url="https://example.com/x.png").dimensions is None  # unknown size
    text_only = ChatRequest("m", as_messages([{"role": "user", "content": "Describe"}]))
    with_image = ChatRequest("m", as_messages([{"role": "user", "content": ["Describe", part]}]))
    # The throttle charges an image what the package estimator gives it on the wire:
    # Anthropic's w*h/750 (800 * 600 / 750 = 640) when the header gives the size.
    added = (
        request_cost(with_image, "anthropic").input_tokens
        - request_cost(text_only, "anthropic").input_tokens
    )
    expected = 640 if part.dimensions else 1600
    assert abs(added - expected) <= 10, (added, expected)
