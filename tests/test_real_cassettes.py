"""Every real recorded interaction in ../shared/real-cassettes through the public parsers.

Expected values are read from the recorded JSON here, with code that shares nothing with the
adapters (a few lines per wire format), so a parser bug cannot agree with itself. Error kinds
come from the file names, which name the scenario the source project recorded.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmkit import classify, parse_response, parse_stream
from llmkit.errors import CassetteError, ErrorKind, LLMError, error_class
from llmkit.providers import adapter_for
from llmkit.recordings import Interaction, load_recording
from llmkit.sse import SSEDecoder

pytestmark = pytest.mark.real_cassettes

CASSETTES = Path(__file__).resolve().parents[2] / "shared" / "real-cassettes"
if not CASSETTES.is_dir():
    pytest.skip(f"{CASSETTES} is absent", allow_module_level=True)

FILES = sorted(p.name for p in CASSETTES.glob("*.yaml"))

_SCENARIO_KIND = {
    "context_length": ErrorKind.CONTEXT_LENGTH,
    "invalid_request": ErrorKind.BAD_REQUEST,
    "auth": ErrorKind.AUTH,
    "not_found": ErrorKind.NOT_FOUND,
    "model_not_found": ErrorKind.NOT_FOUND,
    "rate_limit": ErrorKind.RATE_LIMIT,
    "insufficient_quota": ErrorKind.QUOTA_EXHAUSTED,
    "api_error": ErrorKind.SERVER_ERROR,
    "server": ErrorKind.SERVER_ERROR,
    "overloaded": ErrorKind.OVERLOADED,
}

# Errors inside a 200 stream: what each provider's payload says (see the files).
_MIDSTREAM = {
    "anthropic__messages_stream_error_event__1.yaml": (ErrorKind.OVERLOADED, True),
    "openai__chat_stream_midstream_error__1.yaml": (ErrorKind.SERVER_ERROR, True),
    # OpenRouter's in-chunk error carries code 400 ("Token limit reached").
    "openrouter__chat_stream_midstream_error__1.yaml": (ErrorKind.BAD_REQUEST, False),
}


def _load(name: str) -> Interaction:
    items = load_recording(CASSETTES / name)
    assert len(items) == 1, "each real cassette holds exactly one interaction"
    return items[0]


def _provider(name: str) -> str:
    return name.split("__", 1)[0]


def _is_stream(resp: httpx.Response) -> bool:
    return "text/event-stream" in resp.headers.get("content-type", "")


# ----------------------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Expected:
    text: str
    tool_names: list[str]
    input_tokens: int | None
    output_tokens: int | None


def _sse_payloads(body: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in body.splitlines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            if payload and payload != "[DONE]":
                out.append(json.loads(payload))
    return out


def _anthropic_usage(u: dict[str, Any]) -> tuple[int | None, int | None]:
    if "input_tokens" not in u:
        return None, u.get("output_tokens")
    inclusive = (
        u["input_tokens"]
        + (u.get("cache_creation_input_tokens") or 0)
        + (u.get("cache_read_input_tokens") or 0)
    )
    return inclusive, u.get("output_tokens")


def _expect_anthropic(body: dict[str, Any]) -> Expected:
    blocks = body["content"]
    return Expected(
        "".join(b["text"] for b in blocks if b["type"] == "text"),
        [b["name"] for b in blocks if b["type"] == "tool_use"],
        *_anthropic_usage(body["usage"]),
    )


def _expect_anthropic_stream(events: list[dict[str, Any]]) -> Expected:
    text, tools, usage = "", [], {}
    for e in events:
        if e["type"] == "message_start":
            usage.update(e["message"]["usage"])
        elif e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use":
            tools.append(e["content_block"]["name"])
        elif e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta":
            text += e["delta"]["text"]
        elif e["type"] == "message_delta":
            usage.update(e.get("usage") or {})
    return Expected(text, tools, *_anthropic_usage(usage))


def _expect_chat(body: dict[str, Any]) -> Expected:
    msg = body["choices"][0]["message"]
    usage = body.get("usage") or {}
    return Expected(
        msg.get("content") or "",
        [c["function"]["name"] for c in msg.get("tool_calls") or []],
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
    )


def _expect_chat_stream(events: list[dict[str, Any]]) -> Expected:
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
    return Expected(text, tools, usage.get("prompt_tokens"), usage.get("completion_tokens"))


def _expect_responses(body: dict[str, Any]) -> Expected:
    text, tools = "", []
    for item in body["output"]:
        if item["type"] == "message":
            text += "".join(c["text"] for c in item["content"] if c["type"] == "output_text")
        elif item["type"] == "function_call":
            tools.append(item["name"])
    usage = body.get("usage") or {}
    return Expected(text, tools, usage.get("input_tokens"), usage.get("output_tokens"))


def _expect_responses_stream(events: list[dict[str, Any]]) -> Expected:
    [done] = [e for e in events if e["type"] == "response.completed"]
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    expected = _expect_responses(done["response"])
    assert deltas == expected.text, "the recording's deltas and final response disagree"
    return expected


def _expected(it: Interaction) -> Expected:
    path = it.request.url.path
    body = it.response.content.decode()
    if _is_stream(it.response):
        events = _sse_payloads(body)
        if path.endswith("/messages"):
            return _expect_anthropic_stream(events)
        if path.endswith("/responses"):
            return _expect_responses_stream(events)
        return _expect_chat_stream(events)
    data = json.loads(body)
    if path.endswith("/messages"):
        return _expect_anthropic(data)
    if path.endswith("/responses"):
        return _expect_responses(data)
    return _expect_chat(data)


def _has_midstream_error(it: Interaction) -> bool:
    return any("error" in e or e.get("type") == "error" for e in _sse_payloads(it.response.text))


# ----------------------------------------------------------------------------- every file


def test_the_folder_holds_every_format() -> None:
    texts = {name: (CASSETTES / name).read_text() for name in FILES}
    assert len(FILES) >= 70
    assert any(t.lstrip("-\n ").startswith("http_interactions:") for t in texts.values())
    assert any("parsed_body:" in t for t in texts.values())
    assert any("!!binary" in t for t in texts.values())
    assert {_provider(n) for n in FILES} == {"anthropic", "openai", "openrouter"}


@pytest.mark.parametrize("name", FILES)
def test_real_cassette(name: str) -> None:
    it = _load(name)
    provider = _provider(name)
    resp = it.response
    assert resp.request is it.request

    if not resp.is_success:
        _check_error(name, it, classify(provider, resp))
        # The parse functions raise that same classification for an error status.
        with pytest.raises(LLMError) as info:
            (parse_stream if _is_stream(resp) else parse_response)(provider, resp)
        assert info.value.kind == classify(provider, resp).kind
        return

    if _is_stream(resp) and _has_midstream_error(it):
        assert name in _MIDSTREAM, f"{name}: a mid-stream error file missing from the table"
        kind, retryable = _MIDSTREAM[name]
        with pytest.raises(LLMError) as info:
            parse_stream(provider, resp)
        assert info.value.kind == kind
        assert info.value.retryable is retryable
        assert info.value.provider == provider
        return
    assert name not in _MIDSTREAM

    got = (parse_stream if _is_stream(resp) else parse_response)(provider, resp)
    want = _expected(it)
    assert got.provider == provider
    assert got.text == want.text
    assert [c.name for c in got.tool_calls] == want.tool_names
    assert got.usage.input_tokens == want.input_tokens
    assert got.usage.output_tokens == want.output_tokens
    for call in got.tool_calls:
        assert isinstance(json.loads(call.arguments), dict), "arguments are a JSON object"
    if want.tool_names:
        assert got.finish_reason == "tool_calls"


# A 429 for a request larger than the whole per-minute limit: a rate limit no wait can cure.
_NEVER_FITS = {"openai__error_429_rate_limit__1.yaml"}


def _check_error(name: str, it: Interaction, err: LLMError) -> None:
    m = re.search(r"__error_(?:(\d{3})_)?([a-z_]+?)__\d+\.yaml$", name)
    assert m, f"{name}: not an error file name"
    status, scenario = m.groups()
    if status:
        assert it.response.status_code == int(status)
    assert err.kind == _SCENARIO_KIND[scenario], f"{name}: {err!r}"
    assert err.status == it.response.status_code
    assert err.provider == _provider(name)
    override = it.response.headers.get("x-should-retry")
    want_retry = override == "true" if override else error_class(err.kind).default_retryable
    if name in _NEVER_FITS:
        want_retry = False
    assert err.retryable is want_retry
    ra = it.response.headers.get("retry-after")
    if ra is not None and ra.isdigit():
        assert err.retry_after == float(ra)
    assert err.message, "an error always says something"


@pytest.mark.parametrize(
    "name", [n for n in FILES if "stream" in n and n not in _MIDSTREAM and "error_" not in n]
)
def test_streams_parse_the_same_in_small_chunks(name: str) -> None:
    """The network delivers arbitrary chunks; the answer must not depend on where they fall."""
    it = _load(name)
    provider = _provider(name)
    whole = parse_stream(provider, it.response)
    adapter = adapter_for(provider, path=it.request.url.path)
    body = it.response.content
    rng = random.Random(name)
    parser, decoder, i = adapter.stream_parser(it.response), SSEDecoder(), 0
    while i < len(body):
        n = rng.randint(1, 9)
        for event in decoder.feed(body[i : i + n]):
            parser.feed(event)
        i += n
    tail, clean = decoder.close()
    for event in tail:
        parser.feed(event)
    chunked = parser.finish(clean=clean)
    assert chunked.text == whole.text
    assert chunked.tool_calls == whole.tool_calls
    assert chunked.usage == whole.usage
    assert chunked.finish_reason == whole.finish_reason


# ----------------------------------------------------------------------------- named files


def test_openai_fine_tune_429_typed_invalid_request_is_still_rate_limit() -> None:
    it = _load("openai__error_429_rate_limit__2.yaml")
    assert json.loads(it.response.content)["error"]["type"] == "invalid_request_error"
    err = classify("openai", it.response)
    assert err.kind == ErrorKind.RATE_LIMIT
    assert err.retryable is True


def test_openai_request_too_large_429_is_a_rate_limit_that_is_not_retried() -> None:
    it = _load("openai__error_429_rate_limit__1.yaml")
    assert "Request too large" in json.loads(it.response.content)["error"]["message"]
    err = classify("openai", it.response)
    assert err.kind == ErrorKind.RATE_LIMIT
    assert err.retryable is False


def test_openai_insufficient_quota_is_not_retryable() -> None:
    err = classify("openai", _load("openai__error_429_insufficient_quota__1.yaml").response)
    assert err.kind == ErrorKind.QUOTA_EXHAUSTED
    assert err.status == 429
    assert err.retryable is False


@pytest.mark.parametrize("n", [1, 2])
def test_anthropic_529_is_overloaded_and_retryable_by_header(n: int) -> None:
    resp = _load(f"anthropic__error_529_overloaded__{n}.yaml").response
    assert resp.reason_phrase == ""  # as recorded: 529 has no standard reason
    assert resp.headers["x-should-retry"] == "true"
    err = classify("anthropic", resp)
    assert err.kind == ErrorKind.OVERLOADED
    assert err.retryable is True


def test_model_not_found_on_responses_is_400_but_not_found() -> None:
    it = _load("openai__error_model_not_found__2.yaml")
    assert it.request.url.path.endswith("/responses")
    assert it.response.status_code == 400
    assert classify("openai", it.response).kind == ErrorKind.NOT_FOUND


def test_anthropic_429_uses_retry_after_and_keeps_request_id() -> None:
    err = classify("anthropic", _load("anthropic__error_429_rate_limit__1.yaml").response)
    assert err.retry_after == 7.0
    assert err.request_id == "req_01VRXnTtDN7bkGVjXbQNgzcL"


def test_anthropic_context_length_and_placeholder_request_id() -> None:
    err = classify("anthropic", _load("anthropic__error_400_context_length__1.yaml").response)
    assert err.kind == ErrorKind.CONTEXT_LENGTH
    # The header is the recorder's "<REQUEST_ID>" placeholder; the body has the real one.
    assert err.request_id == "req_011CeCGmMJJGRCp7xgjqapmJ"


def test_anthropic_cache_usage_is_inclusive() -> None:
    r = parse_response("anthropic", _load("anthropic__messages_usage_cache__1.yaml").response)
    assert (r.usage.cache_write_tokens, r.usage.cache_read_tokens) == (1163, 0)
    assert r.usage.input_tokens == 4 + 1163
    r = parse_stream("anthropic", _load("anthropic__messages_usage_cache__2.yaml").response)
    assert (r.usage.cache_read_tokens, r.usage.input_tokens) == (1031, 11 + 1031)
    assert r.finish_reason == "length"


def test_anthropic_thinking_is_reasoning_not_text() -> None:
    r = parse_stream("anthropic", _load("anthropic__messages_thinking_stream__1.yaml").response)
    assert r.reasoning
    assert r.reasoning not in r.text
    r = parse_response("anthropic", _load("anthropic__messages_thinking__2.yaml").response)
    assert r.reasoning
    assert r.reasoning.startswith("The user is asking")
    assert [c.name for c in r.tool_calls] == ["get_user_country"]


def test_gzipped_stream_is_decompressed_by_the_loader() -> None:
    assert "!!binary" in (CASSETTES / "anthropic__messages_tool_use_stream__1.yaml").read_text()
    resp = _load("anthropic__messages_tool_use_stream__1.yaml").response
    assert resp.content.startswith(b"event: message_start")
    assert "content-encoding" not in resp.headers


def test_ruby_vcr_method_is_upper_case_and_recorded_at_kept() -> None:
    it = _load("anthropic__messages_basic__1.yaml")
    assert it.request.method == "POST"
    assert it.recorded_at is not None
    assert it.request.headers["anthropic-version"] == "2023-06-01"


# ----------------------------------------------------------------------------- loader errors


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("interactions: [\n", "not valid YAML"),
        ("- just a list\n", "mapping"),
        ("version: 1\n", "interactions"),
        ("interactions:\n- request: {}\n", "request"),
        (
            "interactions:\n- request: {method: POST, uri: 'http://127.0.0.1/x'}\n"
            "  response: {status: {code: 'abc'}, body: {string: ''}}\n",
            "status",
        ),
        (
            "interactions:\n- request: {method: POST, uri: 'http://127.0.0.1/x'}\n"
            "  response:\n    status: {code: 200}\n    headers: {Content-Encoding: [gzip]}\n"
            "    body: {string: !!binary H4sIAAAA}\n",
            "corrupt",
        ),
    ],
)
def test_corrupt_cassettes_raise_a_typed_error_naming_the_file(
    tmp_path: Path, text: str, match: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(CassetteError, match=match) as info:
        load_recording(path)
    assert "broken.yaml" in str(info.value)
    assert isinstance(info.value, LLMError)
    assert isinstance(info.value, ValueError)


def test_missing_cassette_is_a_cassette_error(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match=r"nope\.yaml"):
        load_recording(tmp_path / "nope.yaml")
