"""The served simulator on 127.0.0.1: real sockets, real resets and truncation, and the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmkit import InvalidResponseError, RateLimitError, parse_response, parse_stream
from llmkit.cli import main
from llmkit.sim import SCENARIOS, ZERO_LATENCY, SimServer, get_scenario
from llmkit.sim.server import ScaledClock

AUTH = {"authorization": "Bearer sk-test-123", "anthropic-version": "2023-06-01"}
SCALE = 1000.0
ROOT = Path(__file__).resolve().parents[1]

BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello"}],
    },
    "/v1/responses": {"model": "gpt-4o-mini", "input": "hello"},
    "/v1/messages": {
        "model": "claude-haiku-4-5",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "hello"}],
    },
    "/api/v1/chat/completions": {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello"}],
    },
}
PROVIDER = {
    "/v1/chat/completions": "openai",
    "/v1/responses": "openai",
    "/v1/messages": "anthropic",
    "/api/v1/chat/completions": "openrouter",
}


@pytest.fixture(scope="module")
def healthy() -> Iterator[str]:
    with SimServer("healthy", time_scale=SCALE) as url:
        yield url


@pytest.mark.parametrize("path", list(BODIES))
def test_every_provider_path_plain_and_streamed(healthy: str, path: str) -> None:
    with httpx.Client(base_url=healthy, headers=AUTH, timeout=5) as c:
        plain = c.post(path, json=BODIES[path])
        assert plain.status_code == 200
        answer = parse_response(PROVIDER[path], plain)
        with c.stream("POST", path, json={**BODIES[path], "stream": True}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            pieces = list(r.iter_raw())
        streamed = httpx.Response(
            200, headers=r.headers, content=b"".join(pieces), request=r.request
        )
    assert parse_stream(PROVIDER[path], streamed).text == answer.text


def test_stream_is_delivered_over_time() -> None:
    # at 4x, 5 tokens of gpt-4o-mini take ~2 ms each: enough to arrive as separate reads
    body = {**BODIES["/v1/chat/completions"], "stream": True, "max_tokens": 5}
    with (
        SimServer("healthy", time_scale=4.0) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=5) as c,
        c.stream("POST", "/v1/chat/completions", json=body) as r,
    ):
        pieces = list(r.iter_raw())
    assert len(pieces) > 3
    assert b"".join(pieces).endswith(b"data: [DONE]\n\n")


def test_base_urls_and_free_port() -> None:
    server = SimServer("healthy", time_scale=SCALE)
    url = server.start()
    try:
        assert server.port > 0
        assert url == f"http://127.0.0.1:{server.port}"
        assert server.openai_base_url == url + "/v1"
        assert server.openrouter_base_url == url + "/api/v1"
        assert server.anthropic_base_url == url
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url + "/v1/chat/completions", headers=AUTH, json={}, timeout=1)


def test_port_in_use_is_a_clear_error(healthy: str) -> None:
    port = int(healthy.rsplit(":", 1)[1])
    with pytest.raises(OSError, match="cannot serve"):
        SimServer("healthy", port=port).start()


def test_real_reset_then_ok() -> None:
    with (
        SimServer("reset-then-ok", time_scale=SCALE) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=5) as c,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            c.post("/v1/chat/completions", json=BODIES["/v1/chat/completions"])
        assert (
            c.post("/v1/chat/completions", json=BODIES["/v1/chat/completions"]).status_code == 200
        )


def test_real_truncation_is_detected() -> None:
    with (
        SimServer("truncated-stream", time_scale=SCALE) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=5) as c,
    ):
        r = c.post("/v1/messages", json={**BODIES["/v1/messages"], "stream": True})
        assert r.status_code == 200  # the HTTP exchange itself ended cleanly
        with pytest.raises(InvalidResponseError):
            parse_stream("anthropic", r)


def test_hang_needs_a_read_timeout() -> None:
    with (
        SimServer("timeout-then-ok", time_scale=SCALE) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=0.2) as c,
    ):
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/chat/completions", json=BODIES["/v1/chat/completions"])
        assert (
            c.post("/v1/chat/completions", json=BODIES["/v1/chat/completions"]).status_code == 200
        )


def test_time_scale_shrinks_real_latency() -> None:
    # healthy gpt-4o answers take ~1-3 simulated seconds; at 1000x that is milliseconds
    with (
        SimServer("healthy", time_scale=SCALE, seed=3) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=5) as c,
    ):
        t0 = time.perf_counter()
        r = c.post(
            "/v1/chat/completions", json={**BODIES["/v1/chat/completions"], "model": "gpt-4o"}
        )
        real = time.perf_counter() - t0
    simulated = int(r.headers["openai-processing-ms"]) / 1000
    assert simulated > 0.2
    assert real < simulated / 5


def test_scaled_clock() -> None:
    clock = ScaledClock(100.0)
    a = clock.now()
    assert a >= 0
    assert clock.wall() > 1_700_000_000
    with pytest.raises(ValueError, match="time_scale"):
        ScaledClock(0)


def test_ratelimit_drain_over_http() -> None:
    # the drain limits without latency, so the test does not wait; scale 1 keeps the
    # bucket from refilling between requests
    drain = get_scenario("ratelimit-drain").with_(latency=ZERO_LATENCY)
    with SimServer(drain) as url, httpx.Client(base_url=url, headers=AUTH, timeout=5) as c:
        got = []
        for _ in range(6):
            r = c.post("/v1/messages", json=BODIES["/v1/messages"])
            got.append((r.status_code, r.headers.get("anthropic-ratelimit-requests-remaining")))
    assert got[:5] == [(200, "4"), (200, "3"), (200, "2"), (200, "1"), (200, "0")]
    assert got[5][0] == 429
    with pytest.raises(RateLimitError) as info:
        parse_response("anthropic", r)
    assert info.value.retry_after is not None
    assert 11 <= info.value.retry_after <= 13


def test_concurrent_load_is_served() -> None:
    async def run(url: str) -> dict[int, int]:
        counts: dict[int, int] = {}
        async with httpx.AsyncClient(
            base_url=url, headers=AUTH, timeout=10, limits=httpx.Limits(max_connections=20)
        ) as c:

            async def one(i: int) -> None:
                r = await c.post(
                    "/v1/chat/completions",
                    json={**BODIES["/v1/chat/completions"], "stream": i % 2 == 0},
                )
                counts[r.status_code] = counts.get(r.status_code, 0) + 1

            await asyncio.gather(*(one(i) for i in range(200)))
        return counts

    server = SimServer("instant")
    with server as url:
        counts = asyncio.run(run(url))
    assert counts == {200: 200}
    assert server.simulator.requests == 200


# ----------------------------------------------------------------------------- CLI


def test_cli_scenarios_lists_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in lines} == set(SCENARIOS)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["sim", "serve", "--scenario", "nope"], "unknown scenario 'nope'; known: 500-no-retry"),
        (["sim", "serve", "--port", "99999"], "port must be within"),
        (["sim", "serve", "--time-scale", "0"], "positive number"),
        (["sim"], "required"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err
    assert len(err.strip().splitlines()) == 1


def test_python_m_llmkit_sim_serve_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmkit",
            "sim",
            "serve",
            "--port",
            "0",
            "--scenario",
            "rate-limited",
            "--seed",
            "7",
            "--time-scale",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "rate-limited" in first
        assert "seed 7" in first
        url = first.split("serving on ")[1].strip()
        r = httpx.post(
            url + "/v1/chat/completions",
            headers=AUTH,
            json=BODIES["/v1/chat/completions"],
            timeout=5,
        )
        assert r.status_code == 429
        assert json.loads(r.content)["error"]["code"] == "rate_limit_exceeded"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


# --------------------------------------------------------------------------- virtual time


def _at(t: float) -> dict[str, str]:
    return {**AUTH, "x-llmkit-sim-time": repr(t)}


def test_virtual_time_needs_the_time_header() -> None:
    with (
        SimServer("healthy", virtual_time=True) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=5) as c,
    ):
        for headers in ({}, {"x-llmkit-sim-time": "soon"}, {"x-llmkit-sim-time": "-1"}):
            r = c.post("/v1/chat/completions", json=BODIES["/v1/chat/completions"], headers=headers)
            assert r.status_code == 400
            assert "x-llmkit-sim-time" in r.json()["error"]["message"]


def test_virtual_time_answers_at_once_and_reports_the_plan() -> None:
    slow = get_scenario("healthy").with_(latency=get_scenario("slow-tail").latency)
    with (
        SimServer(slow, virtual_time=True) as url,
        httpx.Client(base_url=url, timeout=5) as c,
    ):
        started = time.perf_counter()
        r = c.post("/v1/messages", json={**BODIES["/v1/messages"], "stream": True}, headers=_at(0))
        wall = time.perf_counter() - started
        assert r.status_code == 200
        latency = float(r.headers["x-llmkit-sim-latency"])
        ttft = float(r.headers["x-llmkit-sim-ttft"])
        plan = json.loads(r.headers["x-llmkit-sim-plan"])
        assert 0 < ttft < latency
        assert sum(n for n, _ in plan["chunks"]) == len(r.content)  # the whole body, at once
        assert plan["delay"] + sum(d for _, d in plan["chunks"]) == pytest.approx(latency)
        assert wall < latency  # nothing slept on the server
        assert parse_stream("anthropic", r).text


def test_virtual_time_drives_fault_windows() -> None:
    """outage: 529 from t=60 s to t=120 s of the *client's* time, whatever the wall says."""
    with (
        SimServer("outage", virtual_time=True) as url,
        httpx.Client(base_url=url, timeout=5) as c,
    ):
        codes = [
            c.post("/v1/messages", json=BODIES["/v1/messages"], headers=_at(t)).status_code
            for t in (0.0, 61.0, 119.0, 121.0)
        ]
    assert codes == [200, 529, 529, 200]


def test_virtual_time_reset_is_a_real_cut() -> None:
    with (
        SimServer("reset-then-ok", virtual_time=True) as url,
        httpx.Client(base_url=url, timeout=5) as c,
    ):
        with pytest.raises(httpx.RemoteProtocolError):  # the connection closes under the client
            c.post("/v1/chat/completions", json=BODIES["/v1/chat/completions"], headers=_at(0))
        r = c.post("/v1/chat/completions", json=BODIES["/v1/chat/completions"], headers=_at(1))
        assert r.status_code == 200


def test_sim_serve_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sim", "serve", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for default in (
        "(default: 127.0.0.1)",
        "(default: 8000)",
        "(default: healthy)",
        "(default: the scenario's own)",
        "(default: 1.0)",
        "default: off, real time",
    ):
        assert default in text, default
