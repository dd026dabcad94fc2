"""Telemetry: attempt + call records, OTel field names, sinks, fingerprints, no text."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmkit.client import AsyncClient, Client
from llmkit.clock import VirtualClock
from llmkit.errors import RateLimitError
from llmkit.telemetry import (
    AttemptRecord,
    CallRecord,
    JSONLSink,
    LoggingSink,
    MemorySink,
    Record,
    fingerprint,
)
from llmkit.testing import Scripted, ScriptedTransport
from llmkit.types import ChatRequest, Message

PROMPT = "tell me the secret plan for project walrus"
MSGS = [{"role": "user", "content": PROMPT}]
BODY = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini-2024",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "the walrus answer"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 30,
        "completion_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 20},
        "completion_tokens_details": {"reasoning_tokens": 4},
    },
}
RATE = Scripted(
    status=429,
    json={"error": {"message": "slow down", "type": "rate_limit_exceeded"}},
    headers={"retry-after": "2", "x-request-id": "req_1"},
    latency=0.1,
)
OK = Scripted(json=BODY, latency=0.4, headers={"x-request-id": "req_2"})
TAGS = {"account": "acme", "workflow": "triage", "job": "j-7"}


def run(mode: str, script: list[Scripted], sink: Any, **kw: Any) -> tuple[Any, VirtualClock]:
    clock = VirtualClock()
    transport = ScriptedTransport(clock, script)
    cls = Client if mode == "sync" else AsyncClient
    client = cls(
        transport=transport,
        clock=clock,
        telemetry=sink,
        seed=1,
        budget=False,
        base_url="http://127.0.0.1:9/v1",
    )
    kw = {"model": "gpt-4o-mini", "messages": MSGS, "tags": TAGS, **kw}
    if isinstance(client, Client):
        try:
            return client.chat(**kw), clock
        except RateLimitError as exc:
            return exc, clock

    async def go() -> Any:
        try:
            return await client.chat(**kw)
        except RateLimitError as exc:
            return exc

    return asyncio.run(go()), clock


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_attempt_and_call_records(mode: str) -> None:
    sink = MemorySink()
    resp, clock = run(mode, [RATE, OK], sink)
    assert resp.text == "the walrus answer"
    a1, a2 = sink.attempts()
    (call,) = sink.calls()
    assert [type(r) for r in sink.records] == [AttemptRecord, AttemptRecord, CallRecord]
    assert a1.call_id == a2.call_id == call.call_id != ""
    assert (a1.attempt, a2.attempt, call.attempt) == (1, 2, 2)
    assert a1.status == 429
    assert a1.error_type == "rate_limit"
    assert a1.retry_after == 2.0
    assert a1.retry_decision == "retry"
    assert a1.retry_delay is not None
    assert a1.retry_delay >= 2
    assert a1.request_id == "req_1"
    assert a1.latency == pytest.approx(0.1)
    assert a2.status == 200
    assert a2.error_type is None
    assert a2.latency == pytest.approx(0.4)
    assert a2.input_tokens == 30
    assert a2.output_tokens == 12
    assert a2.cache_read_tokens == 20
    assert a2.reasoning_tokens == 4
    assert a2.response_model == "gpt-4o-mini-2024"
    assert a2.response_id == "chatcmpl-1"
    assert a2.finish_reasons == ("stop",)
    assert call.latency == pytest.approx(clock.now())
    assert call.retry_delay == pytest.approx(a1.retry_delay)
    assert call.status == 200
    assert call.input_tokens == 30
    for r in sink.records:
        assert r.provider == "openai"
        assert r.request_model == "gpt-4o-mini"
        assert r.server_address == "127.0.0.1"
        assert dict(r.tags) == TAGS
        assert r.fingerprint == fingerprint(ChatRequest("gpt-4o-mini", (Message("user", PROMPT),)))
        assert r.cost is None
        assert r.cache_hit is None
        assert r.timestamp >= 1_767_225_600


def test_failed_call_record(mode: str) -> None:
    sink = MemorySink()
    err, _ = run(mode, [RATE], sink, deadline=3.0)
    assert isinstance(err, RateLimitError)
    call = sink.calls()[0]
    assert call.error_type == "rate_limit"
    assert call.status == 429
    assert call.retry_decision == "deadline"  # the second 2 s wait would not fit in 3 s


def test_as_dict_uses_otel_names() -> None:
    sink = MemorySink()
    run("sync", [OK], sink)
    row = sink.calls()[0].as_dict()
    for key in (
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.operation.name",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.response.finish_reasons",
        "gen_ai.response.id",
        "gen_ai.request.stream",
        "gen_ai.response.time_to_first_chunk",
        "error.type",
        "http.response.status_code",
        "server.address",
        "llmkit.call_id",
        "llmkit.request.fingerprint",
        "llmkit.retry.budget_denied",
    ):
        assert key in row, key
    assert row["gen_ai.operation.name"] == "chat"
    assert row["llmkit.record"] == "call"
    json.dumps(row)  # serializable as is


def test_to_dataframe() -> None:
    sink = MemorySink()
    run("sync", [RATE, OK], sink)
    df = sink.to_dataframe()
    assert len(df) == 3
    assert list(df["llmkit.record"]) == ["attempt", "attempt", "call"]
    assert list(df["http.response.status_code"]) == [429, 200, 200]
    assert set(df["llmkit.tags.account"]) == {"acme"}
    assert df["llmkit.call_id"].nunique() == 1


def test_stream_records_ttft(mode: str) -> None:
    chunks = [
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n',
        b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
        b"\n\n",
        b"data: [DONE]\n\n",
    ]
    sink = MemorySink()
    resp, _ = run(mode, [Scripted(chunks=chunks, chunk_gap=0.25, latency=0.5)], sink, stream=True)
    assert resp.ttft == pytest.approx(0.75)
    (att,) = sink.attempts()
    assert att.stream
    assert att.ttft == pytest.approx(0.75)
    assert sink.calls()[0].ttft == pytest.approx(0.75)


def test_jsonl_sink(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    sink = JSONLSink(path)
    run("sync", [RATE, OK], sink)
    sink.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["llmkit.record"] for r in rows] == ["attempt", "attempt", "call"]
    assert rows[2]["llmkit.tags"] == TAGS
    assert PROMPT not in path.read_text()
    assert "walrus" not in path.read_text()


def test_logging_sink(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="llmkit.telemetry")
    run("sync", [OK], LoggingSink())
    recs = [r for r in caplog.records if r.name == "llmkit.telemetry"]
    assert len(recs) == 2
    assert json.loads(recs[1].getMessage())["llmkit.record"] == "call"
    assert recs[1].llmkit["gen_ai.usage.input_tokens"] == 30


def test_no_text_in_records() -> None:
    sink = MemorySink()
    run("sync", [RATE, OK], sink)
    blob = json.dumps([r.as_dict() for r in sink.records])
    assert "walrus" not in blob
    assert "slow down" not in blob


def test_fingerprint_is_stable_and_discriminating() -> None:
    a = ChatRequest("m", (Message("user", "hello"),), tags={"job": "1"})
    b = ChatRequest("m", (Message("user", "hello"),), tags={"job": "2"}, stream=True)
    c = ChatRequest("m", (Message("user", "hello!"),))
    assert fingerprint(a) == fingerprint(b)  # tags and the stream flag do not change the ask
    assert fingerprint(a) != fingerprint(c)
    assert fingerprint(a) != fingerprint(a.with_(temperature=0.5))
    assert "hello" not in fingerprint(a)
    assert len(fingerprint(a)) == 20


def test_broken_sink_does_not_break_the_call(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def emit(self, record: Record) -> None:
            raise OSError("disk full")

    resp, _ = run("sync", [OK], Broken())
    assert resp.text == "the walrus answer"
    assert any("telemetry sink" in r.getMessage() for r in caplog.records)


def test_several_sinks(tmp_path: Path) -> None:
    mem = MemorySink()
    run("sync", [OK], [mem, JSONLSink(tmp_path / "x.jsonl")])
    assert len(mem.records) == 2
    assert len((tmp_path / "x.jsonl").read_text().splitlines()) == 2


def test_import_llmkit_stays_light() -> None:
    code = (
        "import sys, llmkit, llmkit.client, llmkit.telemetry;"
        "assert 'pandas' not in sys.modules and 'matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603
