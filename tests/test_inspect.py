"""``llmkit inspect DIR``: every recorded interaction through llmkit's parsers, one row each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import _real
import httpx
import pytest

from llmkit.cli import main
from llmkit.inspection import Inspected, inspect_path, provider_of

ROOT = Path(__file__).resolve().parents[1]

_VCRPY = """\
interactions:
- request:
    body: '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    headers:
      content-type: [application/json]
    method: POST
    uri: https://api.openai.com/v1/chat/completions
  response:
    body: {string: '{"error": {"message": "Rate limit reached", "type": "requests",
        "code": "rate_limit_exceeded"}}'}
    headers:
      content-type: [application/json]
      retry-after-ms: ['1500']
      x-request-id: [req_1]
    status: {code: 429, message: Too Many Requests}
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
      content-type: [application/json]
    status: {code: 200, message: OK}
version: 1
"""

_RUBY = """\
---
http_interactions:
- request:
    method: post
    uri: https://api.anthropic.com/v1/messages
    body: {encoding: UTF-8, string: '{"model":"claude-haiku-4-5","max_tokens":8}'}
    headers: {}
  response:
    status: {code: 400, message: Bad Request}
    headers:
      Content-Type: [application/json]
    body:
      encoding: UTF-8
      string: '{"type":"error","error":{"type":"billing_error","message":"Your credit balance
        is too low to access the Anthropic API."}}'
  recorded_at: Mon, 01 Jan 2026 00:00:00 GMT
recorded_with: VCR 6.2.0
"""


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    (tmp_path / "test_module").mkdir()  # pytest-recording nests by test module
    (tmp_path / "test_module" / "test_rate_limit.yaml").write_text(_VCRPY)
    (tmp_path / "ruby.yml").write_text(_RUBY)
    (tmp_path / "broken.yaml").write_text("interactions: [\n")
    (tmp_path / "notes.txt").write_text("not a cassette")
    return tmp_path


def test_rows_classify_each_interaction(recordings: Path) -> None:
    rows = {(r.file, r.index): r for r in inspect_path(recordings)}
    assert set(rows) == {
        ("broken.yaml", None),
        ("ruby.yml", 0),
        ("test_module/test_rate_limit.yaml", 0),
        ("test_module/test_rate_limit.yaml", 1),
    }
    limited = rows["test_module/test_rate_limit.yaml", 0]
    assert (limited.provider, limited.status, limited.kind) == ("openai", 429, "rate_limit")
    assert (limited.retryable, limited.retry_after) == (True, 1.5)  # from retry-after-ms
    ok = rows["test_module/test_rate_limit.yaml", 1]
    assert (ok.kind, ok.input_tokens, ok.output_tokens, ok.error) == (None, 9, 2, None)
    billing = rows["ruby.yml", 0]
    assert (billing.provider, billing.kind, billing.retryable) == (
        "anthropic",
        "quota_exhausted",
        False,
    )
    broken = rows["broken.yaml", None]
    assert broken.error is not None
    assert "not valid YAML" in broken.error


def test_provider_is_told_from_host_then_path_and_can_be_forced(tmp_path: Path) -> None:
    def url(u: str) -> httpx.URL:
        return httpx.URL(u)

    assert provider_of(url("https://openrouter.ai/api/v1/chat/completions")) == "openrouter"
    assert provider_of(url("http://127.0.0.1:8080/api/v1/chat/completions")) == "openrouter"
    assert provider_of(url("http://127.0.0.1/v1/messages")) == "anthropic"
    assert provider_of(url("http://localhost/v1/responses")) == "openai"
    assert provider_of(url("http://127.0.0.1/v1/images/generations")) == "openai"
    assert provider_of(url("http://127.0.0.1/v1/videos/vid_1/content")) == "openai"
    assert provider_of(url("https://example.com/generate")) is None

    (tmp_path / "c.yaml").write_text(
        _VCRPY.replace("https://api.openai.com/v1/chat/completions", "http://x/gen")
    )
    [unknown, _] = inspect_path(tmp_path)
    assert unknown.provider is None
    assert unknown.error is not None
    assert "--provider" in unknown.error
    [forced, ok] = inspect_path(tmp_path, provider="openai")
    assert (forced.provider, forced.kind, ok.output_tokens) == ("openai", "rate_limit", 2)


def test_cli_json_prints_one_object_per_interaction(
    recordings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(recordings), "--json"]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(objs) == 4
    keys = {"file", "index", "provider", "status", "kind", "retryable", "retry_after"}
    keys |= {"input_tokens", "output_tokens", "error"}
    assert all(set(o) == keys for o in objs)
    assert {o["kind"] for o in objs} == {"rate_limit", "quota_exhausted", None}


def test_cli_table_on_the_committed_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(ROOT / "cassettes" / "openrouter")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "interaction",
        "provider",
        "status",
        "kind",
        "retryable",
        "retry_after",
        "in",
        "out",
    ]
    quota = next(line.split() for line in out if line.startswith("insufficient-quota.yaml#0"))
    assert quota[1:5] == ["openrouter", "402", "quota_exhausted", "False"]
    assert out[-1].endswith(", 0 unreadable")


def test_cli_missing_path_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nope" in err


def test_every_committed_cassette_is_readable() -> None:
    rows = list(inspect_path(ROOT / "cassettes"))
    assert rows
    assert [r for r in rows if r.error is not None] == []
    assert {r.provider for r in rows} == {"openai", "anthropic", "openrouter", "gemini", "azure"}


@pytest.mark.real_cassettes
def test_real_recordings_are_all_read_and_errors_classified() -> None:
    rows = list(inspect_path(_real.root()))
    assert len(rows) == len(_real.files())
    assert [r for r in rows if r.error is not None] == []
    for r in rows:
        assert r.provider == r.file.split("__")[0]
        if r.status is not None and r.status >= 400:
            assert r.kind is not None
        elif "error" not in r.file:
            assert r.input_tokens is not None


@pytest.mark.parametrize("command", ["scenarios", "record --list", "inspect cassettes"])
def test_a_closed_pipe_ends_quietly(command: str) -> None:
    # `true` exits without reading, so the CLI's first write finds the pipe closed.
    shell = f"{sys.executable} -m llmkit {command} | true; echo ${{PIPESTATUS[0]}}"
    proc = subprocess.run(  # noqa: S603 - a fixed pipeline of our own CLI
        ["bash", "-c", shell],  # noqa: S607
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.stderr == ""  # no BrokenPipeError traceback
    assert proc.stdout.strip() == "141"  # 128 + SIGPIPE, as `head` and friends report it


def test_inspected_rows_are_frozen() -> None:
    row = Inspected("f", 0, "openai", 200, None, None, None, 1, 2)
    with pytest.raises(AttributeError):
        row.status = 500  # type: ignore[misc]


def test_token_counting_calls_report_their_count(tmp_path: Path) -> None:
    counted = _VCRPY.replace("/v1/chat/completions", "/v1/messages/count_tokens").replace(
        "api.openai.com", "api.anthropic.com"
    )
    counted = counted.replace(
        '{"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini",', '{"input_tokens": 12,'
    )
    (tmp_path / "count.yaml").write_text(counted)
    rows = list(inspect_path(tmp_path))
    assert rows[1].provider == "anthropic"
    assert (rows[1].status, rows[1].kind, rows[1].input_tokens, rows[1].error) == (
        200,
        None,
        12,
        None,
    )
