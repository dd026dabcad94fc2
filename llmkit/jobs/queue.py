"""Execution on huey: ``SqliteHuey`` on one machine by default, ``RedisHuey`` across machines.

The queue only carries "run job X" messages; the job store is the source of truth. huey pops a
message and keeps no record of it (no ack, no visibility timeout), so a worker killed by
SIGKILL loses the message it held. That is fine here: the job's lease expires, and the reaper
(a thread in every worker, :meth:`JobQueue.reap`) enqueues every job whose lease expired, or
that sat queued without ever being picked up for ``pickup_timeout`` seconds. A message for a
job that is already leased or finished is a no-op, so duplicates cost nothing.

Configuration comes from the environment (:meth:`JobsConfig.from_env`): ``LLMKIT_JOBS_DIR``
(records, artifacts, the SQLite queue), ``LLMKIT_JOBS_QUEUE`` (``redis://...`` for
RedisHuey; ``LLMKIT_JOBS_QUEUE_NAME`` names the queue), ``LLMKIT_JOBS_STORE``
(``redis://...`` keeps the job records in Redis too, for workers on several machines),
``LLMKIT_JOBS_PROVIDER_URL`` (e.g. the simulator's ``http://127.0.0.1:8080/v1``),
``LLMKIT_JOBS_API_KEY`` (else ``OPENAI_API_KEY``), ``LLMKIT_JOBS_WEBHOOK_URL`` and
``LLMKIT_JOBS_WEBHOOK_SECRET``; timings ``LLMKIT_JOBS_LEASE_TTL``, ``..._PICKUP_TIMEOUT``,
``..._REAP_EVERY``, ``..._POLL_INTERVAL``, ``..._READ_TIMEOUT`` (seconds).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey

from llmkit.jobs.artifacts import ArtifactStore
from llmkit.jobs.model import Job, JobSpec, Limits, validate
from llmkit.jobs.pipeline import Pipeline, RunResult, StageOutcome
from llmkit.jobs.store import JobStore, Records
from llmkit.jobs.webhooks import WebhookSender

__all__ = ["JobQueue", "JobsConfig"]

TASK_NAME = "llmkit.jobs.run"


@dataclass(frozen=True, slots=True)
class JobsConfig:
    data_dir: Path = Path(".llmkit-jobs")
    queue_url: str | None = None
    """``redis://host:port/db`` for RedisHuey; None for SqliteHuey in ``data_dir``."""
    store_url: str | None = None
    """``redis://...`` keeps job records in Redis (workers on many machines); None: SQLite in
    ``data_dir``. Artifacts stay in ``data_dir`` (shared storage when workers are many)."""
    queue_name: str = "llmkit-jobs"
    """huey's name: the queue's keys (Redis) or table rows (SQLite) are under it."""
    provider_url: str = "http://127.0.0.1:8080/v1"
    api_key: str = dataclasses.field(default="sim", repr=False)
    webhook_url: str | None = None
    webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    lease_ttl: float = 30.0
    pickup_timeout: float = 120.0
    reap_every: float = 5.0
    poll_interval: float = 0.5
    read_timeout: float = 10.0
    retries: int = 4
    keep_prompt: bool = False
    limits: Limits = dataclasses.field(default_factory=Limits)

    @classmethod
    def from_env(cls, **overrides: Any) -> JobsConfig:
        env = os.environ
        values: dict[str, Any] = {
            "data_dir": Path(env.get("LLMKIT_JOBS_DIR", ".llmkit-jobs")),
            "queue_url": env.get("LLMKIT_JOBS_QUEUE") or None,
            "queue_name": env.get("LLMKIT_JOBS_QUEUE_NAME") or "llmkit-jobs",
            "store_url": env.get("LLMKIT_JOBS_STORE") or None,
            "provider_url": env.get("LLMKIT_JOBS_PROVIDER_URL", "http://127.0.0.1:8080/v1"),
            "api_key": env.get("LLMKIT_JOBS_API_KEY") or env.get("OPENAI_API_KEY") or "sim",
            "webhook_url": env.get("LLMKIT_JOBS_WEBHOOK_URL") or None,
            "webhook_secret": env.get("LLMKIT_JOBS_WEBHOOK_SECRET") or None,
        }
        for name in ("lease_ttl", "pickup_timeout", "reap_every", "poll_interval", "read_timeout"):
            raw = env.get(f"LLMKIT_JOBS_{name.upper()}")
            if raw:
                try:
                    values[name] = float(raw)
                except ValueError:
                    raise ValueError(f"LLMKIT_JOBS_{name.upper()} must be seconds") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = Path(values["data_dir"])
        return cls(**values)

    @property
    def backend(self) -> str:
        return "redis" if self.queue_url else "sqlite"


