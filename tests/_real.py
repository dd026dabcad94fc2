"""Where real recorded provider traffic lives, and what a test does when it is not there.

Other projects recorded real OpenAI, Anthropic and OpenRouter traffic; CI keeps those
recordings beside the checkout (``../shared/real-cassettes`` and ``../shared/real-cassettes-set2``)
and tests read them there: they are never copied into this repository. One switch decides:

- ``LLMKIT_REAL_CASSETTES`` names the directories (``os.pathsep``-separated). A directory's name
  says which set it is (``real-cassettes``, ``real-cassettes-set2``). Unset, the defaults above
  are used when present.
- A test that needs a set is marked ``@pytest.mark.real_cassettes`` (set 1) or
  ``@pytest.mark.real_cassettes("real-cassettes-set2")``. Where the set is absent it skips with
  one line saying why and how to run it; with ``LLMKIT_REQUIRE_REAL_CASSETTES=1`` (CI) that
  absence is a failure instead. ``tests/conftest.py`` applies the marker.
- Parametrize over :func:`params` (files, or one placeholder the marker skips) and read data
  through :func:`files` / :func:`path`, which never raise at collection time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ENV = "LLMKIT_REAL_CASSETTES"
REQUIRE_ENV = "LLMKIT_REQUIRE_REAL_CASSETTES"
SET1 = "real-cassettes"
SET2 = "real-cassettes-set2"
_SHARED = Path(__file__).resolve().parents[2] / "shared"


def dirs() -> list[Path]:
    """Every configured directory of recordings that exists."""
    raw = os.environ.get(ENV)
    if raw is None or not raw.strip():
        candidates = [_SHARED / SET1, _SHARED / SET2]
    else:
        candidates = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    return [p.resolve() for p in candidates if p.is_dir()]


def directory(name: str = SET1) -> Path | None:
    """The directory holding set ``name``, or None when it is absent."""
    return next((d for d in dirs() if d.name == name), None)


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0", "false", "no")


def reason(name: str = SET1) -> str:
    """One line: what is missing and how to run the tests that need it."""
    where = os.environ.get(ENV) or f"../shared/{SET1}, ../shared/{SET2}"
    return (
        f"real recorded traffic {name!r} not found (looked in {where}): CI's test data, not "
        f"part of a clone; set {ENV} to its directory to run these tests"
    )


def files(pattern: str = "*.yaml", name: str = SET1) -> list[Path]:
    """The recordings of set ``name`` matching ``pattern``, sorted; [] when the set is absent."""
    d = directory(name)
    return sorted(d.glob(pattern)) if d is not None else []


def root(name: str = SET1) -> Path:
    """The directory of set ``name``, or where it would be (which does not exist) when absent."""
    d = directory(name)
    return d if d is not None else _SHARED / name


def path(filename: str, name: str = SET1) -> Path:
    """One recording of set ``name`` (a path that does not exist when the set is absent)."""
    return root(name) / filename


def params(pattern: str = "*.yaml", name: str = SET1) -> list[Any]:
    """``pytest.param`` per matching file (id: its stem), or one placeholder when absent.

    A placeholder keeps the test collected, so the ``real_cassettes`` marker can skip it with
    its reason (or fail it in CI) instead of pytest's anonymous "empty parameter set".
    """
    return or_placeholder([pytest.param(p, id=p.stem) for p in files(pattern, name)])


def or_placeholder(values: list[Any], placeholder: Any = None) -> list[Any]:
    """``values``, or one ``placeholder`` parameter (id ``recordings-absent``) when empty."""
    return values or [pytest.param(placeholder, id="recordings-absent")]


def check(item: pytest.Item) -> None:
    """Skip (or, when required, fail) a marked test whose recordings are absent."""
    marker = item.get_closest_marker("real_cassettes")
    if marker is None:
        return
    name = marker.args[0] if marker.args else SET1
    if directory(name) is not None:
        return
    if required():
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason(name)}", pytrace=False)
    pytest.skip(reason(name))
