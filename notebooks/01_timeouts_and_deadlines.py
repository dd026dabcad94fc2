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
# # 01 · Timeouts and deadlines: a hung request must not hold a worker for ten minutes
#
# **The production failure.** A provider accepts the connection and then says nothing — a
# stuck load balancer, an overloaded region, a model that never starts streaming. The official
# SDKs wait **600 s per attempt** for a read by default and retry twice, so one unlucky call can
# hold a web worker, a connection and the user's request for half an hour: the user gave up
# after ten seconds, the worker pool drains, and the whole product stalls behind a handful of
# hung requests. Setting `timeout=30, max_retries=2` does not fix it either: that is still up to
# 91 s, because each attempt gets the full timeout again.
#
# **The pattern.** Two separate numbers:
#
# * a short **per-attempt timeout** (`Timeouts(read=...)`), set from the latency you measured,
#   so a hung attempt is abandoned and retried while there is still time, and
# * one **deadline per call** (`deadline=` seconds for all attempts *and* backoff sleeps
#   together): each attempt's timeouts shrink to the time left, no attempt starts without
#   `min_attempt` seconds, and the retry layer never sleeps past it.
#
# **Data.** Section 1 replays the committed cassette `openai/timeout-then-ok` (an attempt that
# hung until the 10 s read timeout, then a good one). Sections 2–3 need what a cassette cannot
# give — re-tuning timeout *values* and hundreds of calls — so they drive llmkit's in-process
# provider simulator on a `VirtualClock` (named scenarios and seeds are on every chart). A
# 10-minute hang costs nothing here: virtual time jumps.

# %%
import time

import pandas as pd

from llmkit.cassettes import load_cassette
from llmkit.charts import (
    COLORS,
    attempt_timeline,
    cassette,
    figure,
    latency_cdf,
    percentiles,
    replay_frame,
    simulate_calls,
    source,
)
from llmkit.deadline import Timeouts
from llmkit.retry import RetryPolicy
from llmkit.sim import Fault, FaultRule, get_scenario

pd.set_option("display.width", 120)
started = time.perf_counter()

# %% [markdown]
# ## 1. A recorded hang
#
# The cassette recorded a first attempt that got no byte back until the 10 s read timeout,
# then a retry that answered in under a second. Naive (one attempt) vs pattern (retry):

# %%
path = cassette("openai", "timeout-then-ok")
meta = load_cassette(path).meta
print(meta.provenance)
print(meta.notes["description"])
naive = replay_frame(path, retry=False)
pattern = replay_frame(path, retry=3)
cols = ["kind", "attempt", "t_s", "latency", "error_type", "retry_decision", "retry_delay"]
print(naive[cols].to_string(index=False))
print(pattern[cols].to_string(index=False))

# %%
fig, (left, right) = figure(2, title="A hung attempt: give up on it, not on the call", sharex=True)
attempt_timeline(left, naive, title="naive: one attempt → TimeoutError at 10 s")
attempt_timeline(right, pattern, title="pattern: time out the attempt, retry → answer at ~11 s")
for ax in (left, right):
    ax.set_xlim(0, 13)
naive_call = naive[naive["kind"] == "call"].iloc[0]
pattern_call = pattern[pattern["kind"] == "call"].iloc[0]
assert not naive_call["ok"], "one attempt: the hang becomes the user's error"
assert naive_call["error_type"] == "timeout"
assert pattern_call["ok"], "the retry answers"
assert pattern_call["latency"] < 13, "... at about 11 s"
source(
    fig,
    f"replayed cassette openai/timeout-then-ok "
    f"(scenario {meta.provenance.scenario}, seed {meta.provenance.seed})",
)

