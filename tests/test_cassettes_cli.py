"""``llmkit record`` and ``llmkit replay``: summaries, JSON, and one-line errors with exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from llmkit.cassettes import load_cassette
from llmkit.cassettes.catalogue import entries
from llmkit.cli import main

ROOT = Path(__file__).resolve().parents[1] / "cassettes"


def test_replay_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(ROOT / "openai/5xx-burst.yaml")]) == 0
    out = capsys.readouterr().out
    assert "calls 1  attempts 4  successes 1" in out
    assert "p50" in out
    assert "p99" in out
    assert "tokens in" in out
    assert "unplayed recordings 0" in out


def test_replay_json_and_policies(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "mixed/fallback-pair.yaml")
    results = {}
    for policy in ("naive", "retry", "full"):
        assert main(["replay", path, "--policy", policy, "--json"]) == 0
        captured = capsys.readouterr()
        results[policy] = json.loads(captured.out)
        assert captured.err == ""  # no progress bar when stderr is not a terminal
    assert results["naive"]["successes"] == 0
    assert results["naive"]["errors"] == {"overloaded": 4}
    assert results["retry"]["attempts"] == 8  # primary retried, never the secondary
    assert results["full"]["successes"] == 4  # the fallback answers every call
    assert results["full"]["unplayed"] == 0
    for r in results.values():
        assert r["calls"] == 4
        assert r["source"] == "simulator"
        assert r["p95_s"] is not None


def test_strict_replay_fails_on_unplayed_recordings(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "mixed/fallback-pair.yaml")
    # retry-only never reaches the recorded secondary: its 4 answers stay unplayed
    assert main(["replay", path, "--strict"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmkit replay: error: fallback-pair.yaml: 4 recorded interaction(s)")
    assert err.count("\n") == 1
    assert main(["replay", path, "--strict", "--policy", "full"]) == 0
    assert "unplayed recordings 0" in capsys.readouterr().out


def test_replay_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "missing.yaml" in err
    assert "not found" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("interactions: [\n")
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmkit replay: error: bad.yaml: not valid YAML")
    assert err.count("\n") == 1
    with pytest.raises(SystemExit) as info:
        main(["replay", str(bad), "--policy", "bogus"])
    assert info.value.code == 2


def test_record_one_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x" / "r.yaml"
    assert (
        main(
            ["record", "retry-after", "--provider", "openrouter", "--out", str(out), "--seed", "3"]
        )
        == 0
    )
    assert f"recorded {out}" in capsys.readouterr().out
    meta = load_cassette(out).meta
    assert meta.provenance.provider == "openrouter"
    assert meta.provenance.seed == 3
    # a plain simulator scenario (not in the catalogue) records with a default workload
    flaky = tmp_path / "flaky.yaml"
    assert main(["record", "flaky", "--out", str(flaky)]) == 0
    assert load_cassette(flaky).meta.provenance.scenario == "flaky"
    assert load_cassette(flaky).meta.provenance.transport == "http"  # the default
    local = tmp_path / "local.yaml"
    assert main(["record", "flaky", "--out", str(local), "--in-process"]) == 0
    assert load_cassette(local).meta.provenance.transport == "in-process"


def test_record_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "no-such-thing"]) == 2
    assert "unknown scenario 'no-such-thing'" in capsys.readouterr().err
    assert main(["record", "overloaded-529", "--provider", "openai"]) == 2
    assert "recorded for anthropic" in capsys.readouterr().err
    assert main(["record", "success", "--provider", "nope"]) == 2
    assert "unknown provider" in capsys.readouterr().err
    assert main(["record"]) == 2
    assert main(["record", "--all", "success"]) == 2
    assert main(["record", "success", "--in-process", "--real-time"]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_record_all_into_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record", "--all", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith(f"{len(list(entries()))} cassettes in")
    for p in sorted(ROOT.rglob("*.yaml")):
        copy = tmp_path / p.relative_to(ROOT)
        assert copy.read_bytes() == p.read_bytes(), f"{p.relative_to(ROOT)} drifted"
    shutil.rmtree(tmp_path)
