"""The status HTTP API (FastAPI), served by ``llmkit jobs serve``.

=========================================  ==================================================
``POST /jobs``                             submit (201 created, 200 same idempotency key);
                                           bad input is 422 with the field and the reason
``GET /jobs?state=&limit=``                list, newest first
``GET /jobs/{id}``                         one job: state, every transition's time, attempts
``POST /jobs/{id}/retry``                  re-run post-processing of a post_process_failed job
``GET /jobs/{id}/artifacts/{role}``        ``artifact``, ``thumbnail`` or ``contact_sheet``
``GET /events?after=&follow=``             server-sent events, one per state change
``GET /``                                  a page listing jobs with thumbnails and states
=========================================  ==================================================
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from llmkit.jobs.model import JobInputError, JobSpec
from llmkit.jobs.page import PAGE
from llmkit.jobs.queue import JobQueue

__all__ = ["create_app"]


class SubmitBody(BaseModel):
    prompt: str
    kind: str = "image"
    size: str = "256x256"
    format: str = "png"
    model: str = ""
    account: str = "default"
    idempotency_key: str | None = None


def _invalid(exc: JobInputError) -> JSONResponse:
    detail = [{"loc": ["body", exc.field], "msg": exc.reason, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


def create_app(queue: JobQueue, *, poll_every: float = 0.5) -> FastAPI:
    app = FastAPI(title="llmkit jobs", version="1")
    store = queue.store

    @app.post("/jobs", response_model=None)
    def submit(body: SubmitBody) -> JSONResponse:
        try:
            job, created = queue.submit(JobSpec(**body.model_dump()))
        except JobInputError as exc:
            return _invalid(exc)
        return JSONResponse(job.as_dict(), status_code=201 if created else 200)

    @app.get("/jobs")
    def list_jobs(
        state: str | None = None, limit: int = Query(100, ge=1, le=1000)
    ) -> dict[str, Any]:
        return {"data": [j.as_dict() for j in store.list(state=state, limit=limit)]}

    @app.get("/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job.as_dict()

    @app.post("/jobs/{job_id}/retry")
    def retry(job_id: str) -> dict[str, Any]:
        if not queue.retry_post_process(job_id):
            raise HTTPException(409, "only a post_process_failed job can be retried")
        job = store.get(job_id)
        assert job is not None
        return job.as_dict()

    @app.get("/jobs/{job_id}/artifacts/{role}")
    def artifact(job_id: str, role: str) -> Response:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        sha = {
            "artifact": job.artifact,
            "thumbnail": job.thumbnail,
            "contact_sheet": job.contact_sheet,
        }
        if role not in sha:
            raise HTTPException(404, "role is artifact, thumbnail or contact_sheet")
        digest = sha[role]
        if digest is None:
            raise HTTPException(404, f"job {job_id} has no {role} yet")
        meta = queue.artifacts.meta(digest)
        return Response(
            queue.artifacts.get(digest),
            media_type=str(meta.get("media_type", "application/octet-stream")),
            headers={"etag": f'"{digest}"', "cache-control": "public, max-age=31536000, immutable"},
        )

    @app.get("/events")
    async def events(after: int = 0, follow: bool = True) -> EventSourceResponse:
        async def stream() -> AsyncIterator[dict[str, Any]]:
            seq = after
            while True:
                batch = await asyncio.to_thread(store.events, seq)
                for ev in batch:
                    seq = int(ev["seq"])
                    yield {"id": str(seq), "event": "state", "data": json.dumps(ev)}
                if not follow:
                    return
                await asyncio.sleep(poll_every)

        return EventSourceResponse(stream())

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    return app