# %% [markdown]
# A replay serves each attempt at its *recorded* time: the hang lasts 10 s because that was the
# recording's read timeout, whatever timeout you set now. To choose the timeout itself we need
# a provider we can run again with other settings: the simulator.
#
# ## 2. 300 calls against a provider where 1 request in 4 hangs
#
# Simulator scenario `healthy` plus one fault rule: 25 % of requests hang (no byte, ever; the
# server closes the connection after 600 s). 300 calls to `gpt-4o-mini`, one every 2 s.
#
# * **naive — SDK defaults**: 600 s read timeout per attempt, 3 attempts, no deadline.
# * **pattern — llmkit**: `Timeouts(read=2.5)` (above the healthy p99 printed below), 4 attempts
#   with short jittered backoff, and a **10 s deadline** for the whole call.
#
# (The shared retry budget is switched off here, `budget=False`: with 25 % of requests failing
# it would — rightly — refuse many retries; that is notebook 02's subject.)

# %%
SEED = 11
hangs = get_scenario("healthy").with_(
    name="hangs-25pct", faults=(FaultRule(Fault.HANG, rate=0.25),)
)
healthy = simulate_calls("healthy", n=300, seed=SEED, retry=False)
healthy_calls = healthy[healthy["kind"] == "call"]
print(
    "healthy latency p50/p95/p99 (s):", [round(x, 2) for x in percentiles(healthy_calls["latency"])]
)

sdk = simulate_calls(hangs, n=300, seed=SEED, timeout=600, retry=3, deadline=None, budget=False)
llmkit_way = simulate_calls(
    hangs,
    n=300,
    seed=SEED,
    timeout=Timeouts(read=2.5),
    retry=RetryPolicy(max_attempts=4, base=0.25, cap=1.0),
    deadline=10.0,
    budget=False,
)


def outcome(df: pd.DataFrame) -> dict[str, float]:
    calls = df[df["kind"] == "call"]
    p50, p95, p99 = percentiles(calls["latency"])
    return {
        "calls": len(calls),
        "succeeded": int(calls["ok"].sum()),
        "attempts": int((df["kind"] == "attempt").sum()),
        "p50_s": round(p50, 2),
        "p95_s": round(p95, 2),
        "p99_s": round(p99, 2),
        "max_s": round(float(calls["latency"].max()), 2),
        "calls_over_10s": int((calls["latency"] > 10.0).sum()),
    }


pd.DataFrame({"naive (SDK defaults)": outcome(sdk), "pattern (llmkit)": outcome(llmkit_way)}).T

# %% tags=["headline"]
fig, (left, right) = figure(2, title="25 % of requests hang: how long does each call take?")
for df, label, color in (
    (sdk, "naive: 600 s read timeout, no deadline", COLORS["naive"]),
    (llmkit_way, "pattern: 2.5 s read timeout, 10 s deadline", COLORS["pattern"]),
):
    latency_cdf(left, df[df["kind"] == "call"]["latency"], label=label, color=color)
left.set_xscale("log")
left.axvline(10, color="#555555", ls="--", lw=1)
left.text(10, 0.88, " the user's patience (10 s)", fontsize=8)
left.set_title("call latency, all 300 calls (log scale)")
left.legend(loc="lower right", fontsize=8)

bins = [0, 1, 2.5, 5, 10, 60, 600, 10_000]
labels = ["<1", "1–2.5", "2.5–5", "5–10", "10–60", "60–600", ">600"]
counts = pd.DataFrame(
    {
        name: pd.cut(df[df["kind"] == "call"]["latency"], bins, labels=labels).value_counts(
            sort=False
        )
        for name, df in (("naive", sdk), ("pattern", llmkit_way))
    }
)
counts.plot.bar(ax=right, color=[COLORS["naive"], COLORS["pattern"]], rot=0)
right.set_xlabel("call latency bucket (s)")
right.set_ylabel("calls (count)")
right.set_title("where the calls land")
source(fig, f"simulator scenario healthy + 25 % HANG rule ('hangs-25pct'), seed {SEED}, 300 calls")
for name, df in (("naive", sdk), ("pattern", llmkit_way)):
    c = df[df["kind"] == "call"]
    print(
        f"{name}: {int(c['ok'].sum())}/{len(c)} calls succeeded; "
        f"{int((c['latency'] >= 600).sum())} took 10 minutes or more "
        f"({(c['latency'] >= 600).mean():.0%}); {int((c['latency'] > 10).sum())} took over 10 s; "
        f"slowest {c['latency'].max():.1f} s"
    )
