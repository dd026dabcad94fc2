"""The media job pipeline: validate → create job → call provider → store artifacts →
post-process → notify / expose status, crash-safe, on huey.

==================  ==========================================================================
``model``           :class:`JobSpec`, :class:`Job`, states, :func:`validate`, :class:`JobInputError`
``store``           :class:`JobStore`: SQLite records, leases, fenced writes, the event log
``redis_store``     :class:`RedisJobStore`: the same contract on Redis, for many machines
``artifacts``       :class:`ArtifactStore`: content-addressed, atomic (tmp + fsync + rename)
``pipeline``        :class:`Pipeline`: the stages, idempotent, reporting :class:`StageOutcome`
``postprocess``     decode and size checks, thumbnail, contact sheet (Pillow)
``webhooks``        Standard Webhooks signing, delivery with backoff, :func:`verify`
``queue``           :class:`JobQueue` on SqliteHuey / RedisHuey, workers and the reaper
``api``, ``page``   the FastAPI status API, SSE, and the jobs page (``llmkit jobs serve``)
==================  ==========================================================================

Needs the ``jobs`` extra (``pip install 'llmkit[jobs]'``); ``import llmkit`` never loads it.
Names are imported lazily, so ``llmkit.jobs.JobSpec`` does not load huey or FastAPI.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ArtifactStore",
    "Job",
    "JobInputError",
    "JobQueue",
    "JobSpec",
    "JobStore",
    "JobsConfig",
    "LeaseLostError",
    "Limits",
    "Pipeline",
    "RedisJobStore",
    "RunResult",
    "StageOutcome",
    "WebhookSender",
    "WorkerCrash",
    "create_app",
    "validate",
    "verify",
]

_WHERE = {
    "ArtifactStore": "artifacts",
    "Job": "model",
    "JobInputError": "model",
    "JobSpec": "model",
    "Limits": "model",
    "validate": "model",
    "JobStore": "store",
    "LeaseLostError": "store",
    "RedisJobStore": "redis_store",
    "Pipeline": "pipeline",
    "RunResult": "pipeline",
    "StageOutcome": "pipeline",
    "WorkerCrash": "pipeline",
    "JobQueue": "queue",
    "JobsConfig": "queue",
    "WebhookSender": "webhooks",
    "verify": "webhooks",
    "create_app": "api",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'llmkit.jobs' has no attribute {name!r}")
    return getattr(importlib.import_module(f"llmkit.jobs.{module}"), name)
