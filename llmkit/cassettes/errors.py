"""Typed failures of a cassette: missing, corrupt, or not matching what a replay asked for.

Every one is an :class:`~llmkit.errors.InvalidResponseError` (recorded provider data that cannot
serve the call) and a ``ValueError`` (bad input), so callers never see vcrpy's raw exceptions
or a bare ``KeyError``. Messages name the cassette file and, for requests, the model and path;
they never carry a prompt or a key.
"""

from __future__ import annotations

from pathlib import Path

from llmkit.errors import InvalidResponseError

__all__ = [
    "CassetteError",
    "CassetteMismatchError",
    "CassetteNotFoundError",
    "CorruptCassetteError",
    "UnplayedInteractionsError",
]


class CassetteError(InvalidResponseError, ValueError):
    """Base of every cassette failure; ``path`` is the cassette file."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{Path(path).name}: {message}", provider="cassette")


class CassetteNotFoundError(CassetteError, FileNotFoundError):
    """The cassette file does not exist (replays never record a missing one)."""


class CorruptCassetteError(CassetteError):
    """The file exists but is not a readable llmkit cassette (bad YAML, missing keys)."""


class CassetteMismatchError(CassetteError):
    """A replayed request has no unplayed recorded interaction that matches it."""

    def __init__(
        self, path: str | Path, *, method: str, request_path: str, model: str | None, why: str
    ) -> None:
        self.method = method
        self.request_path = request_path
        self.model = model
        super().__init__(
            path,
            f"no recorded interaction for {method} {request_path} (model={model!r}): {why}",
        )


class UnplayedInteractionsError(CassetteError):
    """A strict replay ended with recorded interactions nobody asked for."""

    def __init__(self, path: str | Path, unplayed: list[str]) -> None:
        self.unplayed = list(unplayed)
        shown = "; ".join(unplayed[:5]) + (" ..." if len(unplayed) > 5 else "")
        super().__init__(path, f"{len(unplayed)} recorded interaction(s) never played: {shown}")
