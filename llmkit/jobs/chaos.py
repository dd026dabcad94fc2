"""The pipeline under fire: jobs through worker processes that keep getting SIGKILLed.

:func:`run_chaos` serves the simulator (transient faults on every media request), starts
``workers`` real ``llmkit jobs worker`` processes on SqliteHuey + SQLite records or on
RedisHuey + Redis records, submits ``jobs`` jobs (images and animations), and every
``kill_every`` seconds SIGKILLs a random worker, restarting it at once. When every job is
``done`` or ``failed`` (or time runs out) it counts:

- **lost**: jobs never finished (neither done nor failed);
- **duplicated**: provider generations beyond one per job (counted by the simulator, per prompt);
- **half-written**: visible artifacts whose bytes do not match their checksum or lack metadata,
  and finished jobs whose artifacts are missing.

``benchmarks/pipeline_chaos.py`` prints the full run; tests run a small one.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from llmkit.jobs.model import JobSpec
from llmkit.jobs.queue import JobQueue, JobsConfig
from llmkit.jobs.redis_store import RedisJobStore
from llmkit.sim.faults import Fault, FaultRule
from llmkit.sim.scenarios import get_scenario
from llmkit.sim.server import SimServer

__all__ = ["ChaosResult", "run_chaos"]

TRANSIENT = (Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.UNAVAILABLE, Fault.RESET, Fault.HANG)


@dataclass(frozen=True, slots=True)
class ChaosResult:
    backend: str
    submitted: int
    done: int
    failed: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    half_written: int = 0
    kills: int = 0
    resumed: int = 0
    seconds: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)

    @property
    def jobs_per_second(self) -> float:
        return (self.done + sum(self.failed.values())) / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.failed.items())) or "none"
        return [
            f"[{self.backend}] jobs submitted          {self.submitted}",
            f"[{self.backend}] done                    {self.done}",
            f"[{self.backend}] failed                  {sum(self.failed.values())} ({kinds})",
            f"[{self.backend}] lost                    {self.lost}",
            f"[{self.backend}] duplicated generations  {self.duplicated}",
            f"[{self.backend}] half-written artifacts  {self.half_written}",
            f"[{self.backend}] workers SIGKILLed       {self.kills} (jobs resumed: {self.resumed})",
            f"[{self.backend}] injected faults         {self.faults}",
            f"[{self.backend}] jobs per second         {self.jobs_per_second:.2f}"
            f" ({self.seconds:.1f} s)",
        ]


def _env(tmp: Path, provider_url: str, redis_url: str | None) -> dict[str, str]:
    """The workers' configuration: short leases and timeouts, so kills are noticed quickly."""
    return {
        **os.environ,
        "LLMKIT_JOBS_DIR": str(tmp),
        "LLMKIT_JOBS_PROVIDER_URL": provider_url,
        "LLMKIT_JOBS_API_KEY": "sim",
        "LLMKIT_JOBS_LEASE_TTL": "3",
        "LLMKIT_JOBS_PICKUP_TIMEOUT": "20",
        "LLMKIT_JOBS_REAP_EVERY": "1",
        "LLMKIT_JOBS_POLL_INTERVAL": "0.2",
        "LLMKIT_JOBS_READ_TIMEOUT": "1.0",
        "LLMKIT_JOBS_QUEUE": redis_url or "",
        "LLMKIT_JOBS_QUEUE_NAME": f"llmkit-chaos-{os.getpid()}-{tmp.name}",
        "LLMKIT_JOBS_STORE": redis_url or "",
    }


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "llmkit", "jobs", "worker", "--workers", "2"]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


