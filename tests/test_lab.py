"""llmkit.lab: the capacity gate, the schedule and a small fleet, on a virtual clock."""

from __future__ import annotations

import itertools

import httpx
import pytest

from llmkit import AsyncClient, MemorySink, RetryPolicy
from llmkit.clock import VirtualClock
from llmkit.lab import CapacityGate, fleet, run_async, schedule
from llmkit.sim import get_scenario


class _Ok(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        return httpx.Response(200, json={}, request=request)


def _send(gate: CapacityGate) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    return run_async(gate.handle_async_request(request))


def test_gate_admits_per_second_then_sheds_with_an_optional_retry_after() -> None:
    clock = VirtualClock()
    inner = _Ok()
    gate = CapacityGate(inner, clock, 2, retry_after=5.0)
    statuses = [_send(gate).status_code for _ in range(3)]
    assert statuses == [200, 200, 503]
    assert (inner.seen, gate.shed) == (2, 1)
    clock.set(0.5)
    refused = _send(gate)
    assert refused.headers["retry-after"] == "5"
    clock.set(1.0)  # the first two admissions left the 1 s window
    assert _send(gate).status_code == 200
    plain = CapacityGate(_Ok(), VirtualClock(), 1)
    _send(plain)
    assert "retry-after" not in _send(plain).headers
    with pytest.raises(ValueError, match="per_second"):
        CapacityGate(_Ok(), clock, 0)


def test_schedule_is_seeded_and_spaced() -> None:
    assert schedule(3, 2, 0.0, seed=1) == [[0.0, 0.0]] * 3
    plan = schedule(2, 3, 4.0, seed=1)
    assert plan == schedule(2, 3, 4.0, seed=1)
    for times in plan:
        assert 0 <= times[0] < 4.0
        assert [round(b - a, 9) for a, b in itertools.pairwise(times)] == [4.0, 4.0]


def test_fleet_runs_every_worker_and_reports_the_offered_load() -> None:
    def make_client(
        http: httpx.AsyncClient, clock: VirtualClock, sink: MemorySink, i: int
    ) -> AsyncClient:
        return AsyncClient(
            "openai",
            http_client=http,
            base_url="http://127.0.0.1/v1",
            api_key="sim-placeholder",
            clock=clock,
            retry=RetryPolicy(max_attempts=6, base=1.0),
            budget=False,
            telemetry=sink,
            seed=i,
        )

    df = fleet(get_scenario("healthy"), make_client, capacity=3, clients=6, seed=1)
    calls = df[df["kind"] == "call"]
    assert len(calls) == 6
    assert df.attrs["scheduled"] == [0.0] * 6
    assert df.attrs["shed"] >= 3  # six at once through a gate of three per second
    assert int(calls["ok"].sum()) > 3  # retries got more through than the first second admits
