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
# # 04 · Fallbacks and degradation: the provider's outage must not become yours
#
# **The production failure.** Your primary provider goes down for a minute — OpenAI answers
# `503`, Anthropic `529 overloaded` — in the middle of the afternoon. With no policy, every call
# in that minute is an error page. With retries only, it is worse than it looks: each call now
# waits through three attempts and two `retry-after` sleeps before failing anyway, workers pile
# up behind it, and every client triples the load on a provider that is trying to come back.
# When it recovers, the retry budget is empty and ordinary blips fail too.
#
# **The pattern.**
#
# * a **fallback chain** (`FallbackLayer`): when a target's retries are spent, the same request
#   goes to the next target — another *provider*, not another region of the same one;
# * a **circuit breaker per target** (`BreakerLayer`): after a burst of health failures it
#   *opens* and refuses calls locally, at once, so calls skip the dead primary instead of
#   spending their deadline on it; after a cooldown it lets one probe through (*half-open*) and
#   closes when the probe succeeds;
# * **degradation** when every target fails: a stale cached answer or a canned reply, labelled
#   as degraded — never passed off as a fresh one;
# * all of it inside **one deadline per call**, shared by every target.
#
# **Data.** Section 1 replays the committed cassette `mixed/fallback-pair` (OpenAI overloaded,
# Anthropic healthy). Sections 2–3 need thousands of concurrent calls through a one-minute
# outage, which no recording holds, so they run a **chaos run** (`llmkit.chaos`, the same
# function `tests/test_chaos.py` and `benchmarks/chaos.py` use) on the in-process simulator
# and a `VirtualClock`. Section 4 uses the simulator's `outage` scenario. Every chart names its
# data source; nothing sleeps for real and nothing leaves the machine.

# %%
import asyncio
import contextlib
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from llmkit import AsyncClient, Client, LLMError, MemorySink, VirtualClock
from llmkit.breaker import BreakerConfig, BreakerState
from llmkit.cache import CacheLayer, MemoryCache, StaleCache
from llmkit.cassettes import Replayer, load_cassette
from llmkit.cassettes.workload import request_from_data
from llmkit.chaos import ROUTES, ChaosConfig, ChaosReport, chaos_scenario, simulate
from llmkit.charts import (
    COLORS,
    attempt_timeline,
    breaker_steps,
    cassette,
    figure,
    frame,
    latency_cdf,
    outage_timeline,
    per_bin,
    source,
)
from llmkit.fallback import Canned, FallbackLayer, Target
from llmkit.lab import run_async
from llmkit.sim import AsyncSimTransport, Simulator, get_scenario

pd.set_option("display.width", 120)
started = time.perf_counter()

# %% [markdown]
# ## 1. A recorded outage of the primary: retry only vs retry + fallback
#
# The cassette recorded four calls, ten seconds apart, while OpenAI answered every request with
# `503 overloaded`; each call was then sent to Anthropic's `claude-haiku-4-5`, which answered.
# We replay it twice through the same primary client (2 attempts, the recorded policy):
#
# * **retry only** — the user gets the `503` after two attempts;
# * **retry + fallback** — `FallbackLayer([Target("openai"), Target.of_client(anthropic)])`:
#   after the primary's retries, the request goes to a second client (its own retries and
#   transport) inside the *same* call: one deadline, one telemetry record.

# %%
PAIR = cassette("mixed", "fallback-pair")
pair_meta = load_cassette(PAIR).meta
print(f"cassette mixed/fallback-pair: {pair_meta.provenance}")


