"""The one switch for tests that read real recorded traffic (tests/_real.py)."""

from __future__ import annotations

import os
from pathlib import Path

import _real
import pytest

_TEST = """
import _real
import pytest

@pytest.mark.real_cassettes
@pytest.mark.parametrize("path", _real.params("openai__*.yaml"))
def test_reads(path):
    assert path.name.startswith("openai__")

@pytest.mark.real_cassettes("real-cassettes-set2")
def test_set2():
    assert _real.directory("real-cassettes-set2") is not None

def test_unmarked():
    assert _real.files() == [] or _real.directory() is not None
"""


@pytest.fixture
def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    here = Path(__file__).parent
    pytester.makeconftest((here / "conftest.py").read_text())
    pytester.makepyfile(test_switch=_TEST)
    pytester.syspathinsert(here)
    monkeypatch.delenv(_real.REQUIRE_ENV, raising=False)
    return pytester


def test_absent_recordings_skip_with_one_line_reason(
    session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(_real.ENV, str(tmp_path / "nowhere" / "real-cassettes"))
    result = session.runpytest_inprocess("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        ["*SKIPPED*real recorded traffic 'real-cassettes' not found*LLMKIT_REAL_CASSETTES*"]
    )
    assert "empty parameter set" not in result.stdout.str()


def test_required_recordings_fail_when_absent(
    session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(_real.ENV, str(tmp_path / "nowhere"))
    monkeypatch.setenv(_real.REQUIRE_ENV, "1")
    result = session.runpytest_inprocess()
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*LLMKIT_REQUIRE_REAL_CASSETTES=1 but real recorded traffic*"])


def test_named_directories_are_read_by_set(
    session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set1, set2 = tmp_path / "a" / "real-cassettes", tmp_path / "b" / "real-cassettes-set2"
    set1.mkdir(parents=True)
    set2.mkdir(parents=True)
    (set1 / "openai__chat_basic__1.yaml").write_text("interactions: []\n")
    (set1 / "anthropic__messages_basic__1.yaml").write_text("interactions: []\n")
    monkeypatch.setenv(_real.ENV, os.pathsep.join((str(set1), str(set2))))
    monkeypatch.setenv(_real.REQUIRE_ENV, "1")
    result = session.runpytest_inprocess("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_reads?openai__chat_basic__1? PASSED*"])


def test_env_lists_directories_and_require_reads_truthy_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    d = tmp_path / "real-cassettes"
    d.mkdir()
    monkeypatch.setenv(_real.ENV, os.pathsep.join((str(tmp_path / "missing"), str(d))))
    assert _real.dirs() == [d.resolve()]
    assert _real.directory() == d.resolve()
    assert _real.directory(_real.SET2) is None
    assert _real.path("x.yaml") == d.resolve() / "x.yaml"
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv(_real.REQUIRE_ENV, value)
        assert _real.required() is expected
