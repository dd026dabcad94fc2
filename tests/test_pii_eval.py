"""The redactor's floor: recall per type on Faker data and false positives on real prompts.

The figures themselves are printed by ``benchmarks/redaction.py``; this holds the floor on a
smaller run (the same code, ``llmkit.pii_eval``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmkit.pii import Redactor
from llmkit.pii_eval import (
    LOCALES,
    measure_false_positives,
    measure_recall,
    real_cassette_dirs,
    recorded_prompts,
)

NO_RECORDINGS = "no real recordings: ../shared/real-cassettes absent, LLMKIT_REAL_CASSETTES unset"
BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_recall_per_type_on_faker_data_in_many_locales() -> None:
    assert len(LOCALES) >= 5
    result = measure_recall(150, seed=7)
    for kind, total, _found, recall in result.rows():
        assert total == 150
        assert recall >= 0.98, (kind, result.misses.get(kind, [])[:5])


def test_digit_runs_add_what_phonenumbers_alone_misses() -> None:
    alone = measure_recall(150, seed=7, redactor=Redactor(digit_runs=False)).recall("PHONE")
    both = measure_recall(150, seed=7).recall("PHONE")
    assert alone < both


@pytest.mark.real_cassettes
def test_false_positives_on_real_prompts() -> None:
    dirs = real_cassette_dirs()
    if not dirs:
        pytest.skip(
            "no real recordings (../shared/real-cassettes absent, LLMKIT_REAL_CASSETTES unset)"
        )
    fp = measure_false_positives(dirs)
    assert fp.messages >= 100  # the two folders hold a few hundred prompt messages
    assert fp.rate <= 0.01, fp.examples


def test_recorded_prompts_reads_every_api_shape(tmp_path: Path) -> None:
    cassette = tmp_path / "x.yaml"
    cassette.write_text(
        "interactions:\n"
        "- request: {method: POST, uri: 'https://h/v1/messages', headers: {}, body: "
        '\'{"system": "be brief", "messages": [{"role": "user", "content": '
        '[{"type": "text", "text": "mail a@b.io"}]}]}\'}\n'
        "  response: {status: {code: 200, message: OK}, headers: {}, body: {string: '{}'}}\n"
        "- request: {method: POST, uri: 'https://h/v1/responses', headers: {}, body: "
        '\'{"instructions": "x", "input": "hi"}\'}\n'
        "  response: {status: {code: 200, message: OK}, headers: {}, body: {string: '{}'}}\n"
    )
    texts = sorted(t for _, t in recorded_prompts([tmp_path]))
    assert texts == ["be brief", "hi", "mail a@b.io", "x"]
    fp = measure_false_positives([tmp_path])
    assert (fp.messages, fp.changed, fp.by_type) == (4, 1, {"EMAIL": 1})


def test_benchmark_script_prints_every_row() -> None:
    cmd = [sys.executable, str(BENCH / "redaction.py"), "--per-type", "30"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)  # noqa: S603
    assert out.returncode in (0, 1), out.stderr
    for row in ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP", "phonenumbers alone"):
        assert row in out.stdout, out.stdout
    assert "false positives:" in out.stdout
