# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · The media job pipeline: a model call inside a job system
#
# **The production failure.** An animation studio's "generate shot" button calls a video model
# *inside the web request*: create the generation, poll it until it is done, download it, write
# the file. The request takes a minute; the gateway cuts it at 30 s; the user clicks again and
# a second generation starts (and is billed). A deploy restarts the web process mid-request: the
# generation finishes at the provider and nobody ever fetches it. A process killed while writing
# leaves a half file that the next page load shows as a broken thumbnail. Nothing records what
# was asked, so nobody can say which shots were lost.
#
# **The pattern** (`llmkit.jobs`): every request becomes a **job record** before anything else
# happens, and the work moves through explicit, idempotent stages run by workers from a queue:
#
# 1. **validate** the input (prompt rules, sizes, formats, per-account limits, idempotency
#    key) — bad input is refused with the field and the reason, and nothing is created;
# 2. **create a job**: a persisted record with its state and the time of every transition;
# 3. **call the provider** through `llmkit.Client` (deadline, retries, telemetry) with an
#    idempotency key; for a create → poll → download API the provider job id is saved *before*
#    polling, so a resumed job polls instead of creating again;
# 4. **store artifacts** content-addressed and atomically (temp file, fsync, rename);
# 5. **post-process** (decode and size checks, thumbnail, contact sheet) as its own retryable
#    state;
# 6. **notify / expose status**: a signed webhook, a status API with server-sent events.
#
# The queue is huey (`SqliteHuey` on one machine, `RedisHuey` across machines). huey loses the
# message a SIGKILLed worker held, so crash safety lives in the record: each stage runs under
# a **lease**, a dead worker's lease expires, and a **reaper** enqueues the job again to resume
# at its last completed state.
#
# **Data.** Everything runs on the in-process simulator (`llmkit.sim`, its Images API and
# generation-job API) on a `VirtualClock`: 20% of provider requests fail transiently (429, 500,
# 503, resets, hangs). To kill a worker at a chosen instant, a plain list stands in for the huey
# queue here; `benchmarks/pipeline_chaos.py` does the same with real worker processes, real
# SIGKILLs and both huey backends. Every chart names its data source.

# %%
import io
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import matplotlib.pyplot as plt
import pandas as pd
from PIL import Image

from llmkit import Client, LLMError, MemorySink, Timeouts, VirtualClock
from llmkit.charts import COLORS, figure, source
from llmkit.jobs import ArtifactStore, JobInputError, JobSpec, JobStore, Pipeline, validate
from llmkit.jobs.pipeline import WorkerCrash
from llmkit.providers.video_jobs import VideoJobsAdapter, content_bytes, job_status
from llmkit.sim import SimTransport, Simulator, get_scenario
from llmkit.sim.faults import Fault, FaultRule

pd.set_option("display.width", 120)
started = time.perf_counter()
workdir = tempfile.TemporaryDirectory(prefix="llmkit-nb11-")
ROOT = Path(workdir.name)

SEED = 7
FAULTS = FaultRule(
    (Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.UNAVAILABLE, Fault.RESET, Fault.HANG),
    rate=0.2,
    retry_after=1.0,
    hang_seconds=30.0,
)
SCENARIO = get_scenario("healthy").with_(seed=SEED).plus(FAULTS)
DATA = f"in-process simulator, scenario healthy + 20% transient faults, seed {SEED}"
PROMPTS = [f"shot {i:02d}: a paper boat drifting past a lighthouse" for i in range(12)]
CRASH_AT = {3: "created", 8: "downloaded"}
"""Which jobs lose their worker, and right after which step."""

# %% [markdown]
# ## 1. Validation comes first, and refuses with a reason
#
# Nothing is created for bad input: no record, no file, no provider call. The API answers 422
# with the field, the CLI exits with 2, Python raises `JobInputError` (an `LLMError` of kind
# `bad_request`).

# %%
refusals = []
for bad in (
    JobSpec(prompt="   "),
    JobSpec(prompt="a boat", size="4000x4000"),
    JobSpec(prompt="a boat", kind="hologram"),
    JobSpec(prompt="nsfw boat"),
):
    try:
        validate(bad)
    except JobInputError as exc:
        refusals.append({"field": exc.field, "reason": exc.reason, "kind": str(exc.kind)})
pd.DataFrame(refusals)

# %%
assert len(refusals) == 4
assert all(r["kind"] == "bad_request" for r in refusals)

# %% [markdown]
# ## 2. Naive: call the provider inside the web request
#
# The handler creates the generation (no idempotency key), polls it, downloads it and writes the
# file in place. It uses the same `llmkit.Client` retries as the pipeline: what it lacks is a
# job record, an idempotency key and atomic writes. The same transient faults hit it, and the
# web process dies on the same two requests as the pipeline's worker will below: once right
# after the create, once halfway through writing the file. The user retries a failed request
# up to twice.

