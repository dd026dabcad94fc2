"""The job record store: SQLite (WAL, many processes), the pipeline's source of truth.

Whatever the task queue promises, a job's state lives here: each transition is one
transaction that also appends to ``events`` (the timeline, the SSE feed, the webhook source).

Leases make stages safe to run on many workers. A worker takes a job with :meth:`JobStore.acquire`
(only if nobody holds a live lease), renews while it works, and every write it makes is fenced:
:meth:`advance` succeeds only while the caller still owns an unexpired lease, so a worker that
stalled past its lease cannot overwrite the one that took over. A worker killed mid-stage
simply stops renewing; :meth:`stale` finds the job once the lease has expired and the reaper
enqueues it again, to resume at its last completed state.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from llmkit.clock import Clock, system_clock
from llmkit.jobs.model import TERMINAL, Job, JobInputError, JobSpec, Limits

__all__ = ["JobStore", "LeaseLostError", "Records"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  account TEXT NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  created REAL NOT NULL,
  updated REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  provider_calls INTEGER NOT NULL DEFAULT 0,
  provider_job_id TEXT,
  artifact TEXT,
  thumbnail TEXT,
  contact_sheet TEXT,
  error_kind TEXT,
  error_message TEXT,
  lease_owner TEXT,
  lease_until REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  state TEXT NOT NULL,
  at REAL NOT NULL,
  worker TEXT,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id);
"""

_TERMINAL_SQL = "('" + "','".join(sorted(TERMINAL)) + "')"


class LeaseLostError(RuntimeError):
    """This worker no longer owns the job's lease: another worker has taken over; stop."""


class Records(Protocol):
    """What the pipeline, the queue and the API need from a record store: :class:`JobStore`
    (SQLite, one machine) or :class:`~llmkit.jobs.redis_store.RedisJobStore` (many)."""

    def create(self, spec: JobSpec, limits: Limits | None = None) -> tuple[Job, bool]: ...
    def get(self, job_id: str) -> Job | None: ...
    def list(self, *, state: str | None = None, limit: int = 100) -> builtins.list[Job]: ...
    def counts(self) -> dict[str, int]: ...
    def events(self, after: int = 0, limit: int = 1000) -> builtins.list[dict[str, Any]]: ...
    def mark_queued(self, job_id: str) -> None: ...
    def acquire(self, job_id: str, worker: str, ttl: float) -> Job | None: ...
    def renew(self, job_id: str, worker: str, ttl: float) -> None: ...
    def release(self, job_id: str, worker: str) -> None: ...
    def advance(
        self,
        job_id: str,
        worker: str,
        state: str | None,
        *,
        detail: str | None = None,
        count_call: bool = False,
        **fields: Any,
    ) -> None: ...
    def note(
        self, job_id: str, what: str, worker: str | None, detail: str | None = None
    ) -> None: ...
    def reset_post_process(self, job_id: str) -> bool: ...
    def stale(self, *, pickup_timeout: float) -> builtins.list[str]: ...
    def touch(self, job_id: str) -> None: ...
    def close(self) -> None: ...


