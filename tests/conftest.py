"""Shared pytest set-up. Keep it small: fixtures used by one module live in that module."""

from __future__ import annotations

import os

# Before anything imports pyplot: plain pytest runs render off-screen. Notebook kernels are
# left alone (ipykernel only picks its inline backend when MPLBACKEND is unset).
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import _real
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
