"""Every error kind, for every provider, through ``llmkit.Client`` over ``httpx.MockTransport``.

Each row is what that provider really sends for that failure (status and body shape); the
client must raise exactly the one ``LLMError`` subclass of that kind, with ``retryable`` as the
taxonomy says, and never a raw httpx exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import llmkit
from llmkit.errors import ErrorKind

PROVIDERS = ("openai", "openai-responses", "anthropic", "openrouter")


def _openai(status: int, code: str | None, message: str, etype: str = "invalid_request_error"):
    return status, {"error": {"message": message, "type": etype, "param": None, "code": code}}


def _anthropic(status: int, etype: str, message: str):
    return status, {"type": "error", "error": {"type": etype, "message": message},
                    "request_id": "req_011"}  # fmt: skip


def _openrouter(status: int, message: str, metadata: dict[str, Any] | None = None):
    return status, {"error": {"code": status, "message": message, "metadata": metadata or {}}}


CTX = "This model's maximum context length is 128000 tokens. However, you requested 200000."
WIRE: dict[str, dict[ErrorKind, tuple[int, Any]]] = {
    "openai": {
        ErrorKind.RATE_LIMIT: _openai(429, "rate_limit_exceeded", "Rate limit reached", "tokens"),
        ErrorKind.QUOTA_EXHAUSTED: _openai(
            429, "insufficient_quota", "You exceeded your current quota", "insufficient_quota"
        ),
        ErrorKind.OVERLOADED: _openai(
            503, None, "The engine is currently overloaded", "server_error"
        ),
        ErrorKind.SERVER_ERROR: _openai(500, None, "The server had an error", "server_error"),
        ErrorKind.TIMEOUT: _openai(408, None, "Request timed out", "timeout"),
        ErrorKind.BAD_REQUEST: _openai(400, None, "Unrecognized request argument supplied: foo"),
        ErrorKind.CONTEXT_LENGTH: _openai(400, "context_length_exceeded", CTX),
        ErrorKind.CONTENT_FILTER: _openai(400, "content_filter", "The response was filtered"),
        ErrorKind.AUTH: _openai(401, "invalid_api_key", "Incorrect API key provided"),
        ErrorKind.PERMISSION: _openai(403, None, "You are not allowed to sample from this model"),
        ErrorKind.NOT_FOUND: _openai(404, "model_not_found", "The model `gpt-9` does not exist"),
    },
    "anthropic": {
        ErrorKind.RATE_LIMIT: _anthropic(429, "rate_limit_error", "Number of requests exceeded"),
        ErrorKind.QUOTA_EXHAUSTED: _anthropic(
            400, "invalid_request_error", "Your credit balance is too low to access the API"
        ),
        ErrorKind.OVERLOADED: _anthropic(529, "overloaded_error", "Overloaded"),
        ErrorKind.SERVER_ERROR: _anthropic(500, "api_error", "Internal server error"),
        ErrorKind.TIMEOUT: _anthropic(504, "timeout_error", "Request timed out"),
        ErrorKind.BAD_REQUEST: _anthropic(400, "invalid_request_error", "max_tokens: required"),
        ErrorKind.CONTEXT_LENGTH: _anthropic(
            400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum"
        ),
        ErrorKind.CONTENT_FILTER: _anthropic(
            400, "invalid_request_error", "Output blocked by content filtering policy"
        ),
        ErrorKind.AUTH: _anthropic(401, "authentication_error", "invalid x-api-key"),
        ErrorKind.PERMISSION: _anthropic(403, "permission_error", "not allowed"),
        ErrorKind.NOT_FOUND: _anthropic(404, "not_found_error", "model: claude-9"),
    },
    "openrouter": {
        ErrorKind.RATE_LIMIT: _openrouter(429, "Rate limit exceeded: free-models-per-min"),
        ErrorKind.QUOTA_EXHAUSTED: _openrouter(402, "Insufficient credits"),
        ErrorKind.OVERLOADED: _openrouter(503, "No instances available"),
        ErrorKind.SERVER_ERROR: _openrouter(
            502, "Provider returned error", {"provider_name": "X", "raw": "upstream 500"}
        ),
        ErrorKind.TIMEOUT: _openrouter(408, "Request timed out"),
        ErrorKind.BAD_REQUEST: _openrouter(400, "Invalid request: messages is required"),
        ErrorKind.CONTEXT_LENGTH: _openrouter(400, CTX),
        ErrorKind.CONTENT_FILTER: _openrouter(
            403, "Input was flagged", {"reasons": ["violence"], "flagged_input": "..."}
        ),
        ErrorKind.AUTH: _openrouter(401, "No auth credentials found"),
        ErrorKind.PERMISSION: _openrouter(403, "Key is disabled"),
        ErrorKind.NOT_FOUND: _openrouter(404, "No endpoints found for x/unknown"),
    },
}
WIRE["openai-responses"] = WIRE["openai"]

TRANSPORT_FAULTS: dict[ErrorKind, Callable[[httpx.Request], Exception]] = {
    ErrorKind.TIMEOUT: lambda r: httpx.ReadTimeout("timed out", request=r),
    ErrorKind.CONNECTION: lambda r: httpx.ConnectError("connection refused", request=r),
}
NOT_JSON = b"<html><body>502 Bad Gateway</body></html>"


def _client(provider: str, handler: Callable[[httpx.Request], httpx.Response]) -> llmkit.Client:
    name, api = ("openai", "responses") if provider == "openai-responses" else (provider, None)
    return llmkit.Client(
        name,
        api=api,
        api_key="sk-test-matrix",
        retry=False,
        clock=llmkit.VirtualClock(),
        transport=httpx.MockTransport(handler),
    )


def _call(client: llmkit.Client) -> llmkit.LLMError:
    with pytest.raises(llmkit.LLMError) as info:
        client.chat(model="m-1", messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    return info.value


STATUS_CASES = [(p, k) for p in PROVIDERS for k in WIRE[p]]


@pytest.mark.parametrize(("provider", "kind"), STATUS_CASES, ids=str)
def test_http_error_maps_to_exactly_one_kind(provider: str, kind: ErrorKind) -> None:
    status, body = WIRE[provider][kind]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode(),
                              headers={"content-type": "application/json"})  # fmt: skip

    err = _call(_client(provider, handler))
    assert err.kind == kind, (provider, kind, repr(err))
    assert type(err) is llmkit.errors.error_class(kind)
    assert err.status == status
    assert err.retryable is type(err).default_retryable
    assert "sk-test-matrix" not in str(err) + repr(err)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", list(TRANSPORT_FAULTS), ids=str)
def test_transport_failures_are_classified(provider: str, kind: ErrorKind) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise TRANSPORT_FAULTS[kind](request)

    err = _call(_client(provider, handler))
    assert err.kind == kind
    assert err.retryable is True
    assert not isinstance(err, httpx.HTTPError)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "body", [b"", b"{not json", b'{"choices": "nope", "content": 7}', b"[]"], ids=repr
)
def test_malformed_success_body_is_invalid_response(provider: str, body: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    err = _call(_client(provider, handler))
    assert err.kind == ErrorKind.INVALID_RESPONSE
    assert err.retryable is False


@pytest.mark.parametrize("provider", PROVIDERS)
def test_error_status_without_json_body_still_classifies(provider: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, content=NOT_JSON, headers={"content-type": "text/html"})

    err = _call(_client(provider, handler))
    assert err.kind == ErrorKind.SERVER_ERROR
    assert err.status == 502


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("header", "retryable"), [("true", True), ("false", False)])
def test_x_should_retry_overrides(provider: str, header: str, retryable: bool) -> None:
    status, body = WIRE[provider][ErrorKind.BAD_REQUEST if retryable else ErrorKind.SERVER_ERROR]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode(),
                              headers={"x-should-retry": header})  # fmt: skip

    assert _call(_client(provider, handler)).retryable is retryable


def test_every_kind_is_covered_for_every_provider() -> None:
    for provider in PROVIDERS:
        covered = set(WIRE[provider]) | set(TRANSPORT_FAULTS) | {ErrorKind.INVALID_RESPONSE}
        # Raised before sending (tests/test_spend.py, tests/test_quota.py).
        local = {ErrorKind.OVER_BUDGET, ErrorKind.OVER_QUOTA}
        assert covered | local == set(ErrorKind), provider