def run_chaos(
    *,
    backend: str = "sqlite",
    jobs: int = 200,
    workers: int = 4,
    kill_every: float = 3.0,
    max_kills: int | None = None,
    fault_rate: float = 0.2,
    seed: int = 0,
    timeout: float = 600.0,
    redis_url: str | None = None,
    time_scale: float = 4.0,
    data_dir: Path | None = None,
    busy_only: bool = False,
) -> ChaosResult:
    """``busy_only``: kill only a worker holding a lease (waiting for one), so that every kill
    lands mid-stage; for a few kills in tests. Random victims otherwise: always killing the
    holder of the last job would never let it finish."""
    if backend == "redis" and not redis_url:
        raise ValueError("the redis backend needs redis_url")
    rng = random.Random(seed)
    scenario = (
        get_scenario("healthy")
        .with_(seed=seed)
        .plus(FaultRule(TRANSIENT, rate=fault_rate, retry_after=0.2, hang_seconds=4.0))
    )
    tmp = Path(data_dir or tempfile.mkdtemp(prefix=f"llmkit-chaos-{backend}-"))
    server = SimServer(scenario, time_scale=time_scale)
    server.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = _env(tmp, server.openai_base_url, redis_url if backend == "redis" else None)
        config = JobsConfig(
            data_dir=tmp,
            queue_url=env["LLMKIT_JOBS_QUEUE"] or None,
            queue_name=env["LLMKIT_JOBS_QUEUE_NAME"],
            store_url=env["LLMKIT_JOBS_STORE"] or None,
            provider_url=server.openai_base_url,
        )
        queue = JobQueue(config)
        queue.huey.flush()
        log = tmp / "workers.log"
        t0 = time.monotonic()
        procs = [_worker(env, log) for _ in range(workers)]
        ids = []
        for i in range(jobs):
            kind = "animation" if i % 2 else "image"
            spec = JobSpec(
                prompt=f"chaos {seed} job {i}: a paper boat", kind=kind, account=f"studio-{i % 10}"
            )
            ids.append(queue.submit(spec)[0].id)
        kills = 0
        next_kill = time.monotonic() + kill_every
        while time.monotonic() - t0 < timeout:
            counts = queue.store.counts()
            if sum(counts.get(s, 0) for s in ("done", "failed", "post_process_failed")) >= jobs:
                break
            if time.monotonic() >= next_kill and (max_kills is None or kills < max_kills):
                victim = _victim(queue, procs, rng) if busy_only else rng.randrange(len(procs))
                if victim is None:  # nobody is mid-stage: wait for someone to be
                    time.sleep(0.05)
                    continue
                os.kill(procs[victim].pid, signal.SIGKILL)
                procs[victim].wait()
                kills += 1
                procs[victim] = _worker(env, log)
                next_kill = time.monotonic() + kill_every
            time.sleep(0.2)
        seconds = time.monotonic() - t0
    finally:
        _stop(procs)
        server.stop()
    result = _count(queue, ids, server, backend=backend, kills=kills, seconds=seconds)
    queue.huey.flush()
    if isinstance(queue.store, RedisJobStore):
        queue.store.flush()
    return result


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the workers gracefully (SIGINT), or kill the ones that do not stop in 10 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _victim(
    queue: JobQueue, procs: list[subprocess.Popen[bytes]], rng: random.Random
) -> int | None:
    """A random worker holding a lease right now (so it dies mid-stage), or None."""
    now = time.time()
    busy = {
        int(job.lease_owner.split(":")[1])
        for job in queue.store.list(limit=10_000)
        if job.lease_owner and job.lease_until and job.lease_until > now and not job.terminal
    }
    holding = [i for i, p in enumerate(procs) if p.pid in busy]
    return rng.choice(holding) if holding else None


def _count(
    queue: JobQueue, ids: list[str], server: SimServer, *, backend: str, kills: int, seconds: float
) -> ChaosResult:
    done = 0
    failed: Counter[str] = Counter()
    lost = 0
    missing = 0
    prompts = set()
    for job_id in ids:
        job = queue.store.get(job_id)
        if job is None:
            lost += 1
            continue
        prompts.add(job.spec.prompt_hash())
        if job.state == "done":
            done += 1
            for sha in (job.artifact, job.thumbnail, job.contact_sheet):
                if sha is None or not queue.artifacts.path(sha).exists():
                    missing += 1
        elif job.state in ("failed", "post_process_failed"):
            failed[job.error_kind or "unknown"] += 1
        else:
            lost += 1
    gens = server.simulator.media.generations_by_prompt()
    duplicated = sum(max(0, n - 1) for h, n in gens.items() if h in prompts)
    audit = queue.artifacts.audit()
    resumed = sum(1 for ev in queue.store.events(0, limit=1_000_000) if ev["state"] == "resumed")
    faults = {k: v for k, v in server.simulator.outcomes.items() if k not in ("200",) and v}
    return ChaosResult(
        backend=backend,
        submitted=len(ids),
        done=done,
        failed=failed,
        lost=lost,
        duplicated=duplicated,
        half_written=len(audit.half_written) + missing,
        kills=kills,
        resumed=resumed,
        seconds=seconds,
        faults=faults,
    )
