"""``llmkit.estimate_input_tokens``: unit behaviour, and the floor held on real recordings."""

from __future__ import annotations

import base64
import json
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import _real
import pytest

import llmkit
from llmkit.recordings import input_token_samples, load_recording
from llmkit.tokens import image_tokens, text_tokens


def _png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def test_text_counts_words_not_bytes() -> None:
    assert text_tokens("") == 0
    assert text_tokens("Hello world") == 2
    assert text_tokens(" hello" * 100) == 100  # repetitive prose: one token a word
    assert text_tokens("opentelemetry") > 1  # a long rare word is several
    assert text_tokens("日本語") >= 3  # other scripts: at least one a character


def test_chat_and_responses_are_told_apart_by_the_body() -> None:
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hi"}]}
    responses = {"model": "gpt-4o", "input": "Say hi"}
    assert llmkit.estimate_input_tokens("openai", chat) > 2
    assert llmkit.estimate_input_tokens("openai", responses) > 2


def test_tools_and_schemas_add_tokens_the_text_does_not_show() -> None:
    base = {"model": "claude-haiku-4-5", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    tool = {"name": "f", "input_schema": {"type": "object", "properties": {}}}
    with_tool = {**base, "tools": [tool]}
    # Anthropic's tool-use system prompt is hundreds of tokens.
    assert (
        llmkit.estimate_input_tokens("anthropic", with_tool)
        - llmkit.estimate_input_tokens("anthropic", base)
        >= 300
    )
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert llmkit.estimate_input_tokens("openai", {**chat, "response_format": fmt}) > (
        llmkit.estimate_input_tokens("openai", chat) + 10
    )


def test_images_are_counted_by_their_size() -> None:
    assert image_tokens("openai", 1024, 1024) >= 765  # 4 tiles + base, per OpenAI's docs
    assert image_tokens("openai", 1024, 1024, detail="low") == 85
    assert 1390 <= image_tokens("anthropic", 1024, 1024) <= 1600  # w*h/750
    url = "data:image/png;base64," + base64.b64encode(_png(2048, 4096)).decode()
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": url}},
    ]}]}  # fmt: skip
    assert llmkit.estimate_input_tokens("openai", body) >= 1105
    data = base64.b64encode(_png(200, 150)).decode()
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    small = {"model": "claude", "messages": [{"role": "user", "content": [block]}]}
    assert 40 <= llmkit.estimate_input_tokens("anthropic", small) <= 80


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        llmkit.estimate_input_tokens("nope", {})
    with pytest.raises(TypeError, match="mapping"):
        llmkit.estimate_input_tokens("openai", "hello")  # type: ignore[arg-type]


def _samples() -> list[llmkit.recordings.TokenSample]:
    """Every recording with a reported count in the configured sets (the marker has made sure
    set 1 is there; set 2 adds its count_tokens recordings when present)."""
    return input_token_samples(*_real.dirs())


@pytest.mark.real_cassettes
def test_estimate_is_an_upper_bound_on_real_recordings() -> None:
    """At most 1 recording in 20 underestimated, never by more than 10% (the figures are
    printed by benchmarks/token_estimate.py)."""
    samples = _samples()
    assert len(samples) >= 40  # every supported recording with a reported count
    providers = {s.provider for s in samples}
    assert providers == {"openai", "anthropic", "openrouter"}
    errors = [
        (llmkit.estimate_input_tokens(s.provider, s.body) - s.input_tokens) / s.input_tokens
        for s in samples
    ]
    under = [e for e in errors if e < 0]
    assert len(under) * 20 <= len(samples), under
    assert min(errors) >= -0.10


@pytest.mark.real_cassettes
def test_token_estimate_benchmark_prints_the_distribution() -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "token_estimate.py"
    dirs = [arg for d in _real.dirs() for arg in ("--dir", str(d))]
    out = subprocess.run([sys.executable, str(script), *dirs], capture_output=True, text=True,  # noqa: S603
                         timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    for needle in ("underestimated:", "median overestimate:", "µs per estimate", "PASS"):
        assert needle in out.stdout


def test_gemini_bodies_are_read() -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Say hi " * 100}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }
    plain = llmkit.estimate_input_tokens("gemini", body)
    assert 200 <= plain <= 260
    weather = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    tools = {**body, "tools": [{"functionDeclarations": [weather]}]}
    assert llmkit.estimate_input_tokens("gemini", tools) > plain
    image = {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png",
             "data": base64.b64encode(_png(1000, 800)).decode()}}]}]}  # fmt: skip
    assert llmkit.estimate_input_tokens("gemini", image) >= 258 * 2 * 2  # two 768-px tiles a side


@pytest.mark.real_cassettes(_real.SET2)
def test_gemini_estimate_is_an_upper_bound_on_real_recordings() -> None:
    """A request that names cached content (``cachedContent``) is left out: the cached
    prompt is not in its body, so no estimate of the body can see it."""
    checked = 0
    for path in _real.files("gemini__*.yaml", _real.SET2):
        for item in load_recording(path):
            counts = re.findall(rb'"promptTokenCount":\s*(\d+)', item.response.content)
            if item.response.status_code != 200 or not counts:
                continue
            body = json.loads(item.request.content)
            if "cachedContent" in body:
                continue
            assert llmkit.estimate_input_tokens("gemini", body) >= int(counts[-1]), path.name
            checked += 1
    assert checked >= 3
