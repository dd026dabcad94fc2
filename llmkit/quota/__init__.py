"""Quotas per account, workflow and job: reserve the worst case, settle what was used.

``QuotaLayer`` and ``QuotaLimit`` are in :mod:`llmkit.quota.layer`; the stores (memory, SQLite,
Redis) in :mod:`llmkit.quota.stores`.
"""

from llmkit.quota.layer import QuotaLayer, QuotaLimit, QuotaOutcome, Ticket, Used, window_bounds
from llmkit.quota.stores import (
    Charge,
    MemoryQuotaStore,
    QuotaStore,
    RedisQuotaStore,
    Refused,
    SQLiteQuotaStore,
)

__all__ = [
    "Charge",
    "MemoryQuotaStore",
    "QuotaLayer",
    "QuotaLimit",
    "QuotaOutcome",
    "QuotaStore",
    "RedisQuotaStore",
    "Refused",
    "SQLiteQuotaStore",
    "Ticket",
    "Used",
    "window_bounds",
]
