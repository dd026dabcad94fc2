"""llmkit cassettes and stock vcrpy cassettes read each other's files."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import vcr

from llmkit.cassettes import serializer
from llmkit.cli import main

ROOT = Path(__file__).resolve().parents[1]

STOCK = """\
interactions:
- request:
    body: '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    headers:
      Content-Type: [application/json]
    method: POST
    uri: https://api.openai.com/v1/chat/completions
  response:
    body: {string: '{"error": {"message": "The server had an error", "type": "server_error",
        "code": null}}'}
    headers:
      Content-Type: [application/json]
    status: {code: 500, message: Internal Server Error}
- request:
    body: '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    headers: {}
    method: POST
    uri: https://api.openai.com/v1/chat/completions
  response:
    body: {string: '{"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
        "finish_reason": "stop"}], "usage": {"prompt_tokens": 9, "completion_tokens": 2,
        "total_tokens": 11}}'}
    headers:
      Content-Type: [application/json]
    status: {code: 200, message: OK}
version: 1
"""


def test_vcrpy_itself_replays_an_llmkit_cassette_with_one_registration() -> None:
    # The line the README shows: register llmkit's serializer, then name it.
    my_vcr = vcr.VCR(serializer="llmkit", match_on=("method", "path"), record_mode="none")
    my_vcr.register_serializer("llmkit", serializer)
    with my_vcr.use_cassette(str(ROOT / "cassettes" / "openai" / "success.yaml")) as cass:
        r = httpx.post(
            "http://127.0.0.1/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert r.status_code == 200
    assert r.json()["object"] == "chat.completion"
    assert cass.play_count == 1


def test_stock_vcrpy_bodies_deserialize(tmp_path: Path) -> None:
    data = serializer.deserialize(STOCK)
    [first, second] = data["interactions"]
    assert json.loads(first["response"]["body"]["string"])["error"]["type"] == "server_error"
    assert json.loads(second["request"]["body"])["model"] == "gpt-4o-mini"
    b64 = STOCK.replace(
        'body: {string: \'{"error"', "body: {base64_string: 'e30=', x: '{\"error\"", 1
    )
    assert serializer.deserialize(b64)["interactions"][0]["response"]["body"]["string"] == b"{}"
    with pytest.raises(serializer.CassetteFormatError, match="must be text, binary"):
        serializer.deserialize(STOCK.replace("body: {string: ", "body: {nope: ", 1))


def test_llmkit_replay_reads_a_stock_vcrpy_cassette(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "stock.yaml"
    path.write_text(STOCK)
    assert main(["replay", str(path)]) == 0
    out = capsys.readouterr().out
    assert "plain vcrpy cassette (2 interactions" in out
    assert "#0 openai 500: server_error (retryable=True)" in out
    assert "#1 openai 200: ok, 9 in / 2 out tokens" in out
    assert "body must be text or binary" not in out
    assert main(["replay", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["format"], doc["ok"], doc["errors"]) == ("vcrpy", 1, {"server_error": 1})
