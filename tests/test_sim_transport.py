"""The simulator in process: httpx transports that advance a virtual clock instead of sleeping."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import httpx
import pytest

from llmkit import parse_response
from llmkit.clock import VirtualClock
from llmkit.sim import (
    AsyncSimTransport,
    Fault,
    FaultRule,
    Scenario,
    SimTransport,
    Simulator,
    get_scenario,
)

AUTH = {"authorization": "Bearer sk-test-123", "anthropic-version": "2023-06-01"}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say something."}]}


def client(
    sim: Simulator | str, clock: VirtualClock | None = None, timeout: float | None = 30.0
) -> httpx.Client:
    return httpx.Client(
        transport=SimTransport(sim, clock),
        base_url="https://api.openai.com",
        headers=AUTH,
        timeout=timeout,
    )


def test_plain_request_advances_the_clock_by_the_simulated_latency() -> None:
    clock = VirtualClock()
    sim = Simulator("healthy", clock)
    plan_probe = Simulator("healthy", VirtualClock()).handle(
        "POST", "/v1/chat/completions", AUTH, json.dumps(CHAT).encode()
    )
    with client(sim) as c:
        r = c.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200
    assert clock.now() == pytest.approx(plan_probe.duration)
    assert parse_response("openai", r).text


def test_stream_time_to_first_token_is_measurable() -> None:
    clock = VirtualClock()
    body = {**CHAT, "stream": True}
    with (
        client(Simulator("healthy", clock)) as c,
        c.stream("POST", "/v1/chat/completions", json=body) as r,
    ):
        stamps = []
        for line in r.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                stamps.append(clock.now())
    assert len(stamps) > 3
    ttft, total = stamps[0], stamps[-1]
    assert 0 < ttft < total
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(stamps)}
    assert len(gaps) == 1  # a steady per-token pace within one request


def test_hang_raises_read_timeout_after_exactly_the_timeout() -> None:
    clock = VirtualClock()
    with client(Simulator("timeout-then-ok", clock), timeout=7.5) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/chat/completions", json=CHAT)
        assert clock.now() == pytest.approx(7.5)
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_hang_without_timeout_ends_in_a_disconnect() -> None:
    clock = VirtualClock()
    with (
        client(Simulator("timeout-then-ok", clock), timeout=None) as c,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        c.post("/v1/chat/completions", json=CHAT)
    assert clock.now() == pytest.approx(600.0)


def test_latency_beyond_the_read_timeout_times_out() -> None:
    clock = VirtualClock()
    with client(Simulator("healthy", clock), timeout=0.01) as c, pytest.raises(httpx.ReadTimeout):
        c.post("/v1/chat/completions", json=CHAT)
    assert clock.now() == pytest.approx(0.01)


def test_reset_raises_remote_protocol_error() -> None:
    with client("reset-then-ok") as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/v1/chat/completions", json=CHAT)
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_reset_midstream_after_some_chunks() -> None:
    sc = Scenario("cut", "t", faults=(FaultRule(Fault.RESET_MIDSTREAM, after_tokens=2),))
    got: list[bytes] = []
    with (
        client(Simulator(sc, VirtualClock())) as c,
        c.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r,
    ):
        assert r.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            got.extend(r.iter_raw())
    assert b'"content":"' in b"".join(got)


def test_stalled_stream_hits_the_idle_read_timeout() -> None:
    clock = VirtualClock()
    with (
        client(Simulator("stalled-stream", clock), timeout=5.0) as c,
        c.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r,
    ):
        stamps: list[float] = []
        with pytest.raises(httpx.ReadTimeout):
            stamps.extend(clock.now() for _ in r.iter_raw())
    assert stamps
    assert clock.now() == pytest.approx(stamps[-1] + 5.0)


def test_retry_after_waits_replay_on_the_virtual_clock() -> None:
    clock = VirtualClock()
    with client(Simulator("retry-after-then-ok", clock)) as c:
        statuses = []
        for _ in range(3):
            r = c.post("/v1/chat/completions", json=CHAT)
            statuses.append(r.status_code)
            if r.status_code == 429:
                clock.sleep(float(r.headers["retry-after"]))
    assert statuses == [429, 429, 200]
    assert clock.now() >= 2.0


def test_outage_on_the_virtual_clock() -> None:
    clock = VirtualClock()
    sim = Simulator("outage", clock)
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
    }
    statuses: list[tuple[int, int]] = []
    with client(sim) as c:
        while clock.now() < 150:
            r = c.post("/v1/messages", json=body)
            statuses.append((int(clock.now()), r.status_code))
            clock.sleep(5)
    down = [t for t, s in statuses if s == 529]
    assert down
    assert min(down) >= 60
    assert max(down) <= 121
    assert all(s == 200 for t, s in statuses if t < 59 or t > 126)


def test_transport_rejects_conflicting_clock() -> None:
    sim = Simulator("healthy", VirtualClock())
    with pytest.raises(ValueError, match="clock"):
        SimTransport(sim, VirtualClock())


def test_default_clock_is_virtual() -> None:
    t = SimTransport("healthy")
    assert isinstance(t.clock, VirtualClock)


# ----------------------------------------------------------------------------- async


async def _run_async(
    sim: Simulator, bodies: list[dict[str, Any]], timeout: float = 30.0
) -> list[int]:
    async with httpx.AsyncClient(
        transport=AsyncSimTransport(sim),
        headers=AUTH,
        base_url="https://api.anthropic.com",
        timeout=timeout,
    ) as c:
        out = []
        for b in bodies:
            r = await c.post("/v1/messages", json=b)
            out.append(r.status_code)
        return out


def test_async_transport_plain_and_faults() -> None:
    clock = VirtualClock()
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
    }
    statuses = asyncio.run(_run_async(Simulator("5xx-burst", clock), [body] * 4))
    assert statuses[3] == 200
    assert all(s >= 500 for s in statuses[:3])
    assert clock.now() > 0


def test_async_stream_and_timeout() -> None:
    clock = VirtualClock()
    sim = Simulator(get_scenario("timeout-then-ok"), clock)

    async def go() -> tuple[str, int]:
        async with httpx.AsyncClient(
            transport=AsyncSimTransport(sim),
            headers=AUTH,
            base_url="https://api.openai.com",
            timeout=3.0,
        ) as c:
            try:
                await c.post("/v1/chat/completions", json=CHAT)
            except httpx.ReadTimeout:
                kind = "timeout"
            else:
                kind = "ok"
            events = 0
            async with c.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
                async for line in r.aiter_lines():
                    events += line.startswith("data: ")
            return kind, events

    kind, events = asyncio.run(go())
    assert kind == "timeout"
    assert events > 3
    assert clock.now() > 3.0