# %%
naive_clock = VirtualClock()
naive_sim = Simulator(SCENARIO, naive_clock)
naive_client = Client(
    adapter=VideoJobsAdapter(),
    base_url="http://sim/v1",
    api_key="sim",
    transport=SimTransport(naive_sim, naive_clock),
    clock=naive_clock,
    timeout=Timeouts(read=5.0),
    seed=SEED,
)
naive_dir = ROOT / "naive"
naive_dir.mkdir()


class ProcessDied(Exception):
    """The web process was restarted mid-request."""


naive_crashed: set[int] = set()


def naive_handler(i: int, prompt: str, attempt: int) -> Path:
    crash = CRASH_AT.get(i) if i not in naive_crashed else None
    created = job_status(naive_client.send(VideoJobsAdapter.request("create", prompt=prompt)))
    if crash == "created":
        naive_crashed.add(i)
        raise ProcessDied
    while True:
        naive_clock.sleep(1.0)
        status = job_status(
            naive_client.send(VideoJobsAdapter.request("retrieve", job_id=created.id))
        )
        if status.status in ("completed", "failed"):
            break
    if status.status == "failed":
        raise RuntimeError("generation failed")
    data = content_bytes(naive_client.send(VideoJobsAdapter.request("content", job_id=created.id)))
    path = naive_dir / f"{created.id}.gif"  # the gallery lists whatever files are there
    if crash == "downloaded":
        naive_crashed.add(i)
        path.write_bytes(data[: len(data) // 2])  # killed mid-write: the half file stays
        raise ProcessDied
    path.write_bytes(data)
    return path


naive_rows = []
for i, prompt in enumerate(PROMPTS):
    outcome = "failed"
    for attempt in range(3):
        try:
            naive_handler(i, prompt, attempt)
            outcome = "ok"
            break
        except (LLMError, ProcessDied, RuntimeError) as exc:
            outcome = type(exc).__name__
    naive_rows.append({"shot": i, "outcome": outcome})


def whole(path: Path) -> bool:
    """As an observer: does the file hold exactly what the provider serves for that job?"""
    full = naive_client.send(VideoJobsAdapter.request("content", job_id=path.stem))
    return path.read_bytes() == content_bytes(full)


naive_gens = naive_sim.media.generations_by_prompt()
naive_summary = {
    "requests that failed for the user": sum(r["outcome"] != "ok" for r in naive_rows),
    "generations billed": sum(naive_gens.values()),
    "duplicated generations": sum(n - 1 for n in naive_gens.values()),
    "half-written files": sum(not whole(p) for p in naive_dir.glob("*.gif")),
}
naive_summary

# %% [markdown]
# Every retry is a new generation (nothing ties it to the first), the generation started
# before the crash is never fetched, and the half-written file is served as if it were whole.
#
# ## 3. The pipeline, under the same faults and the same two crashes
#
# `Pipeline.run(job_id, worker)` takes the job's lease and walks it from its current state. A
# `WorkerCrash` raised from the test hook stands in for SIGKILL: the run stops and its lease is
# *not* released. The "queue" drops the message the dead worker held (as huey does); the reaper
# finds the expired lease and enqueues the job again; another worker resumes it.

# %%
clock = VirtualClock()
sim = Simulator(SCENARIO, clock)
store = JobStore(ROOT / "pipeline" / "jobs.db", clock=clock)
artifacts = ArtifactStore(ROOT / "pipeline" / "artifacts")
LEASE = 20.0
telemetry = MemorySink()
crashes: list[tuple[str, str]] = []
pipeline = Pipeline.connect(
    store,
    artifacts,
    base_url="http://sim/v1",
    api_key="sim",
    clock=clock,
    transport=SimTransport(sim, clock),
    read_timeout=5.0,
    lease_ttl=LEASE,
    poll_interval=1.0,
    heartbeat=False,
    telemetry=telemetry,
)
ids = [
    store.create(validate(JobSpec(prompt=p, kind="animation", account=f"studio-{i % 3}")))[0].id
    for i, p in enumerate(PROMPTS)
]
crash_for = {ids[i]: step for i, step in CRASH_AT.items()}


def hook(job_id: str, step: str) -> None:
    if crash_for.get(job_id) == step:
        del crash_for[job_id]  # each crash happens once
        crashes.append((job_id, step))
        store.note(job_id, "worker_killed", "w1", step)
        raise WorkerCrash


pipeline.hook = hook
queue = list(ids)
for job_id in ids:
    store.mark_queued(job_id)
workers = ["w1", "w2"]
turn = 0
while True:
    while queue:
        job_id = queue.pop(0)
        worker = workers[turn % 2]
        turn += 1
        try:
            result = pipeline.run(job_id, worker)
        except WorkerCrash:
            continue  # the worker died; the message it held is gone with it
        if result.retry_in is not None:
            queue.append(job_id)
    open_jobs = [j for j in store.list(limit=1000) if not j.terminal]
    if not open_jobs:
        break
    clock.sleep(LEASE + 1)  # the reaper's next pass, after the dead worker's lease ran out
    for job_id in store.stale(pickup_timeout=60):
        store.touch(job_id)
        store.note(job_id, "reaped", "reaper", "lease expired")
        queue.append(job_id)

jobs = [store.get(j) for j in ids]
gens = sim.media.generations_by_prompt()
audit = artifacts.audit()
pipeline_summary = {
    "requests that failed for the user": sum(j.state != "done" for j in jobs),
    "generations billed": sum(gens.values()),
    "duplicated generations": sum(n - 1 for n in gens.values()),
    "half-written files": len(audit.half_written),
}
pd.DataFrame({"naive (in the web request)": naive_summary, "pipeline": pipeline_summary})

# %%
assert len(crashes) == 2
assert pipeline_summary["duplicated generations"] == 0
assert pipeline_summary["half-written files"] == 0
assert all(j.state in ("done", "failed") for j in jobs)  # nothing lost
assert naive_summary["duplicated generations"] >= 1
assert naive_summary["half-written files"] >= 1
crashed_after_create = store.get(ids[3])
assert crashed_after_create.state == "done"
assert crashed_after_create.attempts >= 2
assert gens[crashed_after_create.spec.prompt_hash()] == 1  # resumed by polling, not creating
print(f"failed jobs by kind: {Counter(j.error_kind for j in jobs if j.state == 'failed')}")

# %% [markdown]
# Every provider call the pipeline makes is an ordinary `llmkit.Client` call, so telemetry has a
# row for it, and the pipeline's typed outcome adds the job, its stage and the operation as
# columns. Here are the calls of the job whose worker died right after the create: one
# `create`, then the polls of both runs, then the download.

# %%
df = telemetry.to_dataframe()
calls = df[(df["llmkit.record"] == "call") & (df["llmkit.job.id"] == ids[3])]
calls[
    ["llmkit.job.op", "llmkit.attempt", "error.type", "gen_ai.client.operation.duration"]
].reset_index(drop=True)

# %%
assert list(calls["llmkit.job.op"]).count("create") == 1
assert list(calls["llmkit.job.op"])[-1] == "content"

# %% [markdown]
# ## 4. The timeline: jobs moving through their states, the crash and the resumption
#
# Each row is a job; each coloured span is the time it spent in a state (virtual seconds from
# the first submit). A red ✕ marks the moment its worker was killed, a black ▶ the moment
# another worker resumed it.

# %%
events = pd.DataFrame(store.events(0, limit=100_000))
t0 = events["at"].min()
events["t"] = events["at"] - t0
STATE_COLORS = {
    "queued": "#c7c7c7",
    "calling": "#1f77b4",
    "stored": "#9467bd",
    "post_processed": "#ff7f0e",
}
fig, (ax, ax2) = figure(2, title="Jobs through the pipeline, with two worker crashes", width=7.0)
for row, job_id in enumerate(ids):
    ev = events[events["job_id"] == job_id]
    states = ev[ev["state"].isin([*STATE_COLORS, "done", "failed"])]
    for (_, a), (_, b) in zip(states.iterrows(), states.iloc[1:].iterrows(), strict=False):
        if a["state"] in STATE_COLORS:
            ax.barh(row, b["t"] - a["t"], left=a["t"], color=STATE_COLORS[a["state"]], height=0.6)
    for _, e in ev[ev["state"] == "worker_killed"].iterrows():
        ax.plot(e["t"], row, "x", color=COLORS["naive"], markersize=10, mew=2)
    for _, e in ev[ev["state"] == "resumed"].iterrows():
        ax.plot(e["t"], row, ">", color="black", markersize=7)
ax.set_yticks(range(len(ids)), [f"shot {i:02d}" for i in range(len(ids))])
ax.invert_yaxis()
ax.set_xlabel("virtual seconds since the first submit")
handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in STATE_COLORS.values()]
ax.legend(handles, list(STATE_COLORS), loc="lower right", fontsize=8)
compare = pd.DataFrame({"naive": naive_summary, "pipeline": pipeline_summary})
compare.plot.barh(ax=ax2, color=[COLORS["naive"], COLORS["pattern"]])
ax2.set_title("same faults, same crashes")
ax2.invert_yaxis()
source(fig, DATA)

# %% [markdown]
# ## 5. What post-processing produced
#
# Each finished job has its artifact (an animated GIF the simulator renders — not a video
# codec), a thumbnail and a contact sheet of its frames, all content-addressed under
# `artifacts/objects/` with a metadata file that holds the prompt's hash, not the prompt.

# %%
done = [j for j in jobs if j.state == "done"][:4]
fig, axes = figure(1, nrows=len(done), title="Contact sheets", width=8.0, height=1.2)
for ax, job in zip(axes, done, strict=True):
    ax.imshow(Image.open(io.BytesIO(artifacts.get(job.contact_sheet))))
    ax.set_axis_off()
    ax.set_title(f"{job.id}  ({job.spec.size}, {job.attempts} run(s))", fontsize=8, loc="left")
source(fig, DATA)
meta = artifacts.meta(done[0].artifact)
meta

# %%
assert "prompt" not in meta
assert meta["prompt_sha256"] == done[0].spec.prompt_hash()

# %% [markdown]
# ## 6. The status API and a webhook delivery
#
# `llmkit jobs serve` serves this FastAPI app; here it is driven in process. `GET /jobs/{id}`
# returns the record with every transition; `GET /events` streams the same transitions as
# server-sent events. A webhook is signed to the Standard Webhooks spec; the receiver verifies
# it with the shared secret before trusting it.

# %%
from fastapi.testclient import TestClient

from llmkit.jobs import JobQueue, JobsConfig, WebhookSender, create_app, verify
from llmkit.jobs.webhooks import new_secret

api = TestClient(create_app(JobQueue(JobsConfig(data_dir=ROOT / "pipeline"))))
record = api.get(f"/jobs/{ids[3]}").json()
print(json.dumps({k: record[k] for k in ("id", "state", "attempts", "provider_calls")}, indent=1))
pd.DataFrame(record["transitions"]).assign(at=lambda d: d["at"] - t0)

# %%
stream = api.get("/events", params={"follow": "false"}).text
print("\n".join(stream.splitlines()[:6]))

# %%
secret = new_secret()
deliveries: list[httpx.Request] = []
sender = WebhookSender(
    "https://studio.example/hooks/jobs",
    secret,
    http=httpx.Client(
        transport=httpx.MockTransport(lambda r: deliveries.append(r) or httpx.Response(204))
    ),
)
sender.send("job.done", record, msg_id=f"{record['id']}.job.done")
delivered = deliveries[0]
print({k: v for k, v in delivered.headers.items() if k.startswith("webhook-")})
payload = verify(secret, delivered.content, dict(delivered.headers))
assert payload["type"] == "job.done"
assert payload["data"]["id"] == ids[3]
try:
    verify(new_secret(), delivered.content, dict(delivered.headers))
except LLMError as exc:
    print("wrong secret ->", exc.kind)

# %% [markdown]
# ## What to tune
#
# * **Lease TTL** (`lease_ttl`): how long a dead worker's job waits before another takes it.
#   Workers renew it from a heartbeat thread, so it only needs to cover a stall, not a stage.
# * **Pickup timeout** (`pickup_timeout`): how long a queued job may sit unleased before the
#   reaper assumes the queue lost its message; longer than your normal backlog.
# * **Poll interval and timeout**: start near the provider's hint (OpenAI sent
#   `openai-poll-after-ms`), back off, and give up (`timeout`, not retried) when a job never
#   finishes.
# * **Stage retries** (`max_runs`): how many runs a retryable provider failure gets after the
#   client's own retries.
# * **Backend**: `SqliteHuey` on one machine; `LLMKIT_JOBS_QUEUE=redis://…` for `RedisHuey`.
#
# **Pitfalls.** An idempotency key the provider does not honour protects nothing: check that
# your provider dedupes creates (the simulator does; so do OpenAI-style `Idempotency-Key`
# headers) or save the provider job id before anything else can fail. Keep prompts out of
# metadata and logs unless you must keep them (`keep_prompt=True`).
#
# ## Exercises
#
# 1. Move the first crash to `"polled"` (after the first poll). How many generations does that
#    shot cost, and which event in its timeline shows the resumption?
# 2. Remove the idempotency key from `Pipeline._call` (copy the method) and crash right after
#    an image create. How many generations do you get now?
# 3. Set `LEASE = 300`. What happens to the crashed jobs' time to done, and why does the
#    heartbeat let you keep the lease short in production?
# 4. Add a `[fail-midway]` prompt to `PROMPTS`. Which state and error kind does the job end in,
#    and what does its webhook say?

# %%
store.close()
workdir.cleanup()
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