def replay_pair(*, fallback: bool) -> pd.DataFrame:
    """Replay the cassette's calls through a primary client, with or without the fallback."""
    clock = VirtualClock()
    sink = MemorySink()
    with Replayer(PAIR, clock=clock, strict=False) as rep:
        layers = []
        if fallback:
            backup = Client(
                "anthropic",
                transport=rep.transport(),
                base_url="http://127.0.0.1",  # the recorded host; nothing is sent anywhere
                api_key=None,
                clock=clock,
                retry=2,
                seed=1,  # reproducible jitter
            )
            chain = [
                Target("openai", provider="openai"),
                Target.of_client(backup, name="anthropic", model="claude-haiku-4-5"),
            ]
            layers = [FallbackLayer(chain)]
        primary = Client(
            "openai",
            transport=rep.transport(),
            base_url="http://127.0.0.1/v1",
            api_key=None,
            clock=clock,
            retry=2,
            seed=0,  # reproducible jitter
            telemetry=sink,
            layers=layers,
        )
        t0, origin = clock.now(), clock.wall()
        for call in rep.meta.calls:
            clock.set(t0 + call.t_s)
            with contextlib.suppress(LLMError):  # a failure is in the telemetry
                primary.send(request_from_data(call.request))
    return frame(sink, origin=origin)


retry_only = replay_pair(fallback=False)
with_fallback = replay_pair(fallback=True)
cols = ["kind", "provider", "request_model", "attempt", "t_s", "latency", "status", "error_type"]
print(with_fallback[cols].round(3).to_string(index=False))

# %%
fig, (left, right) = figure(2, title="A recorded primary outage: 4 calls", sharex=True)
n_calls = int((retry_only["kind"] == "call").sum())
failed = retry_only.query("kind == 'call' and not ok")
served = with_fallback.query("kind == 'call' and ok")
failed_with = ", ".join(str(int(x)) for x in sorted(set(failed["status"].dropna())))
by = ", ".join(sorted(set(served["provider"])))
attempt_timeline(
    left, retry_only, title=f"retry only: {len(failed)} of {n_calls} calls fail ({failed_with})"
)
attempt_timeline(
    right, with_fallback, title=f"retry + fallback: {len(served)} of {n_calls} served by {by}"
)
for ax in (left, right):
    ax.set_xlabel("time since the first call (s)")
assert len(failed) == n_calls, "retry only: every recorded call fails"
assert len(served) == n_calls, "with the fallback every call is served"
assert by == "anthropic", "... by Anthropic"
source(
    fig,
    f"replayed cassette mixed/fallback-pair (scenario {pair_meta.provenance.scenario}, "
    f"seed {pair_meta.provenance.seed})",
)

# %% [markdown]
# The call record names who answered (`provider` is `anthropic` for the served calls, while
# `request_model` is still what the caller asked for), so a dashboard can count fallbacks. But
# every one of these calls still spent two attempts on a provider known to be down: that is the
# breaker's job, and it only shows at scale.
#
# ## 2. The chaos run: a one-minute outage inside 2,000 calls
#
# `llmkit.chaos` sends 800 calls (4 per virtual second, each its own asyncio task) through the
# simulator with **30 % transient faults on every provider** (429 with `retry-after`, 500, 502,
# 503, 529, hangs until the 5 s read timeout, connection resets), a **60 s outage of the
# primary** (60–120 s), and 0.5 % `429 insufficient_quota` on the primary (not retryable), all
# inside a 30 s deadline per call. Three set-ups, same scenario, same seed:
#
# * **no policies** — one attempt, one provider;
# * **retry + budget only** — 3 attempts with jittered backoff, a `RetryBudget` per provider;
# * **retry + budget + fallback + breaker** — plus a breaker per target and the chain
#   OpenAI → Anthropic → OpenRouter.

# %% tags=["experiment"]
import functools

# tests/test_chaos.py and the benchmark run 2,000 calls with the outage at 120-180 s
CONFIG = ChaosConfig(calls=800, outage=(60.0, 120.0))


@functools.cache  # a run is reproducible: the panel below reuses it instead of rerunning
def chaos_run(config: ChaosConfig, mode: str):
    return simulate(config, mode)


