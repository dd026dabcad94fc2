"""How long ``import llmkit`` takes, in fresh interpreters (median of several).

Run ``python benchmarks/import_time.py`` (``--runs N``, ``--module NAME`` to add more).
Each figure is the median over ``--runs`` fresh subprocesses of ``perf_counter`` around the
import alone (interpreter start-up excluded). Bytecode is cached as after ``pip install``: one
untimed run first writes the ``.pyc`` files into a private ``pycache_prefix`` (this sandbox sets
``PYTHONDONTWRITEBYTECODE``, which would otherwise make every fresh process compile llmkit).
``httpx`` is measured beside it because it is most of the bill and not ours to cut. When
``import llmkit`` misses its target, ``python -X importtime``'s largest imports are printed
so a reader sees where the time went. Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass

TARGET_MS = 200.0
"""``import llmkit`` must stay under this (httpx alone is about 120 ms on 2 cores)."""

_PROBE = (
    "import sys, time\n"
    "t = time.perf_counter()\n"
    "import {module}\n"
    "dt = time.perf_counter() - t\n"
    "heavy = [m for m in ('pandas', 'matplotlib', 'numpy') if m in sys.modules]\n"
    "print(dt, ','.join(heavy))\n"
)


@dataclass(frozen=True, slots=True)
class ImportFigure:
    module: str
    runs_ms: tuple[float, ...]
    heavy: tuple[str, ...]
    """Heavy packages the import dragged in (pandas, matplotlib, numpy): should be none."""

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)


@functools.cache
def _pycache() -> str:
    path = tempfile.mkdtemp(prefix="llmkit-importtime-")
    atexit.register(shutil.rmtree, path, True)
    return path


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter that reads and writes bytecode in a private cache."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cmd = [sys.executable, "-X", f"pycache_prefix={_pycache()}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)


def _once(module: str) -> tuple[float, tuple[str, ...]]:
    out = _python("-c", _PROBE.format(module=module))
    if out.returncode != 0:
        raise RuntimeError(f"`import {module}` failed in a fresh interpreter:\n{out.stderr}")
    secs, _, heavy = out.stdout.strip().partition(" ")
    return float(secs) * 1000.0, tuple(h for h in heavy.split(",") if h)


def measure(module: str, runs: int = 7) -> ImportFigure:
    """Median import time of ``module`` over ``runs`` fresh interpreters (after one warm-up)."""
    _once(module)  # writes .pyc files; not timed
    samples = [_once(module) for _ in range(runs)]
    return ImportFigure(module, tuple(ms for ms, _ in samples), samples[-1][1])


def offenders(module: str, top: int = 12) -> list[tuple[int, int, str]]:
    """``python -X importtime``'s imports with the largest self time: (self µs, cum µs, name)."""
    out = _python("-X", "importtime", "-c", f"import {module}")
    rows: list[tuple[int, int, str]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        rows.append((int(parts[0]), int(parts[1]), parts[2].rstrip()))
    rows.sort(key=lambda r: r[0], reverse=True)
    return rows[:top]


def report(figures: list[ImportFigure], *, target_ms: float = TARGET_MS) -> bool:
    """Print the figures (and offenders when over); True when ``import llmkit`` meets target."""
    print(f"import time (fresh interpreters, median of {len(figures[0].runs_ms)} runs)")
    print(f"  {'module':<22}{'median ms':>11}{'min ms':>9}{'max ms':>9}  heavy modules loaded")
    for f in figures:
        heavy = ", ".join(f.heavy) or "none"
        print(
            f"  {f.module:<22}{f.median_ms:>11.1f}{min(f.runs_ms):>9.1f}{max(f.runs_ms):>9.1f}"
            f"  {heavy}"
        )
    main = next(f for f in figures if f.module == "llmkit")
    ok = main.median_ms < target_ms and not main.heavy
    if not ok:
        print("  `import llmkit` top offenders by self time (python -X importtime):")
        print(f"  {'self ms':>9}{'cum ms':>9}  module")
        for self_us, cum_us, name in offenders("llmkit"):
            print(f"  {self_us / 1000:>9.1f}{cum_us / 1000:>9.1f}  {name}")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7, help="fresh interpreters per module (7)")
    p.add_argument("--module", action="append", default=[], help="also measure this module")
    args = p.parse_args(argv)
    modules = ["llmkit", "llmkit.client", "httpx", *args.module]
    ok = report([measure(m, args.runs) for m in modules])
    llmkit = "PASS" if ok else "FAIL"
    print(f"{llmkit}  import llmkit under {TARGET_MS:.0f} ms without pandas/matplotlib")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
