"""The benchmark scripts still run against today's llmkit (a tiny run; figures not judged).

``make bench`` is where the figures are read; here only the plumbing is checked: the simulator
starts in its own process, every contender answers, the tables and the verdicts are printed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_overhead_smoke_run() -> None:
    cmd = [sys.executable, str(BENCH / "overhead.py"), "--calls", "3", "--rounds", "2"]
    cmd += ["--warmup", "1", "--async-seconds", "0.1", "--async-rounds", "1"]
    cmd += ["--async-warmup", "0.05", "--concurrency", "5", "--import-runs", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)  # noqa: S603
    assert out.returncode in (0, 1), out.stderr  # 1: a target missed on a tiny, noisy run
    text = out.stdout
    for heading in ("sync, one call at a time", "async, 5 calls in flight", "import time"):
        assert heading in text, text
    for row in ("raw httpx.Client (openai)", "llmkit.Client (anthropic)", "raw aiohttp"):
        assert row in text, text
    assert "llmkit.AsyncClient (default: AiohttpTransport)" in text
    verdicts = [ln for ln in text.splitlines() if ln.startswith(("  PASS", "  FAIL"))]
    assert len(verdicts) == 3, text
    assert (out.returncode == 0) == all(v.startswith("  PASS") for v in verdicts)


def test_import_time_reports_llmkit_without_heavy_modules() -> None:
    cmd = [sys.executable, str(BENCH / "import_time.py"), "--runs", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert out.returncode in (0, 1), out.stderr
    rows = {ln.split()[0]: ln for ln in out.stdout.splitlines() if ln.startswith("  llmkit ")}
    assert rows["llmkit"].endswith("none")  # neither pandas nor matplotlib nor numpy
