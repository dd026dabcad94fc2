"""Job input validation, the record store (idempotency, leases, fencing, the reaper's view)
and atomic content-addressed artifacts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from llmkit.clock import VirtualClock
from llmkit.errors import BadRequestError
from llmkit.jobs.artifacts import ArtifactStore
from llmkit.jobs.model import JobInputError, JobSpec, Limits, validate
from llmkit.jobs.store import JobStore, LeaseLostError


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (JobSpec(prompt="   "), "prompt"),
        (JobSpec(prompt="x" * 4001), "prompt"),
        (JobSpec(prompt="some gore please"), "prompt"),
        (JobSpec(prompt="ok", size="999x999"), "size"),
        (JobSpec(prompt="ok", format="bmp"), "format"),
        (JobSpec(prompt="ok", kind="video3d"), "kind"),
        (JobSpec(prompt="ok", kind="animation", format="jpeg"), "format"),
        (JobSpec(prompt="ok", account="a b"), "account"),
        (JobSpec(prompt="ok", idempotency_key="k" * 200), "idempotency_key"),
    ],
)
def test_bad_input_names_the_field(spec: JobSpec, field: str) -> None:
    with pytest.raises(JobInputError) as info:
        validate(spec)
    assert info.value.field == field
    assert info.value.reason
    assert isinstance(info.value, BadRequestError)
    assert info.value.kind == "bad_request"


def test_from_dict_refuses_unknown_and_mistyped_fields() -> None:
    with pytest.raises(JobInputError, match="colour"):
        JobSpec.from_dict({"prompt": "x", "colour": "red"})
    with pytest.raises(JobInputError, match="size: must be a string"):
        JobSpec.from_dict({"prompt": "x", "size": 5})
    with pytest.raises(JobInputError, match="prompt: is required"):
        JobSpec.from_dict({})
    assert JobSpec.from_dict({"prompt": "x", "kind": "animation"}).model == "grok-imagine-video"


def test_same_key_same_job_and_the_account_limit(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db", clock=VirtualClock())
    a, created_a = store.create(JobSpec(prompt="x", idempotency_key="k1"))
    b, created_b = store.create(JobSpec(prompt="different", idempotency_key="k1"))
    assert (created_a, created_b) == (True, False)
    assert a.id == b.id
    c, _ = store.create(JobSpec(prompt="x"))
    d, _ = store.create(JobSpec(prompt="x"))
    assert c.id == d.id != a.id  # no key: the input itself is the key
    limits = Limits(max_active_per_account=2)
    with pytest.raises(JobInputError, match="active jobs"):
        store.create(JobSpec(prompt="third"), limits)
    assert len(store.list()) == 2


def test_leases_fence_writes_and_expire_for_the_reaper(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = JobStore(tmp_path / "jobs.db", clock=clock)
    job, _ = store.create(JobSpec(prompt="x"))
    store.mark_queued(job.id)
    assert store.acquire(job.id, "w1", ttl=10) is not None
    assert store.acquire(job.id, "w2", ttl=10) is None  # held
    store.advance(job.id, "w1", "calling")
    with pytest.raises(LeaseLostError):
        store.advance(job.id, "w2", "stored")
    assert store.stale(pickup_timeout=60) == []
    clock.sleep(11)  # w1 died: its lease ran out
    assert store.stale(pickup_timeout=60) == [job.id]
    taken = store.acquire(job.id, "w2", ttl=10)
    assert taken is not None
    assert taken.state == "calling"
    assert taken.attempts == 2
    with pytest.raises(LeaseLostError):  # the stalled w1 wakes up: fenced out
        store.advance(job.id, "w1", "stored")
    with pytest.raises(LeaseLostError):
        store.renew(job.id, "w1", 10)
    store.advance(job.id, "w2", "stored", artifact="a" * 64)
    states = [s for s, _ in store.get(job.id).transitions]  # type: ignore[union-attr]
    assert states == ["validated", "queued", "calling", "stored"]


def test_a_queued_job_never_picked_up_is_stale_after_the_pickup_timeout(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = JobStore(tmp_path / "jobs.db", clock=clock)
    job, _ = store.create(JobSpec(prompt="x"))
    store.mark_queued(job.id)
    clock.sleep(30)
    assert store.stale(pickup_timeout=60) == []
    clock.sleep(31)
    assert store.stale(pickup_timeout=60) == [job.id]
    store.touch(job.id)
    assert store.stale(pickup_timeout=60) == []


def test_artifacts_are_content_addressed_atomic_and_audited(tmp_path: Path) -> None:
    arts = ArtifactStore(tmp_path)
    sha = arts.put(b"frame data", {"job": "j1", "prompt_sha256": "p"}, prompt="secret prompt")
    assert sha == hashlib.sha256(b"frame data").hexdigest()
    assert arts.put(b"frame data", {"job": "j1"}) == sha  # idempotent
    assert arts.get(sha) == b"frame data"
    meta = arts.meta(sha)
    assert meta["size"] == 10
    assert meta["sha256"] == sha
    assert "prompt" not in meta
    assert arts.audit().half_written == ()
    assert arts.audit().objects == 1
    (tmp_path / "tmp" / "leftover.x").write_bytes(b"half")  # a crash mid-write leaves this
    arts.path(sha).write_bytes(b"torn")  # a non-atomic writer would leave this
    report = arts.audit()
    assert report.half_written == (sha,)
    assert report.temporary == 1
    with pytest.raises(ValueError, match="sha256"):
        arts.path("../../etc/passwd")
    kept = ArtifactStore(tmp_path / "k", keep_prompt=True)
    assert kept.meta(kept.put(b"x", {}, prompt="p"))["prompt"] == "p"


def test_import_llmkit_and_the_simulator_do_not_load_the_jobs_extra() -> None:
    import subprocess
    import sys

    code = (
        "import sys, llmkit, llmkit.sim, llmkit.jobs, llmkit.cli; llmkit.cli.build_parser(); "
        "print(sorted(m for m in ('huey', 'fastapi', 'PIL', 'standardwebhooks', 'uvicorn') "
        "if m in sys.modules))"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_jobs_public_api_is_pinned() -> None:
    import llmkit.jobs

    assert set(llmkit.jobs.__all__) == {
        "ArtifactStore", "Job", "JobInputError", "JobQueue", "JobSpec", "JobStore", "JobsConfig",
        "LeaseLostError", "Limits", "Pipeline", "RedisJobStore", "RunResult", "StageOutcome",
        "WebhookSender", "WorkerCrash", "create_app", "validate", "verify",
    }  # fmt: skip
    for name in llmkit.jobs.__all__:
        assert getattr(llmkit.jobs, name) is not None
    with pytest.raises(AttributeError):
        _ = llmkit.jobs.Nope  # type: ignore[attr-defined]