out_sdk, out_llmkit = outcome(sdk), outcome(llmkit_way)
assert abs(out_sdk["succeeded"] - out_llmkit["succeeded"]) <= 0.02 * 300, "success rates close"
assert (sdk.query("kind == 'call'")["latency"] >= 600).mean() > 0.1, "a large share waited 10 min"
assert out_sdk["calls_over_10s"] > 0 == out_llmkit["calls_over_10s"]
assert out_llmkit["max_s"] <= 10.0, "the slowest call finishes inside its deadline"

# %% [markdown]
# Success rates are close; the difference is *when* (counts printed under the chart). With SDK
# defaults every call that met a hang waited 600 s for the server to give up — some met two or
# three, and a call whose three attempts all hung still failed, after half an hour — so a large
# share of calls took ten minutes or more: in production, each of them is a worker and a
# connection held hostage. The pattern abandons a hung attempt after 2.5 s and retries; the
# slowest call printed above finishes inside its 10 s deadline.
#
# The attempt records show the deadline at work: `deadline_remaining` is what was left when the
# attempt started, `read_timeout` the timeout it actually got (shrunk near the deadline):

# %%
att = llmkit_way[llmkit_way["kind"] == "attempt"]
multi = att[att["call_id"].isin(att.loc[att["attempt"] >= 3, "call_id"])]
multi[
    [
        "call_id",
        "attempt",
        "t_s",
        "deadline_remaining",
        "read_timeout",
        "error_type",
        "retry_decision",
    ]
].head(8)

# %% [markdown]
# ## 3. Choosing the read timeout from data
#
# Too long and hung or very slow attempts eat the deadline; too short and you time out
# *healthy* requests, retry them, and fail anyway. The right value depends on your model's
# latency distribution. Simulator scenario `slow-tail` (15 % of requests are 10× slower to
# their first token) with `gpt-4o`, 300 calls per setting, 3 attempts, 20 s deadline; only the
# read timeout changes:

# %%
TAIL_SEED = 5
slow_tail = get_scenario("slow-tail")
naive_tail = simulate_calls(
    slow_tail, n=300, seed=TAIL_SEED, model="gpt-4o", retry=False, deadline=None
)
naive_p99 = percentiles(naive_tail[naive_tail["kind"] == "call"]["latency"])[2]
body = simulate_calls("healthy", n=300, seed=TAIL_SEED, model="gpt-4o", retry=False)
body_p50, _, body_p99 = percentiles(body[body["kind"] == "call"]["latency"])
READS = (1.5, 2, 3, 4, 6, 8, 12, 20, 60)
sweep = []
for read in READS:
    df = simulate_calls(
        slow_tail,
        n=300,
        seed=TAIL_SEED,
        model="gpt-4o",
        timeout=Timeouts(read=read),
        retry=3,
        deadline=20.0,
        budget=False,
    )
    calls = df[df["kind"] == "call"]
    p50, p95, p99 = percentiles(calls["latency"])
    sweep.append(
        {
            "read_timeout_s": read,
            "success_rate": calls["ok"].mean(),
            "attempts_per_call": (df["kind"] == "attempt").sum() / len(calls),
            "p50_s": p50,
            "p95_s": p95,
            "p99_s": p99,
        }
    )
sweep_df = pd.DataFrame(sweep)
good = sweep_df[sweep_df["success_rate"] >= 0.99]
best = good.loc[good["p99_s"].idxmin()]
print(f"naive (no read timeout, one attempt): p99 = {naive_p99:.1f} s")
print(f"healthy gpt-4o latency without the tail: p50 = {body_p50:.1f} s, p99 = {body_p99:.1f} s")
print(
    f"best read timeout with >= 99 % success: {best['read_timeout_s']:g} s "
    f"(p99 {best['p99_s']:.1f} s, {best['attempts_per_call']:.2f} attempts per call)"
)
inside = body_p50 <= best["read_timeout_s"] <= body_p99
print(f"it is {'inside' if inside else 'outside'} the healthy p50–p99 band")
assert inside, "the best read timeout sits inside the healthy p50–p99 band"
shortest, longest = sweep_df.iloc[0], sweep_df.iloc[-1]
assert shortest["success_rate"] < 0.5, "below the healthy body, the success rate collapses"
assert shortest["attempts_per_call"] > best["attempts_per_call"], "... and attempts are waste"
assert longest["p99_s"] > best["p99_s"], "far right, the slow tail goes into p99"
sweep_df.round(3)

