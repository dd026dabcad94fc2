"""How far ``llmkit.estimate_input_tokens`` is from what providers billed, on real traffic.

Reads every recording of a supported provider in ``../shared/real-cassettes`` and
``../shared/real-cassettes-set2`` (other projects' recordings, never copied into the repo)
whose request body is intact and whose response reports input tokens, estimates each body,
and prints the error distribution: how many were underestimated (the floor: at most 1 in 20,
never by more than 10%), and the overestimate's median (goal: under 40%) and spread. Exits 1
when the floor is broken, 2 when the recordings are absent.

    python benchmarks/token_estimate.py [--dir PATH ...] [--rows]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from llmkit import estimate_input_tokens
from llmkit.recordings import input_token_samples

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_DIRS = [
    Path(p).expanduser()
    for p in (os.environ.get("LLMKIT_REAL_CASSETTES") or "").split(os.pathsep)
    if p.strip()
] or [SHARED / "real-cassettes", SHARED / "real-cassettes-set2"]
"""LLMKIT_REAL_CASSETTES (``os.pathsep``-separated), else the recordings beside the checkout."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", action="append", type=Path, help="recordings directory")
    ap.add_argument("--rows", action="store_true", help="print every recording's figures")
    args = ap.parse_args()
    dirs = [d for d in (args.dir or DEFAULT_DIRS) if d.is_dir()]
    if not dirs:
        print("no recordings found (looked for ../shared/real-cassettes*)")
        return 2
    samples = input_token_samples(*dirs)
    errors: list[float] = []
    by_provider: dict[str, list[float]] = defaultdict(list)
    t0 = time.perf_counter()
    estimates = [estimate_input_tokens(s.provider, s.body) for s in samples]
    per_call = (time.perf_counter() - t0) / max(1, len(samples)) * 1e6
    for s, est in zip(samples, estimates, strict=True):
        err = (est - s.input_tokens) / s.input_tokens
        errors.append(err)
        by_provider[s.provider].append(err)
        if args.rows:
            print(f"  {s.source:55s} billed {s.input_tokens:6d}  estimated {est:6d}  {err:+.0%}")
    under = [e for e in errors if e < 0]
    over = sorted(e for e in errors if e >= 0)
    q = statistics.quantiles(errors, n=10) if len(errors) > 1 else errors * 9
    print(f"recordings: {len(samples)} from {', '.join(str(d) for d in dirs)}")
    for provider, errs in sorted(by_provider.items()):
        print(f"  {provider:10s} n={len(errs):3d}  median {statistics.median(errs):+.0%}")
    print(
        f"error (estimate - billed) / billed: min {min(errors):+.0%}  p10 {q[0]:+.0%}  "
        f"median {statistics.median(errors):+.0%}  p90 {q[-1]:+.0%}  max {max(errors):+.0%}"
    )
    worst = min(under) if under else 0.0
    print(
        f"underestimated: {len(under)} of {len(samples)} (floor: at most 1 in 20), "
        f"worst {worst:+.1%} (floor: -10%)"
    )
    median_over = statistics.median(over) if over else 0.0
    print(f"median overestimate: {median_over:.1%} (goal: under 40%)")
    print(f"cost: {per_call:.1f} µs per estimate")
    ok = len(under) * 20 <= len(samples) and worst >= -0.10
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
