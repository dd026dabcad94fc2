"""Recording real HTTP against the served simulator on 127.0.0.1 (the honest path)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmkit.cassettes import FaultStep, ResponseStep, load_cassette
from llmkit.cassettes.catalogue import find
from llmkit.cassettes.runner import record_entry, replay_cassette


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"network access to {host!r}")
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def test_served_recording_matches_the_in_process_one(tmp_path: Path) -> None:
    ((entry, group),) = find("retry-after", "openai")
    served = record_entry(entry, group, tmp_path / "served.yaml", served=True, time_scale=20)
    exact = record_entry(entry, group, tmp_path / "exact.yaml")
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
    assert "served simulator" in s_doc["llmkit"]["notes"]["recorded_via"]
    assert load_cassette(served).meta.provenance.source == "simulator"
    s_steps, e_steps = load_cassette(served).meta.timeline, load_cassette(exact).meta.timeline
    for s, e in zip(s_steps, e_steps, strict=True):
        assert isinstance(s, ResponseStep)
        assert isinstance(e, ResponseStep)
        assert s.latency_s >= 0.9 * e.latency_s  # measured: the simulated wait, plus overhead
    assert s_steps[1].t_s - s_steps[0].t_s >= 1.0  # retry-after: 1 simulated second
    summary = replay_cassette(served, strict=True)
    assert summary.successes == 1
    assert summary.attempts == 3


def test_served_timeout_is_recorded_as_a_fault(tmp_path: Path) -> None:
    ((entry, group),) = find("timeout-then-ok", "anthropic")
    path = record_entry(entry, group, tmp_path / "t.yaml", served=True, time_scale=20)
    fault, ok = load_cassette(path).meta.timeline
    assert isinstance(fault, FaultStep)
    assert fault.fault == "timeout"
    assert 9.5 <= fault.after_s <= 14.0  # the 10 s read timeout, in simulated seconds
    assert isinstance(ok, ResponseStep)
    assert replay_cassette(path, strict=True).successes == 1