# %%
fig, (left, right) = figure(
    2, title="Choosing the read timeout on a slow-tailed model (3 attempts, 20 s deadline)"
)
for ax in (left, right):
    ax.axvspan(body_p50, body_p99, color="#999999", alpha=0.15, label="healthy p50–p99")
PCT_STYLE = {  # one shade of the pattern's green, one marker and one dash per percentile
    "p50_s": (":", "v", "#98df8a"),
    "p95_s": ("--", "s", "#2ca02c"),
    "p99_s": ("-", "o", "#145a14"),
}
for col, (style, marker, color) in PCT_STYLE.items():
    left.plot(
        sweep_df["read_timeout_s"],
        sweep_df[col],
        style,
        marker=marker,
        label=f"pattern {col[:3]}",
        color=color,
    )
left.axhline(naive_p99, color=COLORS["naive"], lw=1.5, label="naive p99 (no timeout)")
left.set_ylabel("call latency (s)")
left.set_title("latency percentiles vs read timeout")
left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3)
right.plot(
    sweep_df["read_timeout_s"],
    sweep_df["success_rate"],
    marker="o",
    color=COLORS["pattern"],
    label="success rate",
)
right.set_ylim(0, 1.05)
right.set_ylabel("calls that succeeded (fraction)")
right.set_title("success rate and attempts per call")
twin = right.twinx()
twin.plot(
    sweep_df["read_timeout_s"],
    sweep_df["attempts_per_call"],
    marker="s",
    ls="--",
    color=COLORS["other"],
    label="attempts per call",
)
twin.set_ylabel("HTTP attempts per call (count)")
handles = right.get_legend_handles_labels()
more = twin.get_legend_handles_labels()
right.legend(
    handles[0] + more[0],
    handles[1] + more[1],
    loc="upper center",
    bbox_to_anchor=(0.5, -0.2),
    ncols=3,
    fontsize=8,
)
for ax in (left, right):
    ax.set_xscale("log")
    ax.set_xticks(READS, [f"{r:g}" for r in READS])
    ax.minorticks_off()
    ax.set_xlabel("per-attempt read timeout (s, log scale)")
source(
    fig,
    f"simulator scenario slow-tail (naive and sweep) and healthy (grey band), seed {TAIL_SEED}, "
    "gpt-4o, 300 calls per setting",
)

# %% [markdown]
# Read the printed numbers with the chart. Below the healthy body of the distribution (left of
# the grey band) the success rate collapses: healthy attempts time out too, and the extra
# attempts are pure cost. Far right, the timeout never fires and the slow tail goes straight
# into your p99. The best setting belongs inside the healthy p50–p99 band (the last printed
# line checks it): short enough to abandon an attempt that landed in the tail (its retry
# usually lands on a fast path), long enough to let healthy requests finish.
#
# ## Explore: move the knobs
#
# Section 2's pattern as a function of its knobs: the read timeout, the deadline, the number
# of attempts and the share of requests that hang. In JupyterLab the panel below reruns the
# 300 calls on the virtual clock and redraws the chart when you release a slider (the redraw
# time is printed); the executed copy shows the default knobs.

# %% tags=["experiment"]
from llmkit.panel import explore


