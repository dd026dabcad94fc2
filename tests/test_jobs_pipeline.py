"""The stages end to end on the in-process simulator (virtual clock): crash and resume without
a second generation, provider failures as typed states, post-processing retried alone,
signed webhooks, no key anywhere."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmkit.clock import VirtualClock
from llmkit.errors import AuthError
from llmkit.jobs import pipeline as pipeline_mod
from llmkit.jobs.artifacts import ArtifactStore
from llmkit.jobs.model import JobSpec
from llmkit.jobs.pipeline import Pipeline, StageOutcome, WorkerCrash
from llmkit.jobs.postprocess import PostProcessError
from llmkit.jobs.store import JobStore
from llmkit.jobs.webhooks import WebhookSender, new_secret, verify
from llmkit.sim.core import Simulator
from llmkit.sim.faults import Fault, FaultRule
from llmkit.sim.scenarios import get_scenario
from llmkit.sim.transport import SimTransport

CANARY = "sk-canary-" + "Pq4rT8" * 6 + "Zz9y"


class World:
    def __init__(self, tmp: Path, sim: Simulator, clock: VirtualClock, **kw: object) -> None:
        self.clock = clock
        self.sim = sim
        self.store = JobStore(tmp / "jobs.db", clock=clock)
        self.artifacts = ArtifactStore(tmp / "artifacts")
        self.outcomes: list[StageOutcome] = []
        self.pipeline = Pipeline.connect(
            self.store,
            self.artifacts,
            base_url="http://sim/v1",
            api_key=CANARY,
            clock=clock,
            transport=SimTransport(sim, clock),
            heartbeat=False,
            lease_ttl=10.0,
            outcomes=self.outcomes.append,
            **kw,
        )

    def submit(self, spec: JobSpec) -> str:
        job, _ = self.store.create(spec)
        self.store.mark_queued(job.id)
        return job.id

    def states(self, job_id: str) -> list[str]:
        job = self.store.get(job_id)
        assert job is not None
        return [s for s, _ in job.transitions]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = VirtualClock()
    return World(tmp_path, Simulator("healthy", clock), clock)


def test_image_and_animation_run_to_done_with_thumbnails(world: World) -> None:
    for spec in (JobSpec(prompt="a fox"), JobSpec(prompt="a wave", kind="animation")):
        job_id = world.submit(spec)
        assert world.pipeline.run(job_id, "w1").state == "done"
        job = world.store.get(job_id)
        assert job is not None
        assert job.artifact
        assert job.thumbnail
        assert job.contact_sheet
        assert world.states(job_id) == [
            "validated", "queued", "calling", "stored", "post_processed", "done",
        ]  # fmt: skip
        meta = world.artifacts.meta(job.artifact)
        assert meta["prompt_sha256"] == spec.prompt_hash()
        assert "prompt" not in meta
    assert world.sim.media.generations == 2
    stages = [(o.stage, o.result) for o in world.outcomes]
    assert ("calling", "advanced") in stages
    assert ("post_process", "advanced") in stages


def test_a_worker_killed_after_create_resumes_by_polling_not_creating(world: World) -> None:
    job_id = world.submit(JobSpec(prompt="a long shot", kind="animation"))

    def crash(jid: str, step: str) -> None:
        if step == "created":
            raise WorkerCrash

    world.pipeline.hook = crash
    with pytest.raises(WorkerCrash):
        world.pipeline.run(job_id, "w1")
    job = world.store.get(job_id)
    assert job is not None
    assert job.state == "calling"
    assert job.provider_job_id
    assert world.pipeline.run(job_id, "w2").state == "calling"  # w1's lease still live: busy
    world.clock.sleep(11)
    assert world.store.stale(pickup_timeout=300) == [job_id]
    world.pipeline.hook = None
    assert world.pipeline.run(job_id, "w2").state == "done"
    assert world.sim.media.generations == 1  # polled the job w1 created
    assert "resumed" in world.states(job_id)
    assert [e["state"] for e in world.store.events() if e["state"] == "polling"] == ["polling"]


def test_a_worker_killed_after_an_image_call_replays_under_the_same_key(world: World) -> None:
    job_id = world.submit(JobSpec(prompt="a still"))
    world.pipeline.hook = lambda jid, step: (
        (_ for _ in ()).throw(WorkerCrash) if step == "stored" else None
    )
    with pytest.raises(WorkerCrash):
        world.pipeline.run(job_id, "w1")
    world.clock.sleep(11)
    world.pipeline.hook = None
    assert world.pipeline.run(job_id, "w2").state == "done"
    assert world.sim.media.generations == 1


def test_provider_job_failures_become_typed_failed_states(world: World) -> None:
    failed = world.submit(JobSpec(prompt="doomed [fail-midway]", kind="animation"))
    assert world.pipeline.run(failed, "w1").state == "failed"
    job = world.store.get(failed)
    assert job is not None
    assert job.error_kind == "server_error"
    world.pipeline.poll_timeout = 20.0
    stuck = world.submit(JobSpec(prompt="stuck [never-finish]", kind="animation"))
    assert world.pipeline.run(stuck, "w1").state == "failed"
    job = world.store.get(stuck)
    assert job is not None
    assert job.error_kind == "timeout"
    assert "99%" in (job.error_message or "")
    refused = world.submit(JobSpec(prompt="[refuse] this"))
    assert world.pipeline.run(refused, "w1").state == "failed"
    assert world.store.get(refused).error_kind == "content_filter"  # type: ignore[union-attr]


def test_retryable_errors_past_the_client_retries_ask_the_queue_to_retry(tmp_path: Path) -> None:
    clock = VirtualClock()
    sc = get_scenario("healthy").plus(FaultRule(Fault.SERVER_ERROR, requests=(0, 5)))
    w = World(tmp_path, Simulator(sc, clock), clock)
    job_id = w.submit(JobSpec(prompt="x"))
    first = w.pipeline.run(job_id, "w1")
    assert first.retry_in is not None
    assert first.state == "calling"
    assert w.pipeline.run(job_id, "w1").state == "done"
    assert "retry" in w.states(job_id)


def test_post_processing_failure_is_its_own_state_and_retries_without_the_provider(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline_mod.render

    def broken(data: bytes, expected: tuple[int, int]) -> object:
        raise PostProcessError("artifact is 10x10, not 256x256")

    monkeypatch.setattr(pipeline_mod, "render", broken)
    job_id = world.submit(JobSpec(prompt="x"))
    assert world.pipeline.run(job_id, "w1").state == "post_process_failed"
    assert world.store.get(job_id).error_kind == "post_process"  # type: ignore[union-attr]
    monkeypatch.setattr(pipeline_mod, "render", real)
    assert world.store.reset_post_process(job_id)
    assert world.pipeline.run(job_id, "w1").state == "done"
    assert world.sim.media.generations == 1


def test_webhooks_are_signed_retried_and_verifiable(tmp_path: Path) -> None:
    secret = new_secret()
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(500 if len(received) == 1 else 204)

    clock = VirtualClock(start=time.time())  # receivers check the timestamp against real time
    sender = WebhookSender(
        "http://hooks.local/in",
        secret,
        http=httpx.Client(transport=httpx.MockTransport(receiver)),
        clock=clock,
    )
    w = World(tmp_path, Simulator("healthy", clock), clock, webhooks=sender)
    job_id = w.submit(JobSpec(prompt="x"))
    assert w.pipeline.run(job_id, "w1").state == "done"
    assert len(received) == 2
    first, second = received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"{job_id}.job.done"
    payload = verify(secret, second.content, dict(second.headers))
    assert payload["type"] == "job.done"
    assert payload["data"]["id"] == job_id
    with pytest.raises(AuthError):
        verify(secret, second.content.replace(b"done", b"dune"), dict(second.headers))
    with pytest.raises(AuthError):
        verify(new_secret(), second.content, dict(second.headers))
    assert secret not in repr(sender)
    assert any(e["state"] == "webhook" for e in w.store.events())


def test_the_key_never_reaches_records_artifacts_or_errors(world: World, tmp_path: Path) -> None:
    for prompt in ("x", "[refuse] y"):
        world.pipeline.run(world.submit(JobSpec(prompt=prompt)), "w1")
    world.store.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    assert CANARY not in json.dumps([o.__repr__() for o in world.outcomes])


def test_provider_calls_carry_job_columns_in_telemetry(tmp_path: Path) -> None:
    from llmkit.telemetry import MemorySink

    sink = MemorySink()
    clock = VirtualClock()
    w = World(tmp_path, Simulator("healthy", clock), clock, telemetry=sink)
    job_id = w.submit(JobSpec(prompt="a wave", kind="animation"))
    assert w.pipeline.run(job_id, "w1").state == "done"
    df = sink.to_dataframe()
    calls = df[df["llmkit.record"] == "call"]
    assert set(calls["llmkit.tags.job"]) == {job_id}
    assert set(calls["llmkit.job.id"]) == {job_id}
    ops = list(calls["llmkit.job.op"])
    assert ops[0] == "create"
    assert ops[-1] == "content"
    assert "retrieve" in ops
    assert set(calls["llmkit.job.stage"]) == {"calling"}


def test_a_job_that_keeps_killing_its_workers_fails_as_worker_lost(world: World) -> None:
    job_id = world.submit(JobSpec(prompt="poison"))
    limit = world.pipeline.max_runs + world.pipeline.max_crashes
    for i in range(limit):
        assert world.store.acquire(job_id, f"dead-{i}", ttl=1.0) is not None
        world.clock.sleep(2.0)  # that worker died: its lease runs out
    assert world.pipeline.run(job_id, "w1").state == "failed"
    job = world.store.get(job_id)
    assert job is not None
    assert job.error_kind == "worker_lost"
    assert world.sim.media.generations == 0


def test_polling_follows_the_providers_poll_after_hint(tmp_path: Path) -> None:
    # The simulator asks for a quarter of the time the job has left (250 ms .. 1 s); the
    # pipeline's own backoff would start at 5 s here. Each wait between polls is the hint.
    from llmkit.telemetry import MemorySink

    sink = MemorySink()
    clock = VirtualClock()
    w = World(tmp_path, Simulator("healthy", clock), clock, telemetry=sink,
              poll_interval=5.0, poll_max_interval=30.0)  # fmt: skip
    job_id = w.submit(JobSpec(prompt="a wave", kind="animation"))
    assert w.pipeline.run(job_id, "w1").state == "done"
    polls = [r for r in sink.calls() if r.extra.get("llmkit.job.op") == "retrieve"]
    assert len(polls) >= 3
    waits = [b.timestamp - a.timestamp - (a.latency or 0.0) for a, b in itertools.pairwise(polls)]
    assert all(0.25 - 1e-6 <= wait <= 1.0 + 1e-6 for wait in waits), waits


def test_poll_hints_and_job_answers_are_read_defensively() -> None:
    from llmkit.errors import InvalidResponseError
    from llmkit.providers.video_jobs import job_status, poll_after
    from llmkit.types import ChatResponse

    def answer(text: str = "{}", **headers: str) -> ChatResponse:
        return ChatResponse(text=text, model=None, provider="openai", headers=headers)

    assert poll_after(answer(**{"openai-poll-after-ms": "750"})) == 0.75
    for bad in ("soon", "-5", "nan", "inf", "1e12"):
        assert poll_after(answer(**{"openai-poll-after-ms": bad})) is None
    assert poll_after(answer()) is None
    for text in ("not json", "[]", '{"status": "queued"}'):
        with pytest.raises(InvalidResponseError, match="not a job status"):
            job_status(answer(text))