def make_huey(config: JobsConfig) -> Huey:
    if config.queue_url:
        return RedisHuey(config.queue_name, url=config.queue_url, results=False)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(config.queue_name, filename=str(config.data_dir / "queue.db"), results=False)


class JobQueue:
    """Submit jobs, run workers, reap expired leases — one object per process."""

    def __init__(self, config: JobsConfig, *, huey: Huey | None = None) -> None:
        self.config = config
        self.huey = huey or make_huey(config)
        self.store: Records
        if config.store_url:
            from llmkit.jobs.redis_store import RedisJobStore  # noqa: PLC0415 - needs redis

            self.store = RedisJobStore(config.store_url, prefix=f"{config.queue_name}:records")
        else:
            self.store = JobStore(config.data_dir / "jobs.db")
        self.artifacts = ArtifactStore(
            config.data_dir / "artifacts", keep_prompt=config.keep_prompt
        )
        self._pipeline: Pipeline | None = None
        self.outcomes: list[StageOutcome] = []
        self.task = self.huey.task(name=TASK_NAME)(self._run)

    # ----------------------------------------------------------------------------- submit

    def submit(self, spec: JobSpec) -> tuple[Job, bool]:
        """Validate, create (or find, by idempotency key) and enqueue. Raises JobInputError
        (nothing created) for bad input."""
        validate(spec, self.config.limits)
        job, created = self.store.create(spec, self.config.limits)
        if job.state == "validated":
            # Record first, then enqueue: a message that is lost (or a crash in between) leaves
            # a queued job the reaper picks up after ``pickup_timeout``.
            self.store.mark_queued(job.id)
            self.enqueue(job.id)
            job = self.store.get(job.id) or job
        return job, created

    def enqueue(self, job_id: str, delay: float | None = None) -> None:
        if delay:
            self.task.schedule((job_id,), delay=delay)
        else:
            self.task(job_id)

    def retry_post_process(self, job_id: str) -> bool:
        """Run post-processing again for a ``post_process_failed`` job (no provider call)."""
        if self.store.reset_post_process(job_id):
            self.enqueue(job_id)
            return True
        return False

    # ----------------------------------------------------------------------------- worker

    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            c = self.config
            hooks = None
            if c.webhook_url and c.webhook_secret:
                hooks = WebhookSender(c.webhook_url, c.webhook_secret)
            self._pipeline = Pipeline.connect(
                self.store,
                self.artifacts,
                base_url=c.provider_url,
                api_key=c.api_key,
                read_timeout=c.read_timeout,
                retries=c.retries,
                lease_ttl=c.lease_ttl,
                poll_interval=c.poll_interval,
                webhooks=hooks,
                outcomes=self.outcomes.append,
            )
        return self._pipeline

    @staticmethod
    def worker_id() -> str:
        return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"

    def _run(self, job_id: str) -> None:
        result: RunResult = self.pipeline().run(job_id, self.worker_id())
        if result.retry_in is not None:
            self.enqueue(job_id, delay=result.retry_in)

    def reap(self) -> list[str]:
        """Enqueue jobs whose lease expired or that were never picked up."""
        ids = self.store.stale(pickup_timeout=self.config.pickup_timeout)
        for job_id in ids:
            self.store.touch(job_id)
            self.store.note(job_id, "reaped", self.worker_id(), "lease expired or never picked up")
            self.enqueue(job_id)
        return ids

    def _reaper(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.reap_every):
            try:
                self.reap()
            except Exception:  # noqa: S112 - a failed reaper pass must not stop the next one
                continue

    def run_worker(self, workers: int = 1) -> None:
        """Consume the queue until SIGINT/SIGTERM (huey's consumer), with a reaper thread."""
        stop = threading.Event()
        reaper = threading.Thread(
            target=self._reaper, args=(stop,), name="llmkit-reaper", daemon=True
        )
        reaper.start()
        consumer = self.huey.create_consumer(workers=workers, worker_type="thread", periodic=False)
        try:
            consumer.run()
        finally:
            stop.set()