# %%
SCENARIO = chaos_scenario(CONFIG)
DATA = f"simulator scenario {SCENARIO.name!r} ({SCENARIO.description}), seed {CONFIG.seed}"
RUNS = {mode: chaos_run(CONFIG, mode) for mode in ("none", "retry", "full")}
COLOR = {"none": COLORS["naive"], "retry": COLORS["extra"], "full": COLORS["pattern"]}
PRIMARY_TARGET, PRIMARY = ROUTES[0][0], ROUTES[0][1]
OUT_START, OUT_END = CONFIG.outage
BIN = 5.0

frames = {mode: frame(run.records) for mode, run in RUNS.items()}
summary = pd.DataFrame([run.summary() for run in RUNS.values()]).set_index("run")
summary.round(4)

# %% tags=["headline"]
bins = {
    RUNS[m].name: per_bin(frames[m], provider=PRIMARY, bin_s=BIN) for m in ("full", "retry", "none")
}
fig, axes = outage_timeline(
    bins,
    colors={RUNS[m].name: COLOR[m] for m in RUNS},
    outage=CONFIG.outage,
    breaker=breaker_steps(RUNS["full"].breaker_events, PRIMARY_TARGET, RUNS["full"].seconds),
    breaker_label="primary breaker\n(full set-up)",
    bin_s=BIN,
    title="A 60 s primary outage inside 30% transient faults: three set-ups",
)
source(fig, DATA)

# %%
from llmkit.breaker import HEALTH_KINDS

events = [e for e in RUNS["full"].breaker_events if e.target == PRIMARY_TARGET]
opened = min(e.at for e in events if e.new == BreakerState.OPEN and e.at >= OUT_START)
closed = [e.at for e in events if e.new == BreakerState.CLOSED and e.at >= OUT_END]


def primary_load(mode: str, start: float, end: float) -> float:
    """Attempts per second sent to the primary by calls that started in [start, end)."""
    att = frames[mode].query("kind == 'attempt'")
    att = att[(att["provider"] == PRIMARY) & att["t_s"].between(start, end, inclusive="left")]
    return len(att) / (end - start)


phase = {}
for mode in ("none", "retry", "full"):
    b = bins[RUNS[mode].name]
    phase[mode] = {
        "success before": b[b.index < OUT_START]["success"].mean(),
        "success during": b[(b.index >= OUT_START) & (b.index < OUT_END)]["success"].mean(),
        "load before (attempts/s)": primary_load(mode, 0.0, OUT_START),
        "peak 5 s load in the outage": b[(b.index >= OUT_START) & (b.index < OUT_END)][
            "attempts_per_s"
        ].max(),
        "load, breaker open to outage end": primary_load(mode, opened, OUT_END),
    }
phase_table = pd.DataFrame(phase).T.rename(index={m: RUNS[m].name for m in RUNS})
print(
    f"primary breaker (cooldown {CONFIG.breaker.cooldown:g} s): opened {opened - OUT_START:.1f} s "
    f"into the outage; closed again {closed[0] - OUT_END:.1f} s after it ended"
    if closed
    else "primary breaker: still open at the end of the run"
)
att = frames["full"].query("kind == 'attempt'")
att = att[(att["provider"] == PRIMARY) & ~att["t_s"].between(OUT_START, OUT_END)]
health = att["error_type"].isin({k.value for k in HEALTH_KINDS}).mean()
print(
    f"background health failures on the primary outside the outage: {health:.0%} of attempts "
    f"(breaker threshold: {CONFIG.breaker.failure_rate:.0%})"
)
none, retry, full = phase["none"], phase["retry"], phase["full"]
assert retry["success before"] > none["success before"], "retries recover background faults"
assert retry["success during"] < 0.05, "... but not the outage"
assert none["success during"] < 0.05
assert full["success during"] > 0.95, "fallback + breaker: the line barely moves"
before = "load before (attempts/s)"
assert retry["peak 5 s load in the outage"] > 1.5 * retry[before], "a retry storm"
assert full["load, breaker open to outage end"] < 0.2 * full[before], "a trickle of probes"
assert health < CONFIG.breaker.failure_rate, "the threshold sits above the background noise"
phase_table.round(2)

