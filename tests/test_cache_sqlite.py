"""SQLite backend: a real file, WAL, many threads and many processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from llmkit.cache import CacheUnavailableError, SQLiteCache
from llmkit.clock import VirtualClock


def test_round_trip_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    c = SQLiteCache(path)
    c.set("a", b"\x00binary\xff", ttl=None)
    assert c.get("a") == b"\x00binary\xff"
    c.set("a", b"new", ttl=None)
    assert c.get("a") == b"new"
    c.close()
    again = SQLiteCache(path)
    assert again.get("a") == b"new"
    with closing(sqlite3.connect(path)) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again.delete("a")
    assert again.get("a") is None
    again.close()


def test_ttl_and_purge_on_the_injected_clock(tmp_path: Path) -> None:
    clock = VirtualClock()
    c = SQLiteCache(tmp_path / "c.db", clock=clock)
    c.set("short", b"1", ttl=5)
    c.set("long", b"2", ttl=500)
    clock.advance(5)
    assert c.get("short") is None
    assert c.get("long") == b"2"
    assert c.purge() == 1
    assert len(c) == 1
    c.close()


def test_max_entries_keeps_the_newest(tmp_path: Path) -> None:
    clock = VirtualClock()
    c = SQLiteCache(tmp_path / "c.db", clock=clock, max_entries=3, purge_every=1)
    for i in range(6):
        c.set(f"k{i}", b"v", ttl=None)
        clock.advance(1)
    assert len(c) == 3
    assert [c.get(f"k{i}") is not None for i in range(6)] == [False] * 3 + [True] * 3
    c.close()


def test_closed_cache_raises_a_typed_error(tmp_path: Path) -> None:
    c = SQLiteCache(tmp_path / "c.db")
    c.close()
    with pytest.raises(CacheUnavailableError):
        c.get("a")
    with pytest.raises(CacheUnavailableError):
        c.purge()
    with pytest.raises(CacheUnavailableError):
        len(c)


def test_broken_database_is_a_typed_error_for_every_operation(tmp_path: Path) -> None:
    """The table vanished under the cache (another process, a bad restore): every operation,
    not just ``set``, says CacheUnavailableError rather than letting sqlite3.Error out."""
    path = tmp_path / "c.db"
    c = SQLiteCache(path, purge_every=1)
    with closing(sqlite3.connect(path)) as other:
        other.execute("DROP TABLE llmkit_cache")
        other.commit()
    with pytest.raises(CacheUnavailableError, match="purge failed"):
        c.purge()
    with pytest.raises(CacheUnavailableError, match="count failed"):
        len(c)
    for op in (lambda: c.get("a"), lambda: c.set("a", b"v", ttl=None), c.clear):
        with pytest.raises(CacheUnavailableError):
            op()
    c.close()


@pytest.mark.parametrize("kwargs", [{"purge_every": 0}, {"max_entries": 0}])
def test_bad_arguments_are_value_errors_before_any_file_exists(
    tmp_path: Path, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        SQLiteCache(tmp_path / "c.db", **kwargs)
    assert not (tmp_path / "c.db").exists()


def test_unopenable_path_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(CacheUnavailableError):
        SQLiteCache(tmp_path / "missing-dir" / "c.db")


def test_many_threads_write_and_read(tmp_path: Path) -> None:
    c = SQLiteCache(tmp_path / "c.db")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(100):
                c.set(f"t{n}-{i}", f"{n}:{i}".encode(), ttl=None)
                assert c.get(f"t{n}-{i}") == f"{n}:{i}".encode()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(c) == 800
    c.close()


def _process_worker(path: str, n: int) -> int:
    c = SQLiteCache(path)
    for i in range(50):
        c.set(f"p{n}-{i}", str(i).encode(), ttl=None)
        c.set("shared", f"{n}".encode(), ttl=None)  # every process fights over one row
    ok = sum(c.get(f"p{n}-{i}") == str(i).encode() for i in range(50))
    c.close()
    return ok


def test_many_processes_share_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "c.db")
    SQLiteCache(path).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        counts = pool.starmap(_process_worker, [(path, n) for n in range(4)])
    assert counts == [50, 50, 50, 50]
    c = SQLiteCache(path)
    assert len(c) == 201
    assert c.get("shared") in {b"0", b"1", b"2", b"3"}
    c.close()
