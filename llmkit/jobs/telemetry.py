"""Which job and stage a provider call served, as telemetry columns.

:class:`JobCallLayer` sits in the pipeline's clients (``layers=``): it reads the job id, stage
and operation the pipeline puts in the request's tags and reports a :class:`JobCallOutcome`,
which ``llmkit.outcomes`` turns into the columns ``job_id``, ``job_stage`` and ``job_op`` of
every call record — so a telemetry table shows the retries, latency and errors of each job's
create, polls and download next to its other calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.types import ChatRequest, ChatResponse

__all__ = ["JobCallLayer", "JobCallOutcome"]


@dataclass(frozen=True, slots=True)
class JobCallOutcome:
    job_id: str
    stage: str
    """The pipeline state the call was made in (``calling``)."""
    op: str
    """``generate`` (Images API), ``create``, ``retrieve`` or ``content`` (job API)."""


register_columns(
    JobCallOutcome,
    Column("job_id", "llmkit.job.id", call=lambda o: o.job_id, doc="the pipeline job served"),
    Column("job_stage", "llmkit.job.stage", call=lambda o: o.stage, doc="its state then"),
    Column("job_op", "llmkit.job.op", call=lambda o: o.op, doc="the provider operation"),
)


def _outcome(request: ChatRequest) -> JobCallOutcome | None:
    job = request.tags.get("job")
    if not job:
        return None
    op = str(request.extra.get("op", "generate"))
    return JobCallOutcome(job, request.tags.get("stage", "calling"), op)


class JobCallLayer:
    """Reports the job, stage and operation of each call (from the request's tags)."""

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        outcome = _outcome(request)
        if outcome is not None:
            ctx.report(outcome)
        return next(request, ctx)

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        outcome = _outcome(request)
        if outcome is not None:
            ctx.report(outcome)
        return await next(request, ctx)
