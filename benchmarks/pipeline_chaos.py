"""The media job pipeline under fire, on SQLite and on Redis.

200 jobs (half images, half animations) through 4 `llmkit jobs worker` processes against the
served simulator with 20% transient faults (429, 500, 503, resets, hangs), while the driver
SIGKILLs a worker that is mid-stage every 3 s and restarts it. Prints jobs submitted, done,
failed (with kinds), lost, duplicated provider generations, half-written artifacts and jobs per
second, for SqliteHuey and for RedisHuey (needs LLMKIT_REDIS_URL). Exits 1 if anything was lost,
duplicated or half-written.

    python benchmarks/pipeline_chaos.py [--jobs 200] [--workers 4] [--backend sqlite|redis|both]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from llmkit.jobs.chaos import run_chaos


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--kill-every", type=float, default=3.0)
    ap.add_argument("--fault-rate", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", choices=("sqlite", "redis", "both"), default="both")
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the workers this run started are stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    backends = ["sqlite", "redis"] if args.backend == "both" else [args.backend]
    redis_url = os.environ.get("LLMKIT_REDIS_URL")
    bad = False
    for backend in backends:
        if backend == "redis" and not redis_url:
            print("[redis] skipped: set LLMKIT_REDIS_URL to a redis-server you own")
            bad = bad or args.backend == "redis"
            continue
        result = run_chaos(
            backend=backend,
            jobs=args.jobs,
            workers=args.workers,
            kill_every=args.kill_every,
            fault_rate=args.fault_rate,
            seed=args.seed,
            timeout=args.timeout,
            redis_url=redis_url,
        )
        print("\n".join(result.lines()), flush=True)
        bad = bad or bool(result.lost or result.duplicated or result.half_written)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