def experiment(read_timeout=2.5, deadline=10.0, attempts=4, hang_rate=0.25):
    """300 calls, one every 2 s, against `healthy` with `hang_rate` of requests hanging."""
    faults = (FaultRule(Fault.HANG, rate=hang_rate),) if hang_rate > 0 else ()
    scenario = get_scenario("healthy").with_(name=f"hangs-{hang_rate:.0%}", faults=faults)
    df = simulate_calls(
        scenario,
        n=300,
        seed=11,
        timeout=Timeouts(read=read_timeout),
        retry=RetryPolicy(max_attempts=attempts, base=0.25, cap=1.0),
        deadline=deadline,
        budget=False,
    )
    calls = df[df["kind"] == "call"]
    fig, (left, right) = figure(
        2, title=f"read timeout {read_timeout:g} s, deadline {deadline:g} s, {attempts} attempts"
    )
    latency_cdf(left, calls["latency"], label="every call", color=COLORS["pattern"])
    left.axvline(deadline, color="#555555", ls="--", lw=1)
    left.text(deadline, 0.05, " deadline", fontsize=8)
    left.set_xlim(0, max(deadline, float(calls["latency"].max())) * 1.05)
    left.set_title(f"call latency: p99 {percentiles(calls['latency'])[2]:.1f} s")
    left.legend(loc="lower right", fontsize=8)
    outcome_counts = calls["error_type"].fillna("succeeded").value_counts()
    right.barh(outcome_counts.index, outcome_counts.values, color=COLORS["other"])
    right.set_xlabel("calls (count)")
    right.set_title(
        f"{int(calls['ok'].sum())}/300 succeeded; attempts {int((df['kind'] == 'attempt').sum())}"
    )
    source(fig, f"simulator scenario healthy + {hang_rate:.0%} HANG rule, seed 11, 300 calls")
    return fig


# %%
explore(
    experiment,
    read_timeout=(0.5, 10.0, 0.5),
    deadline=(2.0, 30.0, 1.0),
    attempts=(1, 6, 1),
    hang_rate=(0.0, 0.6, 0.05),
)

# %% [markdown]
# ## What to tune
#
# * **`deadline=`**: what the caller will actually wait, end to end — a chat UI 10–20 s, a
#   background job minutes. It bounds every attempt and every backoff sleep together.
# * **`Timeouts(read=...)`**: from *your* measured latency (telemetry `latency` per model),
#   around its p99 for non-streamed calls; leave room for at least two attempts inside the
#   deadline.
# * **`Timeouts(stream_idle=...)`**: for streams, the longest acceptable silence *between*
#   chunks, not the whole response; time to first token has its own distribution (`ttft`).
# * **`min_attempt=`** (default 0.25 s): an attempt with less time left is not started — the
#   call fails fast with `DeadlineExceededError` instead of sending a request that cannot
#   finish.
#
# **Pitfalls.** A per-attempt timeout without a deadline multiplies (30 s × 3 attempts + sleeps
# = 91 s). A read timeout bounds each socket read, not a whole body: a stream that trickles a
# byte every 29 s never hits a 30 s read timeout — only the deadline catches it. Long outputs
# take longer: if `max_tokens` varies a lot, set timeouts per route, not one global number.
#
# ## Exercises
#
# 1. In section 2, lower the deadline to 5 s. How many calls now fail, with which error
#    kind, and how many attempts do they make? Is a fast failure better for your product than
#    a slow success?
# 2. Re-run the sweep with `retry=False`. Where is the best read timeout now, and why does it
#    move?
# 3. Make 5 % of requests hang in `slow-tail` (`.plus(FaultRule(Fault.HANG, rate=0.05))`) and
#    redo the sweep. Which settings survive both a slow tail and hangs?
#
# ## Takeaways
#
# 1. Two numbers, not one: a short per-attempt timeout to abandon a hung attempt, and one
#    deadline for the whole call, backoff sleeps included.
# 2. Set the read timeout from measured latency: inside the healthy p50–p99 band, never
#    below the body of the distribution.
# 3. A per-attempt timeout without a deadline multiplies; the deadline is what the user
#    actually waits.
#
# **Next:** [02 · Retries, backoff and jitter](02_retries_backoff_jitter.ipynb) — what to do
# after the attempt failed.

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
