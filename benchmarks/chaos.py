"""The chaos run, printed: 2,000 calls, 30% transient faults, a 60 s primary outage.

    python benchmarks/chaos.py               # the issue's run (a few seconds: virtual clock)
    python benchmarks/chaos.py --seed 4      # another seed
    python benchmarks/chaos.py --calls 400   # a smaller run

Runs ``llmkit.chaos.run_chaos`` (the same function the test and notebook 04 use) and prints,
for the run with retry + budget + fallback + breaker and the same run with no policies:
success rate, HTTP attempts per call, retries denied by the retry budget, breaker opens, p50 and
p99 call latency in virtual seconds, and the largest deadline overrun. Exits 1 when the policies
run misses a target (at least 99.9% success, no non-retryable error retried, no call past its
deadline).
"""

from __future__ import annotations

import argparse
import sys
import time

from llmkit.chaos import ChaosConfig, ChaosRun, chaos_scenario, run_chaos

ROWS: tuple[tuple[str, str], ...] = (
    ("success rate", "{:.2%}"),
    ("attempts/call", "{:.3f}"),
    ("budget denied", "{:d}"),
    ("breaker opens", "{:d}"),
    ("p50 latency s", "{:.3f}"),
    ("p99 latency s", "{:.3f}"),
    ("max deadline overrun s", "{:.3f}"),
    ("non-retryable errors", "{:d}"),
    ("non-retryable retried", "{:d}"),
)


def table(runs: list[ChaosRun]) -> str:
    summaries = [r.summary() for r in runs]
    widths = [len(r.name) + 3 for r in runs]
    lines = [f"{'':24}" + "".join(f"{r.name:>{w}}" for r, w in zip(runs, widths, strict=True))]
    for key, fmt in ROWS:
        cells = "".join(
            f"{fmt.format(s[key]):>{w}}" for s, w in zip(summaries, widths, strict=True)
        )
        lines.append(f"{key:24}{cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    default = ChaosConfig()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=default.calls)
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--fault-rate", type=float, default=default.fault_rate)
    args = parser.parse_args(argv)
    config = ChaosConfig(calls=args.calls, seed=args.seed, fault_rate=args.fault_rate)
    scenario = chaos_scenario(config)

    started = time.perf_counter()
    report = run_chaos(config)
    seconds = time.perf_counter() - started

    print(f"simulator scenario {scenario.name!r}, seed {config.seed}: {scenario.description}")
    print(
        f"{config.calls} calls at {config.rate:g}/s, deadline {config.deadline:g} s, "
        f"read timeout {config.read_timeout:g} s, {config.attempts} attempts per target"
    )
    print()
    print(table([report.policies, report.naive]))
    print()
    served = ", ".join(f"{k} {v}" for k, v in report.policies.served_by.most_common())
    print(f"served by (policies): {served}")
    print(
        f"virtual time {report.policies.seconds:.0f} s per run; "
        f"real time {seconds:.1f} s for both runs"
    )
    missed = report.missed()
    for line in missed:
        print(f"FAIL {line}")
    if not missed:
        print(
            f"PASS success >= {config.min_success:.1%}, no non-retryable error retried, "
            "no call past its deadline"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
