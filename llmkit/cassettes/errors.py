"""Typed failures of a cassette: missing, corrupt, or not matching what a replay asked for.

They live in :mod:`llmkit.errors` with the rest of the tree; this module re-exports them.
"""

from llmkit.errors import (
    CassetteError,
    CassetteMismatchError,
    CassetteNotFoundError,
    CorruptCassetteError,
    UnplayedInteractionsError,
)

__all__ = [
    "CassetteError",
    "CassetteMismatchError",
    "CassetteNotFoundError",
    "CorruptCassetteError",
    "UnplayedInteractionsError",
]
