"""Timeouts and the total deadline: shrinking per-attempt timeouts, fail-fast, stream idle."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkit.client import AsyncClient, Client
from llmkit.clock import VirtualClock
from llmkit.deadline import Deadline, Timeouts
from llmkit.errors import DeadlineExceededError, LLMError, ServerError, TimeoutError
from llmkit.layers import CallContext
from llmkit.retry import RetryPolicy
from llmkit.telemetry import MemorySink
from llmkit.testing import Scripted, ScriptedTransport
from llmkit.types import ChatResponse

MSGS = [{"role": "user", "content": "hi"}]
BODY = {
    "id": "c1",
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}


def ok(latency: float = 0.1) -> Scripted:
    return Scripted(json=BODY, latency=latency)


def fail(status: int = 500, latency: float = 0.1) -> Scripted:
    return Scripted(status=status, json={"error": {"message": "x"}}, latency=latency)


def sse(obj: Any) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def chunk(content: str) -> bytes:
    return sse({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": content}}]})


STREAM = [
    chunk("a"),
    chunk("b"),
    sse(
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    ),
    b"data: [DONE]\n\n",
]


def make(
    mode: str, script: list[Scripted], **kw: Any
) -> tuple[Any, ScriptedTransport, VirtualClock]:
    clock = VirtualClock()
    transport = ScriptedTransport(clock, script)
    kw.setdefault("seed", 3)
    kw.setdefault("budget", False)
    cls = Client if mode == "sync" else AsyncClient
    return cls(transport=transport, clock=clock, **kw), transport, clock


def run(client: Any, **kw: Any) -> ChatResponse:
    kw.setdefault("model", "m")
    kw.setdefault("messages", MSGS)
    if isinstance(client, Client):
        return client.chat(**kw)

    async def go() -> ChatResponse:
        return await client.chat(**kw)  # type: ignore[no-any-return]

    return asyncio.run(go())


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_timeouts_defaults_are_short() -> None:
    t = Timeouts()
    assert (t.connect, t.read, t.write, t.pool) == (5.0, 60.0, 10.0, 5.0)
    assert Timeouts.of(None) == t
    assert Timeouts.of(30).read == 30
    assert Timeouts.of(2).connect == 2  # a number caps every phase
    with pytest.raises(ValueError, match="read"):
        Timeouts(read=0)
    with pytest.raises(TypeError):
        Timeouts.of("5")  # type: ignore[arg-type]


def test_for_attempt_shrinks_to_time_left() -> None:
    t = Timeouts()
    full = t.for_attempt(None, stream=False)
    assert full.read == 60
    assert not full.shrunk
    cut = t.for_attempt(7.0, stream=False)
    assert (cut.connect, cut.read, cut.write, cut.pool) == (5.0, 7.0, 7.0, 5.0)
    assert cut.shrunk == {"read", "write"}
    assert t.for_attempt(100, stream=True).read == t.stream_idle


def test_timeout_travels_in_request_extensions(mode: str) -> None:
    client, transport, _ = make(mode, [ok()], deadline=None, timeout=Timeouts(read=12))
    run(client)
    assert transport.timeouts == [{"connect": 5.0, "read": 12.0, "write": 10.0, "pool": 5.0}]


def test_each_attempt_read_timeout_shrinks_to_time_left(mode: str) -> None:
    sink = MemorySink()
    client, transport, clock = make(
        mode,
        [fail(latency=4.0)],
        deadline=20.0,
        timeout=Timeouts(read=15),
        retry=RetryPolicy(max_attempts=10, base=0.5),
        telemetry=sink,
    )
    with pytest.raises(ServerError):
        run(client)
    reads = [t["read"] for t in transport.timeouts]
    assert reads[0] == 15
    assert reads == sorted(reads, reverse=True)
    for att in sink.attempts():
        assert att.read_timeout == pytest.approx(min(15.0, att.deadline_remaining or 0))
    assert clock.now() <= 20.0


def test_slow_attempt_hits_the_deadline_not_the_read_timeout(mode: str) -> None:
    client, transport, clock = make(mode, [ok(latency=50)], deadline=10.0)
    with pytest.raises(DeadlineExceededError) as info:
        run(client)
    assert not info.value.retryable
    assert len(transport.requests) == 1  # a deadline is not retried
    assert clock.now() == pytest.approx(10.0)


def test_read_timeout_is_a_retryable_timeout(mode: str) -> None:
    client, transport, clock = make(
        mode, [ok(latency=9), ok(latency=1)], deadline=None, timeout=Timeouts(read=5)
    )
    assert run(client).text == "ok"
    assert clock.now() >= 5 + 1  # timed out at 5 s, then backoff, then 1 s
    assert len(transport.requests) == 2
    client, transport, _clock = make(mode, [ok(latency=9)], deadline=None, timeout=5, retry=1)
    with pytest.raises(TimeoutError) as info:
        run(client)
    assert not isinstance(info.value, DeadlineExceededError)
    assert "read timeout" in str(info.value)


def test_no_attempt_starts_without_minimum_time(mode: str) -> None:
    client, transport, _ = make(mode, [ok()], deadline=0.1, min_attempt=0.25)
    with pytest.raises(DeadlineExceededError):
        run(client)
    assert transport.requests == []


def test_per_call_deadline_overrides_client_default(mode: str) -> None:
    client, _transport, clock = make(mode, [ok(latency=50)], deadline=100.0)
    with pytest.raises(DeadlineExceededError):
        run(client, deadline=3.0)
    assert clock.now() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="deadline"):
        run(client, deadline=-1)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from([200, 429, 500, 503]),
            st.floats(0, 30),
            st.sampled_from([None, "1", "7"]),
        ),
        min_size=1,
        max_size=6,
    ),
    deadline=st.floats(0.5, 40),
    seed=st.integers(0, 1000),
)
def test_every_call_ends_inside_its_deadline(
    steps: list[tuple[int, float, str | None]], deadline: float, seed: int
) -> None:
    script = [
        Scripted(
            status=s,
            json=BODY if s == 200 else {"error": {"message": "x"}},
            headers={"retry-after": ra} if ra else {},
            latency=lat,
        )
        for s, lat, ra in steps
    ]
    sink = MemorySink()
    client, transport, clock = make(
        "sync", script, deadline=deadline, seed=seed, retry=5, telemetry=sink
    )
    with contextlib.suppress(LLMError):
        run(client)
    assert clock.now() <= deadline + 1e-9
    for att, timeout in zip(sink.attempts(), transport.timeouts, strict=True):
        assert att.deadline_remaining is not None
        assert timeout["read"] <= att.deadline_remaining + 1e-9
        assert att.deadline_remaining >= 0.25 - 1e-9  # min_attempt honoured


def test_stream_idle_timeout(mode: str) -> None:
    script = [Scripted(chunks=STREAM, chunk_gap=8.0)]
    client, transport, clock = make(
        mode, script, deadline=None, timeout=Timeouts(stream_idle=5.0), retry=1
    )
    with pytest.raises(TimeoutError) as info:
        run(client, stream=True)
    assert "stream idle" in str(info.value)
    assert transport.timeouts[0]["read"] == 5.0
    assert clock.now() == pytest.approx(5.0)


def test_stream_within_idle_timeout_aggregates_with_ttft(mode: str) -> None:
    client, _, _ = make(mode, [Scripted(chunks=STREAM, chunk_gap=1.0, latency=0.5)], deadline=None)
    resp = run(client, stream=True)
    assert resp.text == "ab"
    assert resp.ttft == pytest.approx(1.5)  # headers at 0.5 s, first chunk 1 s later


def test_deadline_checked_while_delivering_a_stream() -> None:
    clock = VirtualClock()
    transport = ScriptedTransport(clock, [Scripted(chunks=STREAM, chunk_gap=2.0)])
    client = Client(transport=transport, clock=clock, deadline=5.0, budget=False)
    stream = client.stream(model="m", messages=MSGS)
    seen: list[str] = []

    def read() -> None:
        with stream:
            seen.extend(ev.text for ev in stream)

    with pytest.raises(DeadlineExceededError):
        read()
    assert "a" in seen  # events before the deadline were delivered
    assert clock.now() <= 5.0 + 2.0  # at most one chunk gap past, then the reader stops


def test_deadline_policy_validates() -> None:
    with pytest.raises(ValueError, match="deadline"):
        Deadline(total=0)
    ctx = CallContext(provider="p", clock=VirtualClock())
    Deadline(total=10, min_attempt=1).apply(ctx)
    assert ctx.deadline == 10
    assert ctx.min_attempt == 1
    ctx2 = CallContext(provider="p", clock=VirtualClock(), deadline=3.0)
    Deadline(total=10).apply(ctx2)
    assert ctx2.deadline == 3.0  # a deadline the caller set wins