# %% [markdown]
# Read it top to bottom on the same clock:
#
# * **Success.** With no policy, the background faults (`fault_rate` 30 %, a design parameter)
#   cost about that share of calls all along, and the outage costs every call in it. Retries
#   recover most background faults (three attempts fail together about 0.3³ ≈ 3 % of the time)
#   but not the outage. With the fallback and the breaker the line barely moves. (Before/during
#   figures are printed under the chart.)
# * **Load on the dead provider.** In the first seconds of the outage, retry-only sends the
#   primary a multiple of its normal attempt rate (the table: peak vs before) — exactly
#   when it can least take it — until the retry budget runs dry (`budget denied` in the first
#   table counts the refusals); from then on each call makes one attempt and fails. The full
#   set-up's first seconds look much like retry-only's: the breaker needs a window of failures
#   before it opens. From the moment it opens to the end of the outage (the table's last
#   column), the primary gets a trickle of probes, a small fraction of its normal load, and
#   the fallback answers the calls.
# * **Latency** (the CDF in section 3). At the start of the outage, calls wait through
#   attempts and the outage's 5 s `retry-after` sleeps. Once the budget is empty, retry-only
#   calls fail *fast* — as fast as no policy at all, and just as failed. Once the breaker is
#   open, calls skip the primary at once and pay only the fallback's latency.
# * **Breaker.** It opens seconds into the outage, lets one probe through every cooldown
#   (half-open), re-opens while the probe fails and closes once one succeeds — possibly a
#   cooldown or more after the outage ended, because with background faults a single probe can
#   fail too (times printed under the chart; see *what to tune*).

# %% [markdown]
# ## 3. The chaos test's targets, and the "no policies" contrast
#
# `tests/test_chaos.py` asserts, from the same function with 2,000 calls, that with every
# policy on **at least 99.9 % of calls succeed, no non-retryable error is ever retried, and
# every call ends inside its deadline**. `ChaosReport.missed()` checks the same targets on
# this run; `benchmarks/chaos.py` prints the same figures.
#
# One row of the table needs reading: `non-retryable errors` is far *higher* with every policy
# on than with none. Almost all of them are `circuit_open` — the breaker refusing a call
# locally, at once, while the primary is down. That refusal is an error of the *primary
# target* (not retryable: retrying a refusal is pointless), and the fallback then serves the
# call, so the user never sees it. The rest are the primary's `insufficient_quota` answers,
# which are not retried either, and also move on to the fallback.

# %%
report = ChaosReport(RUNS["full"], RUNS["none"])
print("targets missed by the policies run:", report.missed() or "none")
non_retryable = {k: n for (k, retryable), n in RUNS["full"].errors.items() if not retryable}
print("non-retryable errors seen (kind, count):", non_retryable)
print("served by:", dict(RUNS["full"].served_by))
full_row = summary.loc[RUNS["full"].name]
assert report.missed() == []
assert sum(non_retryable.values()) == full_row["non-retryable errors"]
assert non_retryable["circuit_open"] > full_row["non-retryable errors"] / 2, "mostly the breaker"
assert set(non_retryable) <= {"circuit_open", "quota_exhausted"}
assert full_row["non-retryable retried"] == 0
summary.loc[[RUNS["full"].name, RUNS["none"].name]].T

# %%
fig, (bars, cdf) = figure(2, title="Chaos run: no policies vs every policy", width=6.2)
order = ["none", "retry", "full"]
names = [RUNS[m].name.replace(" + ", "\n+ ") for m in order]
bars.barh(names, [RUNS[m].success_rate for m in order], color=[COLOR[m] for m in order])
bars.axvline(CONFIG.min_success, color="black", linestyle="--", linewidth=1)
bars.text(CONFIG.min_success, -0.62, f"target {CONFIG.min_success:.1%} ", fontsize=8, ha="right")
for i, m in enumerate(order):
    bars.text(0.02, i, f"{RUNS[m].success_rate:.2%}", va="center", color="white", fontweight="bold")
