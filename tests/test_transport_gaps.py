"""Transport gaps: a trickling body against the deadline, and cancelled attempts on record."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from llmkit.client import AsyncClient, Client
from llmkit.clock import VirtualClock
from llmkit.deadline import Timeouts
from llmkit.errors import DeadlineExceededError
from llmkit.hedge import HedgeBudget, HedgeLayer, HedgePolicy
from llmkit.telemetry import MemorySink
from llmkit.testing import Scripted, ScriptedTransport
from llmkit.types import ChatResponse

MSGS = [{"role": "user", "content": "hi"}]
BODY = json.dumps(
    {
        "id": "c1",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
    }
).encode()
JSON = {"content-type": "application/json"}


def trickle(gap: float, pieces: int = 20) -> Scripted:
    """A JSON body in ``pieces`` chunks, ``gap`` seconds apart (each gap under the read timeout)."""
    return Scripted(chunks=split(pieces), chunk_gap=gap, headers=JSON)


def split(pieces: int) -> list[bytes]:
    size = -(-len(BODY) // pieces)
    return [BODY[i : i + size] for i in range(0, len(BODY), size)]


def run(mode: str, client: Any, **kw: Any) -> ChatResponse:
    if mode == "sync":
        return client.chat(model="m", messages=MSGS, **kw)  # type: ignore[no-any-return]

    async def go() -> ChatResponse:
        try:
            return await client.chat(model="m", messages=MSGS, **kw)  # type: ignore[no-any-return]
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ------------------------------------------------------------------ trickle on a virtual clock


def test_trickling_body_stops_at_the_deadline(mode: str) -> None:
    clock = VirtualClock()
    transport = ScriptedTransport(clock, [trickle(gap=2.0)])
    sink = MemorySink()
    cls = Client if mode == "sync" else AsyncClient
    client = cls(transport=transport, clock=clock, deadline=5.0, retry=3, telemetry=sink)
    with pytest.raises(DeadlineExceededError, match="while reading the body"):
        run(mode, client)
    assert transport.timeouts[0]["read"] == 5.0  # each read was within its timeout
    assert clock.now() == pytest.approx(6.0)  # the chunk in flight at the deadline, no more
    (att,) = sink.attempts()  # not retried: no time left
    assert att.error_type == "timeout"
    assert att.status == 200
    assert att.latency == pytest.approx(6.0)


def test_trickling_body_within_the_deadline_is_read(mode: str) -> None:
    clock = VirtualClock()
    cls = Client if mode == "sync" else AsyncClient
    client = cls(transport=ScriptedTransport(clock, [trickle(gap=0.2)]), clock=clock, deadline=5.0)
    assert run(mode, client).text == "ok"
    assert clock.now() == pytest.approx(0.2 * len(split(20)))


def test_without_a_deadline_only_the_read_timeout_applies(mode: str) -> None:
    clock = VirtualClock()
    cls = Client if mode == "sync" else AsyncClient
    transport = ScriptedTransport(clock, [trickle(gap=2.0)])
    client = cls(transport=transport, clock=clock, deadline=None, timeout=Timeouts(read=3.0))
    assert run(mode, client).text == "ok"
    assert clock.now() == pytest.approx(2.0 * len(split(20)))


# ------------------------------------------------------------------ trickle on a real socket


@pytest.fixture
def trickler() -> Iterator[str]:
    """A loopback HTTP server that sends a 200 header at once, then one body byte per 50 ms."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                head = (
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(BODY)}\r\n\r\n"
                )
                conn.sendall(head.encode())
                for b in BODY:
                    if stop.wait(0.05):
                        return
                    conn.sendall(bytes([b]))
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/v1"
    stop.set()
    t.join(2)
    srv.close()


def test_real_trickling_server_is_cut_at_the_deadline(mode: str, trickler: str) -> None:
    # Untouched, this body takes ~len(BODY) * 50 ms (several seconds); each read is quick.
    assert len(BODY) * 0.05 > 4
    cls = Client if mode == "sync" else AsyncClient
    client = cls(
        "compatible", base_url=trickler, api_key="sk-test", deadline=0.6, timeout=Timeouts(read=2.0)
    )
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        run(mode, client)
    elapsed = time.monotonic() - started
    assert elapsed < 0.6 + 0.25  # one 50 ms read past at worst, plus scheduling noise
    if mode == "sync":
        client.close()


# ------------------------------------------------------------------ cancelled attempts on record


def test_hedge_loser_is_recorded_as_cancelled() -> None:
    from llmkit.sim import AsyncSimTransport, Simulator

    clock = VirtualClock()
    sim = Simulator("slow-tail", clock, seed=7)
    sink = MemorySink()
    layer = HedgeLayer(HedgePolicy(delay=3.0), HedgeBudget(ratio=0.5, initial=5.0))
    client = AsyncClient(
        "openai",
        api_key="sk-test-123",
        transport=AsyncSimTransport(sim),
        clock=clock,
        retry=False,
        layers=[layer],
        telemetry=sink,
    )

    async def one(i: int) -> None:
        await clock.asleep(i * 0.5)
        await client.chat(model="gpt-4o-mini", messages=MSGS, max_tokens=20)

    async def main() -> None:
        try:
            await asyncio.gather(*(one(i) for i in range(40)))
        finally:
            await client.aclose()

    asyncio.run(main())
    attempts = sink.attempts()
    cancelled = [a for a in attempts if a.error_type == "cancelled"]
    assert layer.budget.hedges >= 1
    assert len(attempts) == sim.requests == 40 + layer.budget.hedges  # every request counted
    assert len(cancelled) == layer.budget.hedges  # one loser per hedged call
    for rec in cancelled:
        assert rec.latency is not None
        assert rec.latency > 0  # the time it ran until cancelled
        assert rec.status is None
    assert len({a.call_id for a in cancelled}) == len(cancelled)


def test_sync_stream_closed_early_is_recorded_as_cancelled() -> None:
    clock = VirtualClock()
    chunks = [
        b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n',
        b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"b"}}]}\n\n',
        b"data: [DONE]\n\n",
    ]
    sink = MemorySink()
    client = Client(
        transport=ScriptedTransport(clock, [Scripted(chunks=chunks, chunk_gap=1.0)]),
        clock=clock,
        telemetry=sink,
    )
    with client.stream(model="m", messages=MSGS) as stream:
        first = next(ev for ev in stream if ev.type == "text")
        assert first.text == "a"
    (att,) = sink.attempts()
    assert att.error_type == "cancelled"
    assert att.latency == pytest.approx(1.0)
    assert att.status == 200
