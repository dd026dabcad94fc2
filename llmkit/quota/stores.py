"""Where quota usage lives: in memory, in SQLite, or in Redis -- one small interface.

A store keeps integer counters (requests, tokens, nano-dollars) under string keys, each with an
optional expiry (the end of its window). It does two things, both atomic:

- ``reserve(charges)``: add every charge's amount if, and only if, each counter stays within
  its limit; otherwise add nothing and say which charge did not fit and how much was used;
- ``adjust(charges)``: add (or, with a negative amount, give back) without checking limits --
  settling what a call really used, which may be more than was reserved.

Atomicity is what makes zero overshoot possible: a check and its increment are one step, so
two workers can never both see room for the last slot (``benchmarks/quota_race.py`` races 50
workers in 4 processes against each store and prints the overshoot).

- :class:`MemoryQuotaStore`: one process; a lock.
- :class:`SQLiteQuotaStore`: several processes on one machine; ``BEGIN IMMEDIATE`` (one writer
  at a time, readers unaffected in WAL mode) around the check and the increments.
- :class:`RedisQuotaStore`: many machines; one Lua script checks and increments every key
  (Redis runs a script atomically); a counter expires (``PEXPIRE``) when its window ends.

A store that cannot be reached raises :class:`~llmkit.errors.QuotaUnavailableError`; the quota
layer fails closed on it unless told otherwise.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llmkit.errors import QuotaUnavailableError

if TYPE_CHECKING:
    import redis as redis_lib

__all__ = [
    "Charge",
    "MemoryQuotaStore",
    "QuotaStore",
    "RedisQuotaStore",
    "Refused",
    "SQLiteQuotaStore",
]


@dataclass(frozen=True, slots=True)
class Charge:
    """``amount`` against counter ``key`` whose ``limit`` is not to be passed; the counter
    expires at wall time ``expires_at`` (unix s; None: never, e.g. a job's lifetime)."""

    key: str
    amount: int
    limit: int
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """The first charge that did not fit (its index) and the counter's value at that moment."""

    index: int
    used: int


class QuotaStore(Protocol):
    def reserve(self, charges: Sequence[Charge], *, now: float) -> Refused | None:
        """Add every amount, or none: None when all fit, else the first that did not."""
        ...

    def adjust(self, charges: Sequence[Charge], *, now: float) -> None:
        """Add the amounts (negative gives back) without checking limits."""
        ...

    def used(self, key: str, *, now: float) -> int:
        """A counter's current value (0 when absent or expired)."""
        ...


class MemoryQuotaStore:
    """Counters in a dict, for one process (tests, notebooks, a single worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[int, float | None]] = {}

    def _get(self, key: str, now: float) -> int:
        value, expires = self._data.get(key, (0, None))
        if expires is not None and now >= expires:
            return 0
        return value

    def reserve(self, charges: Sequence[Charge], *, now: float) -> Refused | None:
        with self._lock:
            for i, c in enumerate(charges):
                used = self._get(c.key, now)
                if used + c.amount > c.limit:
                    return Refused(i, used)
            for c in charges:
                self._data[c.key] = (self._get(c.key, now) + c.amount, c.expires_at)
        return None

    def adjust(self, charges: Sequence[Charge], *, now: float) -> None:
        with self._lock:
            for c in charges:
                self._data[c.key] = (self._get(c.key, now) + c.amount, c.expires_at)

    def used(self, key: str, *, now: float) -> int:
        with self._lock:
            return self._get(key, now)

    def __repr__(self) -> str:
        return f"MemoryQuotaStore({len(self._data)} counters)"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS llmkit_quota (
    key TEXT PRIMARY KEY,
    used INTEGER NOT NULL,
    expires_at REAL
)
"""


class SQLiteQuotaStore:
    """Counters in one SQLite file shared by the processes of one machine."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise QuotaUnavailableError(f"SQLite quota store: {exc}") from exc
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    @staticmethod
    def _get(conn: sqlite3.Connection, key: str, now: float) -> int:
        row = conn.execute(
            "SELECT used, expires_at FROM llmkit_quota WHERE key = ?", (key,)
        ).fetchone()
        if row is None or (row[1] is not None and now >= row[1]):
            return 0
        return int(row[0])

    @staticmethod
    def _add(conn: sqlite3.Connection, c: Charge, base: int) -> None:
        conn.execute(
            "INSERT INTO llmkit_quota (key, used, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET used = excluded.used, expires_at = excluded.expires_at",
            (c.key, base + c.amount, c.expires_at),
        )

    def _txn(self, charges: Sequence[Charge], now: float, check: bool) -> Refused | None:
        try:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = [self._get(conn, c.key, now) for c in charges]
                if check:
                    for i, (c, used) in enumerate(zip(charges, current, strict=True)):
                        if used + c.amount > c.limit:
                            conn.execute("ROLLBACK")
                            return Refused(i, used)
                for c, used in zip(charges, current, strict=True):
                    self._add(conn, c, used)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise QuotaUnavailableError(f"SQLite quota store: {exc}") from exc
        return None

    def reserve(self, charges: Sequence[Charge], *, now: float) -> Refused | None:
        return self._txn(charges, now, check=True)

    def adjust(self, charges: Sequence[Charge], *, now: float) -> None:
        self._txn(charges, now, check=False)

    def used(self, key: str, *, now: float) -> int:
        try:
            return self._get(self._conn(), key, now)
        except sqlite3.Error as exc:
            raise QuotaUnavailableError(f"SQLite quota store: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SQLiteQuotaStore({str(self.path)!r})"


# KEYS: counters. ARGV: now_ms, then (amount, limit, ttl_ms or -1) per key, then check.
_RESERVE = """
local n = #KEYS
local check = ARGV[3 * n + 2] == '1'
local used = {}
for i = 1, n do
  used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if check and used[i] + tonumber(ARGV[3 * i - 1]) > tonumber(ARGV[3 * i]) then
    return {i - 1, used[i]}
  end
end
for i = 1, n do
  redis.call('INCRBY', KEYS[i], ARGV[3 * i - 1])
  local ttl = tonumber(ARGV[3 * i + 1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return {-1, 0}
"""


class RedisQuotaStore:
    """Counters in Redis, shared by every machine; one Lua script per reserve or adjust."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis_lib.Redis | None = None,
        prefix: str = "llmkit:quota:",
        socket_timeout: float = 2.0,
    ) -> None:
        if client is None:
            if url is None:
                raise ValueError("give a redis URL or a redis.Redis client")
            import redis as redis_lib  # noqa: PLC0415 - optional dependency, imported on use

            client = redis_lib.Redis.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(_RESERVE)

    def _run(self, charges: Sequence[Charge], now: float, check: bool) -> Refused | None:
        import redis as redis_lib  # noqa: PLC0415

        args: list[Any] = [int(now * 1000)]
        for c in charges:
            # Relative to the caller's ``now``: its clock, not the server's, sets the window.
            ttl = -1 if c.expires_at is None else max(1, int((c.expires_at - now) * 1000))
            args += [c.amount, c.limit, ttl]
        args.append("1" if check else "0")
        try:
            index, used = self._script(keys=[self.prefix + c.key for c in charges], args=args)
        except redis_lib.RedisError as exc:
            # The message names the error class only: a URL with a password must not leak.
            raise QuotaUnavailableError(f"Redis quota store failed ({type(exc).__name__})") from exc
        return None if int(index) < 0 else Refused(int(index), int(used))

    def reserve(self, charges: Sequence[Charge], *, now: float) -> Refused | None:
        return self._run(charges, now, check=True)

    def adjust(self, charges: Sequence[Charge], *, now: float) -> None:
        self._run(charges, now, check=False)

    def used(self, key: str, *, now: float) -> int:
        import redis as redis_lib  # noqa: PLC0415

        try:
            value = self.client.get(self.prefix + key)
        except redis_lib.RedisError as exc:
            raise QuotaUnavailableError(f"Redis quota store failed ({type(exc).__name__})") from exc
        return int(value or 0)

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"RedisQuotaStore(prefix={self.prefix!r})"