bars.set_xlim(0, 1.1)
bars.set_ylim(-0.8, 2.5)
bars.set_xlabel(f"share of {CONFIG.calls:,} calls that succeeded (fraction)")
bars.set_title("success rate")
for m in order:
    lat = frames[m].query("kind == 'call'")["latency"]
    latency_cdf(cdf, lat, label=RUNS[m].name, color=COLOR[m])
cdf.axvline(CONFIG.deadline, color="black", linestyle="--", linewidth=1)
cdf.text(CONFIG.deadline, 0.05, "deadline ", ha="right", fontsize=8)
cdf.set_xscale("log")
cdf.set_xlabel("call latency (s, virtual, log scale) — failures included")
cdf.set_title("latency of every call")
cdf.legend(fontsize=8, loc="upper left")
source(fig, DATA)
for m in order:
    assert frames[m].query("kind == 'call'")["latency"].max() <= CONFIG.deadline, m

# %% [markdown]
# The CDF includes failed calls: a fast failure is not a good outcome, it is only a cheap one.
# Every curve ends left of the deadline line — the deadline holds for all three set-ups.
#
# ## 4. When every target fails: degrade, and say so
#
# Sometimes there is nowhere left to go (every provider overloaded, or a fallback you may not
# use for this data). A degraded answer needs something to degrade *to*, so this section
# brings in a cache (notebook 05 covers caching in full; here is all this section uses):
#
# * `CacheLayer(MemoryCache(), ttl=30, stale_ttl=3600, opt_in=True)` stores each successful
#   answer under a key made from the request (model, messages, parameters). For `ttl` seconds
#   an identical request is answered from the cache ("fresh cache hit"); after that the entry
#   is expired but kept `stale_ttl` seconds more. `opt_in=True` caches these sampled
#   requests too (by default only `temperature=0` ones are cached).
#
# Two degradation steps, tried in order after the chain fails:
#
# * `StaleCache(cache)` — the last good answer to the *same* request from that cache, even if
#   past its `ttl` (but within `stale_ttl`);
# * `Canned("...")` — a fixed, honest "we're busy" answer.
#
# The answer carries `degraded="stale_cache"` / `"canned"`, and so does the telemetry record, so
# the UI can say "this may be out of date" and dashboards can count it. Here a support bot gets
# one question every 2 s — two of every three from a list of 8 FAQs, the third one new — through
# the simulator's `outage` scenario (every request overloaded from 60 s to 120 s); the cache
# keeps answers fresh for 30 s and stale for an hour more. Each question is its own asyncio
# task, as each user is its own request in production.

# %%
OUTAGE = get_scenario("outage")
FAQ = [f"How do I reset my password on device type {i}?" for i in range(8)]


def question(i: int) -> str:
    return FAQ[i % len(FAQ)] if i % 3 != 2 else f"Where is my order #{1000 + i}?"


async def support_bot(*, degrade: bool, n: int = 90, seed: int = 0) -> pd.DataFrame:
    """One asyncio task per user question, arriving every 2 s on a virtual clock."""
    clock = VirtualClock()
    sink = MemorySink()
    layers = []
    if degrade:
        cache = CacheLayer(MemoryCache(clock=clock), ttl=30.0, stale_ttl=3600.0, opt_in=True)
        steps = [StaleCache(cache), Canned("We're busy right now; please try again shortly.")]
        layers = [cache, FallbackLayer([Target("openai", provider="openai")], degrade=steps)]
    client = AsyncClient(
        "openai",
        transport=AsyncSimTransport(Simulator(OUTAGE, clock, seed=seed)),
        base_url="http://127.0.0.1/v1",
        api_key="sim-placeholder",  # the simulator wants a key; this is not a secret
        clock=clock,
        seed=seed,
        telemetry=sink,
        retry=2,
        deadline=10.0,
        layers=layers,
    )

    async def user(i: int) -> None:
        await clock.asleep(i * 2.0)
        with contextlib.suppress(LLMError):  # a failure is in the telemetry
            await client.chat(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": question(i)}],
                max_tokens=48,
            )

    await asyncio.gather(*(user(i) for i in range(n)))
    await client.aclose()
    calls = frame(sink, origin=clock.wall() - clock.now()).query("kind == 'call'").copy()
    calls["answer"] = np.select(
        [
            calls["degraded"] == "stale_cache",
            calls["degraded"] == "canned",
            calls["cache_hit"].eq(True),
            calls["ok"],
        ],
        ["stale cache (degraded)", "canned (degraded)", "fresh cache hit", "provider"],
        default="error",
    )
    return calls


