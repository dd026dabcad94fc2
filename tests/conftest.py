"""Shared pytest set-up. Keep it small: fixtures used by one module live in that module."""

from __future__ import annotations

import os

# Before anything imports pyplot: plain pytest runs render off-screen. Notebook kernels are
# left alone (ipykernel only picks its inline backend when MPLBACKEND is unset).
os.environ.setdefault("MPLBACKEND", "Agg")

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import _real

# genai-prices takes ~1 s to import and llmkit imports it on the first priced call; load it once
# here so the timing checks of replays measure replays, not that one-time import.
import genai_prices  # noqa: F401
import pytest

pytest_plugins = ("pytester",)  # tests/test_real_switch.py runs small pytest sessions


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Real recorded traffic: skipped with its reason where absent, a failure when required.
    _real.check(item)


@pytest.fixture(scope="session")
def real_cassettes_dir() -> Path:
    """Set 1 of the real recordings (skips or fails as the ``real_cassettes`` marker does)."""
    d = _real.directory(_real.SET1)
    if d is None:
        if _real.required():
            pytest.fail(f"{_real.REQUIRE_ENV}=1 but {_real.reason()}", pytrace=False)
        pytest.skip(_real.reason())
    return d


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """LLMKIT_REDIS_URL, else a throwaway ``redis-server`` on a free loopback port; skipped
    when neither exists (failed instead under LLMKIT_REQUIRE_REDIS=1, as in CI)."""
    url = os.environ.get("LLMKIT_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        _redis_unavailable("redis-server is not installed and LLMKIT_REDIS_URL is not set")
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    workdir = tmp_path_factory.mktemp("redis")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
            "no", "--dir", str(workdir)]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.025)  # waiting for a real server process, not simulated time
        else:
            _redis_unavailable(f"redis-server did not start on port {port}")
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _redis_unavailable(reason: str) -> None:
    if os.environ.get("LLMKIT_REQUIRE_REDIS") == "1":
        pytest.fail(f"LLMKIT_REQUIRE_REDIS=1 but {reason}")
    pytest.skip(reason)
