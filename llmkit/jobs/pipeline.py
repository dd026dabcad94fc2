"""The pipeline's stages, run by any worker, any number of times, to the same end.

``Pipeline.run(job_id, worker)`` takes the job's lease and walks it from its current state::

    validated/queued → calling   (lease taken; a resumed run records ``resumed``)
    calling          → stored    call the provider through ``llmkit.Client`` (deadline,
                                 retries, telemetry) with an idempotency key; for the job API,
                                 create once (the provider job id is saved before polling),
                                 poll (at the pace ``openai-poll-after-ms`` asks, else with
                                 backoff), download; store the artifact atomically
    stored           → post_processed | post_process_failed   decode/size checks, thumbnails
    post_processed   → done      signed webhook (if configured)

Each stage is idempotent: re-running ``calling`` after a crash polls the provider job already
created (or replays the image create under the same key, which the provider answers without a
second generation); artifacts are content-addressed; state writes are fenced by the lease. A
retryable provider error that survives the client's own retries ends the run with
``retry_in`` set, and the queue runs the job again later; anything else fails the job with its
error kind. Every stage run reports a typed :class:`StageOutcome`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from llmkit.client import Client
from llmkit.clock import Clock, system_clock
from llmkit.deadline import Timeouts
from llmkit.errors import LLMError, ServerError, TimeoutError
from llmkit.jobs.artifacts import ArtifactStore
from llmkit.jobs.model import Job
from llmkit.jobs.postprocess import PostProcessError, render
from llmkit.jobs.store import LeaseLostError, Records
from llmkit.jobs.telemetry import JobCallLayer
from llmkit.providers.openai_images import OpenAIImagesAdapter, image_bytes
from llmkit.providers.video_jobs import VideoJobsAdapter, content_bytes, job_status, poll_after
from llmkit.telemetry import TelemetrySink
from llmkit.types import ChatRequest, Message

if TYPE_CHECKING:
    from llmkit.jobs.webhooks import WebhookSender

__all__ = ["Pipeline", "RunResult", "StageOutcome", "WorkerCrash"]


class WorkerCrash(BaseException):
    """Raised by a test or notebook hook to stand in for SIGKILL: the run stops where it is and
    its lease is *not* released (a killed process releases nothing)."""


@dataclass(frozen=True, slots=True)
class StageOutcome:
    """What one stage run did; telemetry turns these into columns."""

    job_id: str
    stage: str
    """``calling``, ``post_process``, ``notify``, or ``lease`` (taking the job)."""
    result: str
    """``advanced``, ``resumed``, ``busy``, ``retry``, ``failed``, ``lease_lost``."""
    state: str
    worker: str
    seconds: float
    error_kind: str | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    state: str
    retry_in: float | None = None
    """Seconds after which the job should run again (a retryable provider error)."""


class Pipeline:
    def __init__(
        self,
        store: Records,
        artifacts: ArtifactStore,
        *,
        images: Client,
        jobs: Client,
        clock: Clock | None = None,
        lease_ttl: float = 30.0,
        poll_interval: float = 0.5,
        poll_max_interval: float = 4.0,
        poll_timeout: float = 300.0,
        max_runs: int = 6,
        max_crashes: int = 10,
        webhooks: WebhookSender | None = None,
        outcomes: Callable[[StageOutcome], None] | None = None,
        hook: Callable[[str, str], None] | None = None,
        heartbeat: bool = True,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.images = images
        self.jobs = jobs
        self.clock: Clock = clock or system_clock
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        self.poll_max_interval = poll_max_interval
        self.poll_timeout = poll_timeout
        self.max_runs = max_runs
        self.max_crashes = max_crashes
        """Runs beyond ``max_runs`` after which a job whose workers keep dying mid-stage (a
        poison job: it OOMs or crashes its worker) fails as ``worker_lost``."""
        self.webhooks = webhooks
        self.outcomes = outcomes
        self.hook = hook
        self.heartbeat = heartbeat
        """Renew the lease from a thread every ``lease_ttl / 3`` s while a run works."""
        """Called as ``hook(job_id, step)`` after each step (``created``, ``polled``,
        ``downloaded``, ``stored``, ``post_processed``): tests inject crashes here."""

    @classmethod
    def connect(
        cls,
        store: Records,
        artifacts: ArtifactStore,
        *,
        base_url: str,
        api_key: str = "sim",
        clock: Clock | None = None,
        read_timeout: float = 10.0,
        deadline: float = 60.0,
        retries: int = 4,
        transport: httpx.BaseTransport | None = None,
        telemetry: TelemetrySink | None = None,
        **options: object,
    ) -> Pipeline:
        """A pipeline whose provider clients talk to ``base_url`` (e.g. ``{sim}/v1``);
        ``transport`` (e.g. an in-process ``SimTransport``) replaces the network; with
        ``telemetry``, every provider call's record carries ``job_id``/``job_stage``/``job_op``."""

        def client(adapter: OpenAIImagesAdapter | VideoJobsAdapter) -> Client:
            return Client(
                adapter=adapter,
                base_url=base_url,
                api_key=api_key,
                timeout=Timeouts(read=read_timeout),
                deadline=deadline,
                retry=retries,
                clock=clock,
                transport=transport,
                telemetry=telemetry,
                layers=[JobCallLayer()],
            )

        return cls(
            store,
            artifacts,
            images=client(OpenAIImagesAdapter()),
            jobs=client(VideoJobsAdapter()),
            clock=clock,
            **options,  # type: ignore[arg-type]
        )

    # ----------------------------------------------------------------------------- driver

    def _report(
        self, job: Job, stage: str, result: str, worker: str, t0: float, *, kind: str | None = None
    ) -> None:
        if self.outcomes is not None:
            current = self.store.get(job.id)
            state = current.state if current is not None else job.state
            self.outcomes(
                StageOutcome(job.id, stage, result, state, worker, time.perf_counter() - t0, kind)
            )

    def _step(self, job_id: str, step: str) -> None:
        if self.hook is not None:
            self.hook(job_id, step)

    def run(self, job_id: str, worker: str) -> RunResult:
        """Run ``job_id`` from its current state as far as it goes. Safe to call any number of
        times from any worker; a job leased by a live worker is left alone (``busy``)."""
        t0 = time.perf_counter()
        job = self.store.acquire(job_id, worker, self.lease_ttl)
        if job is None:
            current = self.store.get(job_id)
            return RunResult(current.state if current is not None else "missing")
        beat = _Heartbeat(self.store, job_id, worker, self.lease_ttl) if self.heartbeat else None
        try:
            return self._run(job, worker, t0)
        finally:
            if beat is not None:
                beat.stop()

    def _run(self, job: Job, worker: str, t0: float) -> RunResult:
        job_id = job.id
        if job.attempts > self.max_runs + self.max_crashes:
            lost = f"{job.attempts - 1} runs ended without finishing (workers died mid-stage)"
            try:
                self.store.advance(
                    job_id, worker, "failed", detail="worker_lost",
                    error_kind="worker_lost", error_message=lost,
                )  # fmt: skip
            except LeaseLostError:
                return RunResult("lease_lost")
            self.store.release(job_id, worker)
            self._report(job, "lease", "failed", worker, t0, kind="worker_lost")
            return RunResult("failed")
        if job.attempts > 1:
            self.store.note(job_id, "resumed", worker, f"from {job.state}")
            self._report(job, "lease", "resumed", worker, t0)
        try:
            while not job.terminal:
                t0 = time.perf_counter()
                stage = job.state
                if stage in ("validated", "queued"):
                    self.store.advance(job_id, worker, "calling")
                elif stage == "calling":
                    self._call(job, worker)
                elif stage == "stored":
                    self._post_process(job, worker)
                elif stage == "post_processed":
                    self._notify(job, worker, "job.done")
                    self.store.advance(job_id, worker, "done")
                latest = self.store.get(job_id)
                assert latest is not None
                if stage not in {"queued", "validated"}:
                    self._report(latest, _STAGE_NAMES.get(stage, stage), "advanced", worker, t0)
                job = latest
        except LeaseLostError:
            self._report(job, job.state, "lease_lost", worker, t0)
            return RunResult("lease_lost")
        except LLMError as exc:
            return self._failed(job, worker, exc, t0)
        self.store.release(job_id, worker)
        return RunResult(job.state)

    def _failed(self, job: Job, worker: str, exc: LLMError, t0: float) -> RunResult:
        latest = self.store.get(job.id) or job
        if exc.retryable and latest.attempts < self.max_runs:
            self.store.note(job.id, "retry", worker, f"{exc.kind}: {exc}")
            self.store.release(job.id, worker)
            self._report(latest, latest.state, "retry", worker, t0, kind=str(exc.kind))
            return RunResult(latest.state, retry_in=min(30.0, 2.0**latest.attempts))
        try:
            self.store.advance(
                job.id,
                worker,
                "failed",
                detail=str(exc.kind),
                error_kind=str(exc.kind),
                error_message=str(exc),
            )
            self._notify(latest, worker, "job.failed")
        except LeaseLostError:
            return RunResult("lease_lost")
        self.store.release(job.id, worker)
        self._report(latest, latest.state, "failed", worker, t0, kind=str(exc.kind))
        return RunResult("failed")

    # ----------------------------------------------------------------------------- stages

    def _call(self, job: Job, worker: str) -> None:
        spec = job.spec
        key = f"{job.id}.generate"
        tags = {"job": job.id, "account": spec.account, "stage": "calling"}
        if spec.kind == "image":
            self.store.advance(job.id, worker, None, count_call=True)
            request = ChatRequest(
                model=spec.model,
                messages=(Message("user", spec.prompt),),
                extra={"size": spec.size, "output_format": spec.format, "idempotency_key": key},
                tags=tags,
            )
            data = image_bytes(self.images.send(request))
            media_type = f"image/{spec.format}"
        else:
            provider_id = job.provider_job_id
            if provider_id is None:
                self.store.advance(job.id, worker, None, count_call=True)
                created = self.jobs.send(
                    VideoJobsAdapter.request(
                        "create",
                        model=spec.model,
                        prompt=spec.prompt,
                        idempotency_key=key,
                        size=spec.size,
                        tags=tags,
                    )
                )
                provider_id = job_status(created).id
                self.store.advance(job.id, worker, None, provider_job_id=provider_id)
                self._step(job.id, "created")
            else:
                self.store.note(
                    job.id, "polling", worker, f"provider job {provider_id} already created"
                )
            self._poll(job.id, provider_id, worker, tags)
            got = self.jobs.send(VideoJobsAdapter.request("content", job_id=provider_id, tags=tags))
            data = content_bytes(got)
            self._step(job.id, "downloaded")
            media_type = "image/gif"
        sha = self.artifacts.put(
            data,
            {
                "job": job.id,
                "kind": spec.kind,
                "provider": self.images.provider,
                "model": spec.model,
                "prompt_sha256": spec.prompt_hash(),
                "media_type": media_type,
            },
            prompt=spec.prompt,
        )
        self.store.advance(job.id, worker, "stored", artifact=sha)
        self._step(job.id, "stored")

    def _poll(self, job_id: str, provider_id: str, worker: str, tags: dict[str, str]) -> None:
        give_up = self.clock.now() + self.poll_timeout
        interval = self.poll_interval
        retrieve = VideoJobsAdapter.request("retrieve", job_id=provider_id, tags=tags)
        while True:
            got = self.jobs.send(retrieve)
            status = job_status(got)
            self.store.renew(job_id, worker, self.lease_ttl)
            self._step(job_id, "polled")
            if status.status == "completed":
                return
            if status.status == "failed":
                raise ServerError(
                    status.error_message or "the provider's job failed",
                    provider=self.jobs.provider,
                    code=status.error_code,
                    retryable=False,
                )
            hint = poll_after(got)  # the provider's own pacing wins over the backoff
            if hint is not None:
                interval = min(hint, self.poll_max_interval)
            if self.clock.now() + interval > give_up:
                raise TimeoutError(
                    f"provider job {provider_id} still {status.status} at {status.progress}% "
                    f"after {self.poll_timeout:g} s",
                    provider=self.jobs.provider,
                    retryable=False,
                )
            self.clock.sleep(interval)
            interval = min(interval * 1.5, self.poll_max_interval)

    def _post_process(self, job: Job, worker: str) -> None:
        assert job.artifact is not None
        try:
            out = render(self.artifacts.get(job.artifact), job.spec.dimensions())
        except PostProcessError as exc:
            self.store.advance(
                job.id,
                worker,
                "post_process_failed",
                detail="post_process",
                error_kind="post_process",
                error_message=str(exc),
            )
            return
        meta = {"job": job.id, "kind": "derived", "source": job.artifact, "media_type": "image/png"}
        thumb = self.artifacts.put(out.thumbnail, {**meta, "role": "thumbnail"})
        sheet = self.artifacts.put(
            out.contact_sheet, {**meta, "role": "contact_sheet", "frames": out.frames}
        )
        self.store.advance(job.id, worker, "post_processed", thumbnail=thumb, contact_sheet=sheet)
        self._step(job.id, "post_processed")

    def _notify(self, job: Job, worker: str, event: str) -> None:
        if self.webhooks is None:
            return
        latest = self.store.get(job.id) or job
        delivery = self.webhooks.send(event, latest.as_dict(), msg_id=f"{job.id}.{event}")
        self.store.note(
            job.id, "webhook", worker, f"{event}: {delivery.status} after {delivery.attempts}"
        )


class _Heartbeat:
    """Keeps a live worker's lease from expiring during a long call; dies with the process."""

    def __init__(self, store: Records, job_id: str, worker: str, ttl: float) -> None:
        self._stop = threading.Event()
        self._args = (store, job_id, worker, ttl)
        self._thread = threading.Thread(target=self._beat, name="llmkit-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        store, job_id, worker, ttl = self._args
        while not self._stop.wait(ttl / 3):
            try:
                store.renew(job_id, worker, ttl)
            except LeaseLostError:
                return
            except sqlite3.Error:
                continue

    def stop(self) -> None:
        self._stop.set()


_STAGE_NAMES = {"calling": "calling", "stored": "post_process", "post_processed": "notify"}
