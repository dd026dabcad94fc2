"""The distributed path against a real redis-server: the Redis record store keeps the same
contract as SQLite (idempotency, leases, fencing, the reaper's view), and a small run of the
pipeline chaos benchmark (real worker processes, one SIGKILL mid-stage) on SqliteHuey and on
RedisHuey + Redis records. The full run is ``benchmarks/pipeline_chaos.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmkit.clock import VirtualClock
from llmkit.jobs.artifacts import ArtifactStore
from llmkit.jobs.chaos import ChaosResult, run_chaos
from llmkit.jobs.model import JobInputError, JobSpec, Limits
from llmkit.jobs.pipeline import Pipeline, WorkerCrash
from llmkit.jobs.redis_store import RedisJobStore
from llmkit.jobs.store import LeaseLostError
from llmkit.sim.core import Simulator
from llmkit.sim.transport import SimTransport


def _check(result: ChaosResult) -> None:
    assert result.submitted == 6
    assert result.lost == 0
    assert result.duplicated == 0
    assert result.half_written == 0
    assert result.done + sum(result.failed.values()) == 6
    assert result.kills == 1
    assert result.resumed >= 1  # the killed worker's job was picked up again


def test_sqlite_small_chaos_run(tmp_path: Path) -> None:
    _check(
        run_chaos(
            jobs=6,
            workers=2,
            kill_every=0.5,
            max_kills=1,
            timeout=120,
            data_dir=tmp_path,
            busy_only=True,
        )
    )


@pytest.mark.redis
def test_redis_small_chaos_run(tmp_path: Path, redis_url: str) -> None:
    result = run_chaos(
        backend="redis",
        redis_url=redis_url,
        jobs=6,
        workers=2,
        kill_every=0.5,
        max_kills=1,
        timeout=120,
        data_dir=tmp_path,
        busy_only=True,
    )
    _check(result)


@pytest.fixture
def rstore(redis_url: str, request: pytest.FixtureRequest) -> Iterator[RedisJobStore]:
    store = RedisJobStore(
        redis_url, prefix=f"llmkit-test:{request.node.name}", clock=VirtualClock()
    )
    store.flush()
    yield store
    store.flush()
    store.close()


@pytest.mark.redis
def test_redis_records_idempotency_limit_and_events(rstore: RedisJobStore) -> None:
    a, created_a = rstore.create(JobSpec(prompt="x", idempotency_key="k1"))
    b, created_b = rstore.create(JobSpec(prompt="other", idempotency_key="k1"))
    assert (created_a, created_b) == (True, False)
    assert a.id == b.id
    with pytest.raises(JobInputError, match="active jobs"):
        rstore.create(JobSpec(prompt="y"), Limits(max_active_per_account=1))
    rstore.mark_queued(a.id)
    rstore.mark_queued(a.id)
    assert [e["state"] for e in rstore.events()] == ["validated", "queued"]
    assert rstore.events(1)[0]["seq"] == 2
    assert rstore.counts() == {"queued": 1}
    assert [j.id for j in rstore.list(state="queued")] == [a.id]


@pytest.mark.redis
def test_redis_leases_fence_and_expire(rstore: RedisJobStore) -> None:
    clock = rstore.clock
    assert isinstance(clock, VirtualClock)
    job, _ = rstore.create(JobSpec(prompt="x"))
    rstore.mark_queued(job.id)
    assert rstore.acquire(job.id, "w1", ttl=10) is not None
    assert rstore.acquire(job.id, "w2", ttl=10) is None
    rstore.advance(job.id, "w1", "calling", count_call=True, provider_job_id="vid_1")
    with pytest.raises(LeaseLostError):
        rstore.advance(job.id, "w2", "stored")
    clock.sleep(11)
    assert rstore.stale(pickup_timeout=60) == [job.id]
    taken = rstore.acquire(job.id, "w2", ttl=10)
    assert taken is not None
    assert (taken.state, taken.attempts, taken.provider_calls) == ("calling", 2, 1)
    assert taken.provider_job_id == "vid_1"
    with pytest.raises(LeaseLostError):
        rstore.renew(job.id, "w1", 10)
    rstore.advance(
        job.id, "w2", "post_process_failed", error_kind="post_process", error_message="m"
    )
    assert rstore.get(job.id).terminal  # type: ignore[union-attr]
    assert rstore.stale(pickup_timeout=0) == []
    assert rstore.reset_post_process(job.id)
    got = rstore.get(job.id)
    assert got is not None
    assert got.state == "stored"
    assert got.error_kind is None
    assert [s for s, _ in got.transitions][-2:] == ["post_process_failed", "stored"]


@pytest.mark.redis
def test_pipeline_runs_on_redis_records(tmp_path: Path, rstore: RedisJobStore) -> None:
    clock = rstore.clock
    sim = Simulator("healthy", clock)
    pipe = Pipeline.connect(
        rstore,
        ArtifactStore(tmp_path),
        base_url="http://sim/v1",
        api_key="sim",
        clock=clock,
        transport=SimTransport(sim, clock),
        heartbeat=False,
        lease_ttl=10.0,
    )
    job, _ = rstore.create(JobSpec(prompt="a wave", kind="animation"))
    rstore.mark_queued(job.id)

    def crash(jid: str, step: str) -> None:
        if step == "created":
            raise WorkerCrash

    pipe.hook = crash
    with pytest.raises(WorkerCrash):
        pipe.run(job.id, "w1")
    clock.sleep(11)
    pipe.hook = None
    assert pipe.run(job.id, "w2").state == "done"
    assert sim.media.generations == 1
