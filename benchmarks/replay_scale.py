"""Cassette replay cost per interaction, at 100, 1,000 and 10,000 calls: it must stay flat.

    python benchmarks/replay_scale.py            # 100 / 1,000 / 10,000 calls (goal: 10k < 20 s)
    python benchmarks/replay_scale.py --small    # 100 / 1,000 calls (what the tests run)

Records (in virtual time, through the in-process simulator: no socket, seconds of wall time)
a cassette of N calls -- distinct prompts over two providers, some streamed, some asked twice
(identical requests, answered in recorded order), 3% transient faults retried -- then times
``llmkit.cassettes.runner.replay_cassette`` on it: reading the file once, vcrpy replaying every
interaction (``IndexedCassette``: one dict lookup per request instead of a scan of the whole
cassette), the Client stack, the timeline on a VirtualClock. Prints file size, record time,
replay wall time and µs per interaction for each size. Exits 1 when the largest size's µs per
interaction is more than 2x the smallest's, or (full run) 10,000 calls take 20 s or more of
CPU time. The replay is single-threaded, so on an idle machine its wall time is its CPU time;
on a shared one the wall time also counts the other processes (both are printed, with the
load average).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from llmkit.cassettes.catalogue import Entry, Route
from llmkit.cassettes.runner import record_entry, replay_cassette
from llmkit.cassettes.workload import Arrival
from llmkit.sim.faults import Fault, FaultRule
from llmkit.sim.scenarios import Scenario
from llmkit.types import ChatRequest, Message

GOAL_10K_S = 20.0
_MODELS = (("openai", "gpt-4o-mini", "chat"), ("anthropic", "claude-haiku-4-5", "messages"))


def entry(calls: int) -> Entry:
    def workload(route: Route, rng: random.Random) -> list[Arrival]:
        out = []
        for i in range(calls):
            provider, model, api = _MODELS[i % 2]
            ticket = i - 1 if i % 10 == 9 else i  # every tenth call repeats the one before
            request = ChatRequest(
                model=model,
                messages=(Message("user", f"Summarise ticket {ticket}"),),
                max_tokens=16,
                stream=i % 7 == 0,
            )
            out.append(Arrival(i * 2.0, provider, request, api))
        return out

    scenario = Scenario(
        f"scale-{calls}",
        "Plain traffic with 3% transient faults.",
        faults=(FaultRule((Fault.SERVER_ERROR, Fault.RATE_LIMIT), rate=0.03),),
    )
    return Entry(f"scale-{calls}", f"{calls} calls", scenario, workload, seed=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the sizes the tests run")
    args = parser.parse_args(argv)
    sizes = (100, 1_000) if args.small else (100, 1_000, 10_000)

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"{'calls':>7} {'interactions':>13} {'file MB':>8} {'record s':>9} {'replay s':>9}"
        f" {'replay CPU s':>13} {'CPU µs/interaction':>19}"
    )
    per: list[float] = []
    walls: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm-up.yaml"  # imports and first-use costs, not timed
        record_entry(entry(10), "mixed", warm, via="in-process")
        replay_cassette(warm, policy="retry", strict=True)
        for n in sizes:
            path = Path(tmp) / f"scale-{n}.yaml"
            t = time.perf_counter()
            record_entry(entry(n), "mixed", path, via="in-process")
            recorded = time.perf_counter() - t
            t, cpu = time.perf_counter(), time.process_time()
            summary = replay_cassette(path, policy="retry", strict=True)
            wall = time.perf_counter() - t
            walls[n] = time.process_time() - cpu
            if summary.calls != n:
                print(f"replayed {summary.calls} calls of {n}", file=sys.stderr)
                return 2
            per.append(walls[n] / summary.attempts * 1e6)  # CPU µs per interaction
            print(
                f"{n:>7,} {summary.attempts:>13,} {path.stat().st_size / 1e6:>8.2f}"
                f" {recorded:>9.2f} {wall:>9.2f} {walls[n]:>13.2f} {per[-1]:>19.0f}"
            )

    ratio = per[-1] / per[0]
    ok = ratio <= 2.0
    print(
        f"  {'PASS' if ok else 'FAIL'} µs/interaction largest/smallest = {ratio:.2f}x"
        " (target <= 2x)"
    )
    if not args.small:
        fast = walls[10_000] < GOAL_10K_S
        print(
            f"  {'PASS' if fast else 'FAIL'} 10,000 calls replayed in {walls[10_000]:.1f} s"
            f" (target < {GOAL_10K_S:g} s)"
        )
        ok = ok and fast
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
