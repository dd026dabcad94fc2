"""``llmkit.charts`` data helpers: a missing committed cassette fails loudly, and
``replay_frame`` is ``llmkit replay``'s own loop (same calls, attempts and outcomes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmkit.cassettes.runner import percentile, replay_cassette
from llmkit.charts import cassette, percentiles, replay_frame
from llmkit.errors import CassetteMismatchError, CassetteNotFoundError
from llmkit.telemetry import MemorySink

ROOT = Path(__file__).resolve().parents[1]


def _bare_checkout(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (tmp_path / "notebooks").mkdir()
    return tmp_path


def test_committed_cassette_is_found() -> None:
    path = cassette("openai", "retry-after", root=ROOT)
    assert path == ROOT / "cassettes" / "openai" / "retry-after.yaml"


def test_missing_catalogue_cassette_raises_and_records_nothing(tmp_path: Path) -> None:
    root = _bare_checkout(tmp_path)
    with pytest.raises(CassetteNotFoundError, match="make cassettes") as info:
        cassette("openai", "retry-after", root=root)
    assert info.value.path == str(root / "cassettes" / "openai" / "retry-after.yaml")
    assert not (root / "build").exists()  # no silent re-recording
    assert not (root / "cassettes").exists()


def test_name_outside_the_catalogue_is_a_plain_value_error(tmp_path: Path) -> None:
    root = _bare_checkout(tmp_path)
    with pytest.raises(ValueError, match="llmkit record --list") as info:
        cassette("openai", "overloaded-529", root=root)  # recorded for anthropic only
    assert not isinstance(info.value, CassetteNotFoundError)


@pytest.mark.parametrize(
    ("name", "retry", "policy"),
    [("openai/5xx-burst", None, "retry"), ("openai/5xx-burst", False, "naive")],
)
def test_replay_frame_matches_replay_cassette(name: str, retry: bool | None, policy: str) -> None:
    path = ROOT / "cassettes" / f"{name}.yaml"
    df = replay_frame(path, retry=retry)
    sink = MemorySink()
    summary = replay_cassette(path, policy=policy, telemetry=sink, budget=False, seed=0)
    calls = df[df["kind"] == "call"]
    assert len(calls) == summary.calls == len(sink.calls())
    assert len(df[df["kind"] == "attempt"]) == summary.attempts == len(sink.attempts())
    assert int(calls["ok"].sum()) == summary.successes
    assert summary.p50_s == pytest.approx(percentile(calls["latency"], 0.5), abs=1e-4)


def test_replay_frame_cannot_invent_attempts() -> None:
    # fallback-pair recorded 2 attempts per call on the primary, all failed: a third has no
    # recording, and the replay says so instead of charting an invented error.
    with pytest.raises(CassetteMismatchError):
        replay_frame(ROOT / "cassettes" / "mixed" / "fallback-pair.yaml", retry=3)


def test_percentiles_are_the_replay_definition() -> None:
    values = [0.4, 0.1, 0.3, 0.2]
    assert percentiles(values, (0.5, 0.9)) == [percentile(values, 0.5), percentile(values, 0.9)]
    assert percentiles([], (0.5,))[0] != percentiles([], (0.5,))[0]  # NaN when empty