class JobStore:
    """Job records in one SQLite file shared by the API, the CLI and every worker process."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock: Clock = clock or system_clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._tx():
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _event(
        self, job_id: str, state: str, worker: str | None, detail: str | None = None
    ) -> None:
        self._db.execute(
            "INSERT INTO events(job_id, state, at, worker, detail) VALUES (?,?,?,?,?)",
            (job_id, state, self.clock.wall(), worker, detail),
        )

    # ------------------------------------------------------------------------- create / read

    def create(self, spec: JobSpec, limits: Limits | None = None) -> tuple[Job, bool]:
        """The job for ``spec``'s idempotency key, and whether it was created just now.

        The same key returns the same job (even with a different input: the key decides).
        An account over its active-job limit gets :class:`JobInputError` and nothing is created.
        """
        limits = limits or Limits()
        key = spec.key()
        now = self.clock.wall()
        with self._tx() as db:
            row = db.execute("SELECT id FROM jobs WHERE key=?", (key,)).fetchone()
            if row is not None:
                job_id, created = str(row["id"]), False
            else:
                (active,) = db.execute(
                    f"SELECT COUNT(*) FROM jobs WHERE account=? AND state NOT IN {_TERMINAL_SQL}",  # noqa: S608 - constant
                    (spec.account,),
                ).fetchone()
                if active >= limits.max_active_per_account:
                    raise JobInputError(
                        "account",
                        f"has {active} active jobs; the limit is {limits.max_active_per_account}",
                    )
                job_id, created = "job_" + uuid.uuid4().hex[:20], True
                db.execute(
                    "INSERT INTO jobs(id, key, account, spec, state, created, updated) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (job_id, key, spec.account, json.dumps(spec.as_dict()), "validated", now, now),
                )
                self._event(job_id, "validated", None)
        job = self.get(job_id)
        assert job is not None
        return job, created

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return None
            events = self._db.execute(
                "SELECT state, at FROM events WHERE job_id=? ORDER BY seq", (job_id,)
            ).fetchall()
        return _job(row, tuple((str(e["state"]), float(e["at"])) for e in events))

    def list(self, *, state: str | None = None, limit: int = 100) -> builtins.list[Job]:
        with self._lock:
            if state is None:
                rows = self._db.execute(
                    "SELECT * FROM jobs ORDER BY created DESC, id LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM jobs WHERE state=? ORDER BY created DESC, id LIMIT ?",
                    (state, limit),
                ).fetchall()
        return [_job(r, ()) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            return {str(r["state"]): int(r["n"]) for r in rows.fetchall()}

    def events(self, after: int = 0, limit: int = 1000) -> builtins.list[dict[str, Any]]:
        """State changes after sequence number ``after`` (the SSE feed and the timeline)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM events WHERE seq>? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()
        return [dict(r) for r in rows]

    # ---------------------------------------------------------------------- leases / writes

    def mark_queued(self, job_id: str) -> None:
        """validated → queued (once; a resubmitted job is not queued twice)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET state='queued', updated=? WHERE id=? AND state='validated'",
                (self.clock.wall(), job_id),
            )
            if cur.rowcount:
                self._event(job_id, "queued", None)

    def acquire(self, job_id: str, worker: str, ttl: float) -> Job | None:
        """Take the job's lease if it is free (never taken, released or expired)."""
        now = self.clock.wall()
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET lease_owner=?, lease_until=?, attempts=attempts+1 "  # noqa: S608 - a constant
                f"WHERE id=? AND state NOT IN {_TERMINAL_SQL} "
                "AND (lease_until IS NULL OR lease_until < ?)",
                (worker, now + ttl, job_id, now),
            )
            taken = cur.rowcount == 1
        return self.get(job_id) if taken else None

    def renew(self, job_id: str, worker: str, ttl: float) -> None:
        now = self.clock.wall()
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET lease_until=? WHERE id=? AND lease_owner=? AND lease_until>=?",
                (now + ttl, job_id, worker, now),
            )
            if cur.rowcount != 1:
                raise LeaseLostError(f"{worker} lost the lease on {job_id}")

    def release(self, job_id: str, worker: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET lease_owner=NULL, lease_until=NULL WHERE id=? AND lease_owner=?",
                (job_id, worker),
            )

    def advance(
        self,
        job_id: str,
        worker: str,
        state: str | None,
        *,
        detail: str | None = None,
        count_call: bool = False,
        **fields: Any,
    ) -> None:
        """Write ``fields`` (and move to ``state``) only while ``worker`` holds a live lease.

        Raises :class:`LeaseLostError` otherwise: the write is fenced, nothing changes.
        """
        allowed = {
            "provider_job_id",
            "artifact",
            "thumbnail",
            "contact_sheet",
            "error_kind",
            "error_message",
        }
        if not set(fields) <= allowed:
            raise ValueError(f"unknown job fields: {sorted(set(fields) - allowed)}")
        now = self.clock.wall()
        sets = ["updated=?"]
        values: list[Any] = [now]
        if state is not None:
            sets.append("state=?")
            values.append(state)
        if count_call:
            sets.append("provider_calls=provider_calls+1")
        for name, value in fields.items():
            sets.append(f"{name}=?")
            values.append(value)
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE jobs SET {', '.join(sets)} "  # noqa: S608 - names from the allowlist
                "WHERE id=? AND lease_owner=? AND lease_until>=?",
                (*values, job_id, worker, now),
            )
            if cur.rowcount != 1:
                raise LeaseLostError(f"{worker} lost the lease on {job_id}")
            if state is not None:
                self._event(job_id, state, worker, detail)

    def note(self, job_id: str, what: str, worker: str | None, detail: str | None = None) -> None:
        """An event that is not a state change (a resumption, a webhook delivery)."""
        with self._tx():
            self._event(job_id, what, worker, detail)

    def reset_post_process(self, job_id: str) -> bool:
        """post_process_failed → stored, to run post-processing again (no provider call)."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE jobs SET state='stored', error_kind=NULL, error_message=NULL, updated=? "
                "WHERE id=? AND state='post_process_failed'",
                (self.clock.wall(), job_id),
            )
            if cur.rowcount:
                self._event(job_id, "stored", None, "post-processing retried")
            return cur.rowcount == 1

    def stale(self, *, pickup_timeout: float) -> builtins.list[str]:
        """Jobs to enqueue again: a lease expired (its worker died or stalled), or queued and
        never picked up for ``pickup_timeout`` seconds (the queue lost the message)."""
        now = self.clock.wall()
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM jobs WHERE state NOT IN {_TERMINAL_SQL} AND ("  # noqa: S608
                " (lease_until IS NOT NULL AND lease_until < ?)"
                " OR (lease_until IS NULL AND updated < ?))",
                (now, now - pickup_timeout),
            ).fetchall()
        return [str(r["id"]) for r in rows]

    def touch(self, job_id: str) -> None:
        """Mark a job as just (re-)enqueued, so the reaper waits a full pickup timeout again."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET updated=?, lease_owner=NULL, lease_until=NULL "
                "WHERE id=? AND (lease_until IS NULL OR lease_until < ?)",
                (self.clock.wall(), job_id, self.clock.wall()),
            )


def _job(row: sqlite3.Row, transitions: tuple[tuple[str, float], ...]) -> Job:
    return Job(
        id=row["id"],
        key=row["key"],
        spec=JobSpec(**json.loads(row["spec"])),
        state=row["state"],
        created=row["created"],
        updated=row["updated"],
        attempts=row["attempts"],
        provider_calls=row["provider_calls"],
        provider_job_id=row["provider_job_id"],
        artifact=row["artifact"],
        thumbnail=row["thumbnail"],
        contact_sheet=row["contact_sheet"],
        error_kind=row["error_kind"],
        error_message=row["error_message"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        transitions=transitions,
    )
