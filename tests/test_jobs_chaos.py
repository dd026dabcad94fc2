"""A small run of the pipeline chaos benchmark: real worker processes, one SIGKILL mid-stage,
on SqliteHuey and on RedisHuey against a real redis-server. The full run is
``benchmarks/pipeline_chaos.py``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmkit.jobs.chaos import ChaosResult, run_chaos


def _check(result: ChaosResult) -> None:
    assert result.submitted == 6
    assert result.lost == 0
    assert result.duplicated == 0
    assert result.half_written == 0
    assert result.done + sum(result.failed.values()) == 6
    assert result.kills == 1
    assert result.resumed >= 1  # the killed worker's job was picked up again


def test_sqlite_small_chaos_run(tmp_path: Path) -> None:
    _check(
        run_chaos(
            jobs=6,
            workers=2,
            kill_every=0.5,
            max_kills=1,
            timeout=120,
            data_dir=tmp_path,
            busy_only=True,
        )
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get("LLMKIT_REQUIRE_REDIS") == "1":
        pytest.fail(f"LLMKIT_REQUIRE_REDIS=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    url = os.environ.get("LLMKIT_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not installed and LLMKIT_REDIS_URL is not set")
        return
    port = _free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(  # noqa: S603 - a fixed binary with fixed arguments
        [binary, *args, "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.025)  # waiting for a real server process
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.redis
def test_redis_small_chaos_run(tmp_path: Path, redis_url: str) -> None:
    result = run_chaos(
        backend="redis",
        redis_url=redis_url,
        jobs=6,
        workers=2,
        kill_every=0.5,
        max_kills=1,
        timeout=120,
        data_dir=tmp_path,
        busy_only=True,
    )
    _check(result)
