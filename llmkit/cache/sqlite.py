"""SQLite cache: the embedded default for a cache that survives restarts.

WAL mode lets readers run while one writer writes, across threads and processes. Each thread
gets its own connection (sqlite3 connections are not meant to be shared); a busy timeout makes
concurrent writers wait instead of failing. Expiry uses the injected clock's wall time.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from llmkit.clock import Clock, system_clock
from llmkit.errors import CacheUnavailableError

__all__ = ["SQLiteCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llmkit_cache (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    stored_at REAL NOT NULL,
    expires_at REAL
)
"""


class SQLiteCache:
    """A cache in one SQLite file. ``max_entries`` (optional) trims the oldest entries."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock = system_clock,
        max_entries: int | None = None,
        busy_timeout: float = 30.0,
        purge_every: int = 256,
    ) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        if purge_every < 1:  # 0 would be a ZeroDivisionError on the first write
            raise ValueError("purge_every must be >= 1")
        self.path = Path(path)
        self.clock = clock
        self.max_entries = max_entries
        self.busy_timeout = busy_timeout
        self.purge_every = purge_every
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writes = 0
        self._closed = False
        self._conn()  # create the file and schema now, so errors surface at construction

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise CacheUnavailableError(f"SQLite cache {self.path.name} is closed")
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise CacheUnavailableError(
                f"cannot open SQLite cache {self.path.name}: {exc}"
            ) from exc
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def get(self, key: str) -> bytes | None:
        try:
            row = (
                self._conn()
                .execute("SELECT value, expires_at FROM llmkit_cache WHERE key = ?", (key,))
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise CacheUnavailableError(f"SQLite cache read failed: {exc}") from exc
        if row is None:
            return None
        value, expires = row
        if expires is not None and self.clock.wall() >= expires:
            return None  # left for the next purge; a concurrent writer may be replacing it
        return bytes(value) if not isinstance(value, bytes) else value

    def set(self, key: str, value: bytes, *, ttl: float | None) -> None:
        now = self.clock.wall()
        expires = None if ttl is None else now + ttl
        try:
            conn = self._conn()
            conn.execute(
                "INSERT INTO llmkit_cache (key, value, stored_at, expires_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
                " stored_at = excluded.stored_at, expires_at = excluded.expires_at",
                (key, value, now, expires),
            )
            with self._lock:
                self._writes += 1
                purge = self._writes % self.purge_every == 0
            if purge:
                self.purge()
        except sqlite3.Error as exc:
            raise CacheUnavailableError(f"SQLite cache write failed: {exc}") from exc

    def purge(self) -> int:
        """Delete expired entries and trim to ``max_entries``; returns how many went."""
        try:
            conn = self._conn()
            n = conn.execute(
                "DELETE FROM llmkit_cache WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (self.clock.wall(),),
            ).rowcount
            if self.max_entries is not None:
                n += conn.execute(
                    "DELETE FROM llmkit_cache WHERE key IN (SELECT key FROM llmkit_cache"
                    " ORDER BY stored_at DESC LIMIT -1 OFFSET ?)",
                    (self.max_entries,),
                ).rowcount
        except sqlite3.Error as exc:
            raise CacheUnavailableError(f"SQLite cache purge failed: {exc}") from exc
        return n

    def delete(self, key: str) -> None:
        try:
            self._conn().execute("DELETE FROM llmkit_cache WHERE key = ?", (key,))
        except sqlite3.Error as exc:
            raise CacheUnavailableError(f"SQLite cache delete failed: {exc}") from exc

    def clear(self) -> None:
        try:
            self._conn().execute("DELETE FROM llmkit_cache")
        except sqlite3.Error as exc:
            raise CacheUnavailableError(f"SQLite cache clear failed: {exc}") from exc

    def __len__(self) -> int:
        try:
            row = self._conn().execute("SELECT COUNT(*) FROM llmkit_cache").fetchone()
        except sqlite3.Error as exc:
            raise CacheUnavailableError(f"SQLite cache count failed: {exc}") from exc
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SQLiteCache({str(self.path)!r})"