bot = {
    "naive": run_async(support_bot(degrade=False)),
    "pattern": run_async(support_bot(degrade=True)),
}
answers = (
    pd.concat({k: v["answer"].value_counts() for k, v in bot.items()}, axis=1).fillna(0).astype(int)
)
assert answers.loc["error", "naive"] > 0, "retry only: users get errors in the outage"
assert "error" not in bot["pattern"]["answer"].values, "every user got an answer, labelled"
answers

# %%
KINDS = {
    "provider": COLORS["pattern"],
    "fresh cache hit": COLORS["other"],
    "stale cache (degraded)": "#bcbd22",
    "canned (degraded)": COLORS["extra"],
    "error": COLORS["naive"],
}
fig, axes = figure(2, title="Support bot through a 60 s outage: what the user got", sharey=True)
for ax, (name, calls) in zip(axes, bot.items(), strict=True):
    counts = (
        calls.assign(bin=(calls["t_s"] // 10) * 10)
        .groupby(["bin", "answer"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=list(KINDS), fill_value=0)
    )
    bottom = np.zeros(len(counts))
    for kind, color in KINDS.items():  # a numeric time axis: bars at their bin's start
        ax.bar(counts.index, counts[kind], bottom=bottom, width=9, align="edge", color=color,
               label=kind)  # fmt: skip
        bottom += counts[kind].to_numpy()
    ax.set_ylim(0, counts.sum(axis=1).max() * 1.25)  # room above the bars to mark the outage
    ax.axvspan(60, 120, ymin=0.84, ymax=0.97, color="#777777", alpha=0.35)
    ax.text(90, 0.905, "provider outage 60–120 s", transform=ax.get_xaxis_transform(),
            ha="center", va="center", fontsize=8)  # fmt: skip
    ax.set_xticks(range(0, 181, 30))
    ax.set_xlabel("call start (s, virtual; 10 s bins)")
    ax.set_ylabel("calls (count)")
    title = "naive: retry only" if name == "naive" else "pattern: cache + StaleCache + Canned"
    ax.set_title(title)
axes[1].legend(fontsize=8, loc="lower left", bbox_to_anchor=(1.01, 0.0))
source(fig, f"simulator scenario 'outage' ({OUTAGE.description}), seed 0")

# %% [markdown]
# Nothing here is magic: during the outage every *fresh* answer is impossible. The pattern turns
# errors into answers the user can use, and labels every one of them — the telemetry's
# `degraded` column is what an alert on "share of degraded answers" reads.
#
# ## Explore: move the knobs
#
# The breaker of section 2 as a function of its knobs: its failure-rate threshold, its
# cooldown and how many outcomes it needs before judging. The panel reruns a shorter chaos
# run (section 2's 800 calls) with every policy on and redraws the timeline when
# you release a knob, printing the redraw time; the executed copy shows the default knobs.

# %% tags=["experiment"]
from llmkit.panel import explore


def experiment(failure_rate=0.75, cooldown=10.0, min_requests=20):
    """The full set-up through a 60 s primary outage, with this breaker on every target."""
    breaker = BreakerConfig(
        failure_rate=failure_rate,
        window_seconds=10.0,
        min_requests=min_requests,
        cooldown=cooldown,
    )
    config = replace(CONFIG, breaker=breaker)
    run = chaos_run(config, "full")
    label = f"every policy: {run.success_rate:.1%} succeeded, {run.breaker_opens} breaker opens"
    fig, _ = outage_timeline(
        {label: per_bin(frame(run.records), provider=ROUTES[0][1])},
        colors={label: COLORS["pattern"]},
        outage=config.outage,
        breaker=breaker_steps(run.breaker_events, ROUTES[0][0], run.seconds),
        title=f"breaker: opens at {failure_rate:.0%} failures (≥ {min_requests} outcomes in 10 s), "
        f"cooldown {cooldown:g} s",
    )
    source(
        fig, f"simulator scenario 'chaos' (primary down 60–120 s), seed {config.seed}, 800 calls"
    )
    return fig


# %%
explore(
    experiment, failure_rate=(0.1, 1.0, 0.05), cooldown=(1.0, 60.0, 1.0), min_requests=(1, 60, 1)
)

# %% [markdown]
# ## What to tune
#
# * **Breaker** (`BreakerConfig`): `failure_rate` and `window_seconds`/`min_requests` decide
#   how fast it opens — set the threshold well above your background failure rate (the last
#   line printed under the chart in section 2 compares the two) or it opens on noise;
#   `cooldown` is how often a probe is risked; `half_open_probes`/`probe_successes` how sure
#   you want to be before closing. Put it in `attempt_layers=` (counts every attempt, reacts
#   fastest) rather than `layers=`.
# * **Fallback chain**: different *providers* (an outage is usually provider-wide), models of
#   similar quality, each target with its own client, retries and breaker. Decide what is *not*
#   masked: `auth`, `bad_request` and context errors are raised, never sent elsewhere.
# * **Attempts per target** and the **deadline**: the deadline is shared by the whole chain;
#   with 3 targets × 3 attempts, 30 s covers a few 5 s hangs plus backoffs; when it runs out
#   first, the chain stops there (`deadline`) instead of overrunning.
# * **Retry budget**: with a breaker in front, the budget is rarely touched; without one it is
#   the only thing limiting the load on a dead provider (section 2, orange).
# * **Degradation**: `stale_ttl` on the cache decides how old a degraded answer may be; write
#   the canned text with your product team; alert on the share of degraded answers.
#
# **Pitfalls.**
# * A breaker shared by calls of very different models or tenants opens for all of them: key it
#   per target (provider + model).
# * Falling back to a target with a smaller context window or different tools fails in a new,
#   confusing way; llmkit's policy skips targets whose `context_window` is too small.
# * A fallback that is never exercised rots: replay an outage (this notebook) in CI.
#
# ## Exercises
#
# 1. Run `simulate(ChaosConfig(breaker=BreakerConfig(failure_rate=0.75, window_seconds=10,
#    min_requests=20, cooldown=30)), "full")`. How long after the outage does the breaker close
#    now, and what happened to attempts sent to the primary during the outage?
# 2. Set `probe_successes=3` and `half_open_probes=3`. Does the breaker close sooner or later
#    after the outage with a 30 % background fault rate? Why?
# 3. Lower the breaker's `failure_rate` to 0.3 and count `breaker_opens` over a few seeds. What
#    does a breaker that opens on noise cost you?
# 4. In section 4, remove `StaleCache` and keep only `Canned`. How many users get the canned
#    answer instead of a slightly old one? Which would your product prefer?
#
# ## Takeaways
#
# 1. Fall back to another *provider* inside the same deadline; name who answered in the
#    telemetry so fallbacks can be counted.
# 2. A breaker per target turns an outage's retry storm into a trickle of probes and lets
#    calls skip the dead provider at once; set its threshold above your background failures.
# 3. When nothing can answer, degrade honestly (a stale or canned answer, labelled), and
#    alert on the share of degraded answers.
#
# **Next:** [05 · Caching](05_caching.ipynb) — the cache behind `StaleCache`, in full.

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
