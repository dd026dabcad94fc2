"""Recording real HTTP against the served simulator on 127.0.0.1.

The default (``via="http"``) serves the simulator on virtual time: every byte crosses a
loopback socket and the result is exactly what the in-process simulator gives, byte for byte
but for the provenance line that says how it travelled. ``via="real-time"`` really sleeps
(scaled) and measures.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from llmkit.cassettes import FaultStep, ResponseStep, load_cassette
from llmkit.cassettes.catalogue import CATALOGUE, Entry, find
from llmkit.cassettes.record import TappedHTTPTransport
from llmkit.cassettes.runner import record_entry, replay_cassette
from llmkit.clock import VirtualClock
from llmkit.sim import SCENARIOS, SimServer


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"network access to {host!r}")
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def _plain(name: str) -> Entry:
    """A plain simulator scenario with the default workload (as ``llmkit record NAME``)."""
    sc = SCENARIOS[name]
    return Entry(name, sc.description, sc, CATALOGUE[0].workload, groups=("openai",))


def _without_transport(path: Path) -> Any:
    doc = yaml.safe_load(path.read_text())
    doc["llmkit"]["provenance"].pop("transport")
    doc["llmkit"]["notes"].pop("recorded_via")
    return doc


CASES = [
    *find("timeout-then-ok", "anthropic"),
    *find("midstream-error", "openai"),
    *find("stream-success", "openrouter"),
    *find("retry-after", "openai-responses"),
    (_plain("reset-then-ok"), "openai"),
    (_plain("stalled-stream"), "openai"),
    (_plain("truncated-stream"), "openai"),
]


@pytest.mark.parametrize(("entry", "group"), CASES, ids=[f"{g}/{e.name}" for e, g in CASES])
def test_http_recording_equals_the_in_process_one(entry: Entry, group: str, tmp_path: Path) -> None:
    http = record_entry(entry, group, tmp_path / "http.yaml")
    local = record_entry(entry, group, tmp_path / "local.yaml", via="in-process")
    assert load_cassette(http).meta.provenance.transport == "http"
    assert load_cassette(local).meta.provenance.transport == "in-process"
    assert load_cassette(http).meta.provenance.source == "simulator"
    assert "over HTTP" in yaml.safe_load(http.read_text())["llmkit"]["notes"]["recorded_via"]
    # same interactions, same timeline (faults included), to the last digit
    assert _without_transport(http) == _without_transport(local)
    assert "llmkit-sim" not in http.read_text()  # the protocol's headers never leak
    again = record_entry(entry, group, tmp_path / "again.yaml")
    assert again.read_bytes() == http.read_bytes()


def test_transport_faults_survive_the_socket(tmp_path: Path) -> None:
    reset = record_entry(_plain("reset-then-ok"), "openai", tmp_path / "r.yaml")
    steps = load_cassette(reset).meta.timeline
    assert isinstance(steps[0], FaultStep)
    assert steps[0].fault == "reset"
    ((entry, group),) = find("timeout-then-ok", "anthropic")
    hang = record_entry(entry, group, tmp_path / "h.yaml")
    fault, ok = load_cassette(hang).meta.timeline
    assert isinstance(fault, FaultStep)
    assert fault.fault == "timeout"
    assert fault.after_s == entry.timeout  # the read timeout, in virtual seconds, exactly
    assert isinstance(ok, ResponseStep)
    assert replay_cassette(hang, strict=True).successes == 1


def test_tap_refuses_a_server_without_virtual_time() -> None:
    clock = VirtualClock()
    with (
        SimServer("healthy", time_scale=1000) as url,
        httpx.Client(transport=TappedHTTPTransport(clock, sim_epoch=0.0)) as c,
        pytest.raises(RuntimeError, match="virtual-time"),
    ):
        c.post(
            url + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer sk-test"},
        )


def test_real_time_recording_matches_the_in_process_one(tmp_path: Path) -> None:
    ((entry, group),) = find("retry-after", "openai")
    served = record_entry(entry, group, tmp_path / "served.yaml", via="real-time", time_scale=20)
    exact = record_entry(entry, group, tmp_path / "exact.yaml", via="in-process")
    s_doc, e_doc = (yaml.safe_load(p.read_text()) for p in (served, exact))
    assert [i["response"]["status"]["code"] for i in s_doc["interactions"]] == [429, 429, 200]

    # the same answers came back over the socket as in process (same seed, same simulator),
    # but for the wall-clock ``created`` stamp
    def bodies(doc: Any) -> list[Any]:
        return [
            {k: v for k, v in i["response"]["parsed_body"].items() if k != "created"}
            for i in doc["interactions"]
        ]

    assert bodies(s_doc) == bodies(e_doc)
    assert "timings measured" in s_doc["llmkit"]["notes"]["recorded_via"]
    assert load_cassette(served).meta.provenance.transport == "http"
    s_steps, e_steps = load_cassette(served).meta.timeline, load_cassette(exact).meta.timeline
    for s, e in zip(s_steps, e_steps, strict=True):
        assert isinstance(s, ResponseStep)
        assert isinstance(e, ResponseStep)
        assert s.latency_s >= 0.9 * e.latency_s  # measured: the simulated wait, plus overhead
    assert s_steps[1].t_s - s_steps[0].t_s >= 1.0  # retry-after: 1 simulated second
    summary = replay_cassette(served, strict=True)
    assert summary.successes == 1
    assert summary.attempts == 3


def test_real_time_timeout_is_recorded_as_a_fault(tmp_path: Path) -> None:
    ((entry, group),) = find("timeout-then-ok", "anthropic")
    path = record_entry(entry, group, tmp_path / "t.yaml", via="real-time", time_scale=20)
    fault, ok = load_cassette(path).meta.timeline
    assert isinstance(fault, FaultStep)
    assert fault.fault == "timeout"
    assert 9.5 <= fault.after_s <= 14.0  # the 10 s read timeout, in simulated seconds
    assert isinstance(ok, ResponseStep)
    assert replay_cassette(path, strict=True).successes == 1
