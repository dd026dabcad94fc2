"""Shared pytest set-up. Keep it small: fixtures used by one module live in that module."""

from __future__ import annotations

import os

# Before anything imports pyplot: plain pytest runs render off-screen. Notebook kernels are
# left alone (ipykernel only picks its inline backend when MPLBACKEND is unset).
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import pytest

REAL_CASSETTES = Path(__file__).resolve().parents[2] / "shared" / "real-cassettes"
"""Real recorded provider traffic, beside the repository (not part of it)."""


@pytest.fixture(scope="session")
def real_cassettes_dir() -> Path:
    if not REAL_CASSETTES.is_dir():
        pytest.skip(f"{REAL_CASSETTES} is absent")
    return REAL_CASSETTES
