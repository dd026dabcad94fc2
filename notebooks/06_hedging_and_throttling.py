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
# # 06 · Hedging and throttling: the slow tail and the 429 you could have seen coming
#
# **The production failures.**
#
# 1. *The tail.* Most LLM calls are quick, but say 15 % land on a slow replica and take ten
#    times longer to the first token (the simulator's `slow-tail` scenario is built that way).
#    A page that makes one call is then slow for 15 % of users; a page or an agent step that
#    makes five calls is slow for 1 − 0.85⁵ ≈ 56 % of them. A shorter
#    timeout does not help — the slow request is not failing, just late — and a retry after a
#    timeout starts the wait all over again.
# 2. *The 429 storm.* OpenAI and Anthropic say on every response how much of your rate limit
#    is left (`x-ratelimit-remaining-requests`, `anthropic-ratelimit-requests-remaining`, ...);
#    OpenRouter says it only on the 429 itself. Most clients ignore what they are told: a
#    burst of traffic sends everything at once, a third of it comes back `429`, each of those
#    waits `retry-after` and collides with the next wave — the provider counts every one of
#    them against you, and the retry budget drains.
#
# **The patterns.**
#
# * **Hedged requests** (`HedgeLayer`): if the answer is not back after a delay — a high
#   percentile of recent latencies — send the same request again and take whichever answer
#   comes first, cancelling the other. A `HedgeBudget` caps the extra load (at most `ratio` more
#   requests).
# * **Header-aware throttling** (`ThrottleLayer`): read the rate-limit headers of every
#   response, keep a local estimate of each bucket (requests and tokens, per model), and wait
#   *before* sending when the request would not fit — so the provider never has to say 429.
#
# **Data.** Section 2 opens with the committed `ratelimit-drain` cassettes of all four
# provider formats: what each one's headers really say as a limit drains. The experiments
# need what no recording can give — a latency distribution to re-time and a rate limit to
# re-shape traffic against — so they run llmkit's in-process provider simulator on a
# `VirtualClock`, with one asyncio task per call; every chart names its data source. Nothing
# sleeps for real and nothing leaves the machine.

# %%
import contextlib
import time

import numpy as np
import pandas as pd

from llmkit import AsyncClient, LLMError, MemorySink, VirtualClock
from llmkit.cassettes import load_cassette
from llmkit.charts import (
    COLORS,
    cassette,
    figure,
    frame,
    latency_cdf,
    percentiles,
    replay_frame,
    source,
)
from llmkit.hedge import HedgeBudget, HedgeLayer, HedgePolicy
from llmkit.lab import run_async
from llmkit.sim import AsyncSimTransport, RateLimits, Scenario, Simulator, get_scenario
from llmkit.throttle import ThrottleLayer

pd.set_option("display.width", 120)
started = time.perf_counter()


async def drive(scenario, *, arrivals, seed=0, layers=(), attempt_layers=(), **options):
    """One asyncio task per call, each arriving at its time on a fresh virtual clock.
    Returns the telemetry (a DataFrame) and the simulator (which counts what it received)."""
    clock = VirtualClock()
    sink = MemorySink()
    sim = Simulator(scenario, clock, seed=seed)
    client = AsyncClient(
        "openai",
        transport=AsyncSimTransport(sim),
        base_url="http://127.0.0.1/v1",
        api_key="sim-placeholder",  # the simulator wants a key; this is not a secret
        clock=clock,
        telemetry=sink,
        seed=seed,
        layers=list(layers),
        attempt_layers=list(attempt_layers),
        **options,
    )

    async def call(i: int, at: float) -> None:
        await clock.asleep(at)
        with contextlib.suppress(LLMError):  # a failure is in the telemetry
            await client.chat(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"Classify support ticket #{i}."}],
                max_tokens=48,
            )

    import asyncio

    await asyncio.gather(*(call(i, at) for i, at in enumerate(arrivals)))
    await client.aclose()
    return frame(sink, origin=clock.wall() - clock.now()), sim


# %% [markdown]
# ## 1. Hedging the slow tail
#
# Scenario `slow-tail`: a healthy provider where 15 % of requests are 10× slower to the first
# token. 1,000 calls, 5 per virtual second. Four set-ups:
#
# * **no hedging**;
# * **fixed 1 s delay**, default budget (`ratio=0.1`: at most ~10 % extra requests);
# * **p90 delay** (the 90th percentile of recent latencies once 20 are known), `ratio=0.2`;
# * **p95 delay**, `ratio=0.2`.

# %%
SLOW = get_scenario("slow-tail")
SEED = 0
ARRIVALS = [i / 5 for i in range(1000)]
SETUPS = {
    "no hedging": None,
    "hedge after 1 s (ratio 0.1)": lambda: HedgeLayer(HedgePolicy(delay=1.0)),
    "hedge at p90 (ratio 0.2)": lambda: HedgeLayer(
        HedgePolicy(delay=1.0, percentile=0.90), HedgeBudget(0.2)
    ),
    "hedge at p95 (ratio 0.2)": lambda: HedgeLayer(
        HedgePolicy(delay=1.0, percentile=0.95), HedgeBudget(0.2)
    ),
}
hedged = {}
rows = []
for name, make in SETUPS.items():
    layer = make() if make else None
    df, sim = run_async(drive(SLOW, arrivals=ARRIVALS, seed=SEED, layers=[layer] if layer else []))
    calls = df[df["kind"] == "call"]
    hedged[name] = calls
    p50, p95, p99 = percentiles(calls["latency"])
    rows.append(
        {
            "set-up": name,
            "p50 (s)": p50,
            "p95 (s)": p95,
            "p99 (s)": p99,
            "max (s)": calls["latency"].max(),
            "succeeded": calls["ok"].mean(),
            "hedges sent": layer.budget.hedges if layer else 0,
            "requests per call": sim.requests / len(calls),
        }
    )
hedge_table = pd.DataFrame(rows).set_index("set-up")
base = hedge_table.loc["no hedging"]
for name, row in hedge_table.drop(index="no hedging").iterrows():
    print(
        f"{name}: p50 {row['p50 (s)']:.2f} s (vs {base['p50 (s)']:.2f}), "
        f"p95 {row['p95 (s)']:.2f} s (vs {base['p95 (s)']:.2f}), "
        f"p99 {row['p99 (s)']:.2f} s (vs {base['p99 (s)']:.2f}); "
        f"{row['hedges sent']:.0f} hedges = +{row['requests per call'] - 1:.0%} requests"
    )
p50s = hedge_table["p50 (s)"]
assert (abs(p50s - base["p50 (s)"]) < 0.05 * base["p50 (s)"]).all(), "the median does not move"
fixed_1s = hedge_table.loc["hedge after 1 s (ratio 0.1)"]
assert fixed_1s["hedges sent"] <= 0.1 * len(ARRIVALS) + 1, "the 10 % budget caps the hedges"
for name in ("hedge at p90 (ratio 0.2)", "hedge at p95 (ratio 0.2)"):
    assert hedge_table.loc[name, "p95 (s)"] < fixed_1s["p95 (s)"] < base["p95 (s)"], name
    assert hedge_table.loc[name, "p99 (s)"] < fixed_1s["p99 (s)"] < base["p99 (s)"], name
assert (hedge_table["p99 (s)"] > 2 * p50s).all(), "p99 does not reach the median"
hedge_table.round(3)

# %% [markdown]
# `requests per call` is counted by the simulator — what the provider actually received,
# losers included. (The losing attempt of a hedge is cancelled mid-flight, so it leaves no
# attempt record of its own; the layer's own counter, `hedges sent`, agrees with the
# simulator's.)

# %% tags=["headline"]
HEDGE_COLORS = [COLORS["naive"], COLORS["extra"], COLORS["pattern"], COLORS["other"]]
fig, (bars, cdf) = figure(2, title="1,000 calls with a slow tail: hedging", width=6.4)
hedge_table[["p50 (s)", "p95 (s)", "p99 (s)"]].T.plot.bar(ax=bars, color=HEDGE_COLORS, rot=0)
bars.set_ylabel("call latency (s, virtual)")
bars.set_xlabel("percentile")
bars.set_title("tail latency: p50 / p95 / p99")
bars.legend(fontsize=8)
bars.grid(axis="y", alpha=0.3)
for (name, calls), color in zip(hedged.items(), HEDGE_COLORS, strict=True):
    extra = hedge_table.loc[name, "requests per call"] - 1
    latency_cdf(cdf, calls["latency"], label=f"{name}: +{extra:.0%} requests", color=color)
cdf.set_xscale("log")
cdf.set_ylim(0.8, 1.001)
cdf.set_xlabel("call latency (s, virtual, log scale)")
cdf.set_title("the slowest 20 % of calls")
cdf.legend(fontsize=8, loc="lower right")
source(fig, f"simulator scenario 'slow-tail' ({SLOW.description}), seed {SEED}")

# %% [markdown]
# The median does not move — hedging is for the tail (figures printed above the table). With a
# fixed 1 s delay and a 10 % budget, the budget runs out before the tail does: the hedges sent
# hit the cap of about one per ten calls while 15 % of calls are slow. An adaptive delay at p90
# with room for 20 % extra requests cuts p95 and p99 much more, for the extra requests printed.
# p99 does not reach the median: when the hedge lands in the slow tail too (15 % of 15 %),
# both are late.
#
# ## 2. What the rate-limit headers say: four recorded drains
#
# Each `ratelimit-drain` cassette recorded 12 calls a second apart against a limit of 5
# requests per minute, in one provider's wire format. Below, the first twelve responses' status
# and the *remaining requests* header each carried ("—": no such header), then the same cassettes
# replayed through llmkit with the retry policy they were recorded with:

# %%
REMAINING = {
    "openai": "x-ratelimit-remaining-requests",
    "openai-responses": "x-ratelimit-remaining-requests",
    "anthropic": "anthropic-ratelimit-requests-remaining",
    "openrouter": "x-ratelimit-remaining",
}
said, replays = {}, {}
for group, header in REMAINING.items():
    path = cassette(group, "ratelimit-drain")
    said[group] = [
        (x["response"]["status"]["code"], x["response"]["headers"].get(header, [None])[0])
        for x in load_cassette(path).interactions
    ]
    replays[group] = replay_frame(path)
drain = pd.DataFrame(
    {
        g: [f"{code} · {left if left is not None else '—'}" for code, left in rows]
        for g, rows in said.items()
    }
)
drain.index.name = "response #"
for group, df in replays.items():
    att, calls = df[df["kind"] == "attempt"], df[df["kind"] == "call"]
    refused = att[att["status"] == 429]
    print(
        f"{group}: {int(calls['ok'].sum())}/{len(calls)} calls served; {len(refused)} × 429, "
        f"all classified {set(refused['error_type'])} with a retry_after: "
        f"{bool(refused['retry_after'].notna().all())}"
    )
    assert set(refused["error_type"]) == {"rate_limit"}
    assert refused["retry_after"].notna().all()
for group in ("openai", "openai-responses", "anthropic"):
    assert all(left is not None for _, left in said[group]), f"{group}: on every response"
assert all(left is None for code, left in said["openrouter"] if code == 200), "not on a 200"
assert all(left is not None for code, left in said["openrouter"] if code == 429), "on 429s"
drain.head(12).T

# %% [markdown]
# OpenAI (both APIs) and Anthropic count down on every response, so a client can see the
# limit coming and slow down before the first 429. OpenRouter sends its `x-ratelimit-*`
# headers only *with* the 429: a throttle learns its limit from the first refusal, not before
# it. Every 429 carries a `retry-after` and llmkit classifies it as `rate_limit` (retryable).
#
# ## 3. Throttling before the 429
#
# A simulated provider with a limit of **60 requests per minute**, modelled as a token bucket
# of 60 that refills at one per second — the continuous bucket OpenAI and Anthropic describe,
# with the whole minute's allowance available at once. (Both also document that a per-minute
# limit may be enforced over shorter intervals — 60,000 requests/min as 1,000 per second —
# so a real burst of 60 can be refused; section 3b models that.) Traffic is bursty: four
# bursts of 90 calls, each spread over 15 s, two minutes apart — 45 calls a minute on average,
# well under the limit, but each burst is 50 % more than the bucket holds. Both set-ups retry
# (3 attempts, `retry-after` honoured, the default retry budget); the pattern adds
# `ThrottleLayer()` in `attempt_layers=`.

# %%
LIMITED = Scenario(
    "bursty-60rpm",
    "60 requests/min (bucket of 60, refilling 1/s), honest rate-limit headers and 429s",
    limits=RateLimits(requests_per_minute=60, tokens_per_minute=1_000_000),
)
BURSTS = [burst * 120.0 + k / 6 for burst in range(4) for k in range(90)]
throttled = {}
for name, layers in (("naive: retry only", []), ("pattern: retry + ThrottleLayer", None)):
    attempt_layers = layers if layers is not None else [ThrottleLayer()]
    df, sim = run_async(
        drive(LIMITED, arrivals=BURSTS, seed=SEED, attempt_layers=attempt_layers, deadline=60.0)
    )
    throttled[name] = (df, sim)

rows = []
for name, (df, sim) in throttled.items():
    calls, att = df[df["kind"] == "call"], df[df["kind"] == "attempt"]
    p50, p95, p99 = percentiles(calls["latency"])
    rows.append(
        {
            "set-up": name,
            "429s received": int((att["status"] == 429).sum()),
            "HTTP attempts": len(att),
            "calls failed": int((~calls["ok"]).sum()),
            "retries denied by budget": int(att["budget_denied"].sum()),
            "p50 (s)": p50,
            "p95 (s)": p95,
            "p99 (s)": p99,
        }
    )
    assert sim.outcomes["429"] == int((att["status"] == 429).sum())  # telemetry == provider
throttle_table = pd.DataFrame(rows).set_index("set-up")
naive_row, throttle_row = throttle_table.iloc[0], throttle_table.iloc[1]
assert throttle_row["429s received"] < naive_row["429s received"] / 5, "far fewer 429s"
assert throttle_row["calls failed"] < naive_row["calls failed"], "... and failures"
assert throttle_row["p95 (s)"] > 3 * naive_row["p95 (s)"], "paid for in latency"
for name, row in throttle_table.iterrows():
    print(
        f"{name}: {row['429s received']:.0f} × 429 in {row['HTTP attempts']:.0f} attempts, "
        f"{row['calls failed']:.0f} of {len(BURSTS)} calls failed, p95 {row['p95 (s)']:.1f} s, "
        f"p99 {row['p99 (s)']:.1f} s"
    )
throttle_table.round(2)

# %%
ZOOM = (120.0, 160.0)  # the second burst: the throttle has learned the bucket by then
per_burst = pd.DataFrame(
    {
        name: df[(df["kind"] == "attempt") & (df["status"] == 429)]
        .groupby(df["t_s"] // 120 * 120)
        .size()
        .reindex([0.0, 120.0, 240.0, 360.0], fill_value=0)
        for name, (df, _) in throttled.items()
    }
)
per_burst.index = [f"burst at {int(t)} s" for t in per_burst.index]
print("429s per burst:\n" + per_burst.to_string())
fig, axes = figure(2, title="One burst of 90 calls against 60 requests/min (zoom)", sharey=True)
for ax, (name, (df, _)) in zip(axes, throttled.items(), strict=True):
    att = df[(df["kind"] == "attempt") & df["t_s"].between(*ZOOM, inclusive="left")]
    bins = np.arange(ZOOM[0], ZOOM[1] + 1, 1.0)
    ok, _ = np.histogram(att.loc[att["status"] == 200, "t_s"], bins=bins)
    refused, _ = np.histogram(att.loc[att["status"] == 429, "t_s"], bins=bins)
    ax.bar(bins[:-1], ok, width=1, align="edge", color=COLORS["pattern"], label="200 OK")
    ax.bar(
        bins[:-1], refused, width=1, align="edge", bottom=ok, color=COLORS["naive"],
        label="429 rate limited",
    )  # fmt: skip
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="refill rate (1/s)")
    ax.axvspan(ZOOM[0], ZOOM[0] + 15, color="#999999", alpha=0.15, label="calls arriving")
    ax.set_xlabel(f"time (s, virtual; 1 s bins; the burst at {ZOOM[0]:g} s)")
    ax.set_ylabel("attempts sent per second")
    ax.set_title(f"{name}: {int((att['status'] == 429).sum())} × 429 in this burst")
    ax.grid(axis="y", alpha=0.3)
axes[0].legend(fontsize=8)
source(
    fig,
    f"simulator scenario {LIMITED.name!r} ({LIMITED.description}), seed {SEED}; "
    "the other three bursts are alike (429s per burst printed above)",
)

# %%
fig, (cum, cdf) = figure(2, title="What throttling costs and buys")
for (name, (df, _)), color in zip(
    throttled.items(), [COLORS["naive"], COLORS["pattern"]], strict=True
):
    att = df[df["kind"] == "attempt"].sort_values("t_s")
    cum.plot(att["t_s"], (att["status"] == 429).cumsum(), color=color, label=name)
    calls = df.query("kind == 'call'")
    served = np.sort(calls.loc[calls["ok"], "latency"].to_numpy())
    share = np.arange(1, len(served) + 1) / len(calls)  # of *all* calls: failures never arrive
    failed = len(calls) - len(served)
    label = f"{name}: {failed} of {len(calls)} failed (curve stops at {share[-1]:.0%})"
    cdf.step(served, share, where="post", color=color, label=label)
cum.set_xlabel("time (s, virtual)")
cum.set_ylabel("429s received, cumulative (count)")
cum.set_title("429s the provider had to send")
cum.legend(fontsize=8)
cum.grid(alpha=0.3)
cdf.set_xlabel("call latency (s, virtual)")
cdf.set_ylabel("fraction of all calls served within x")
cdf.set_ylim(0, 1.02)
cdf.grid(alpha=0.3)
cdf.set_title("latency: throttling waits instead of failing")
cdf.legend(fontsize=8, loc="lower right")
source(fig, f"simulator scenario {LIMITED.name!r} ({LIMITED.description}), seed {SEED}")

# %% [markdown]
# Without throttling, each burst empties the bucket and every call beyond it is refused, waits
# its `retry-after` and collides with the others: many 429s, and the calls whose retries ran
# out (or were denied by the retry budget) fail. With the throttle, the limiter learns the
# bucket from the headers and holds calls back until the bucket can take them: far fewer 429s
# and failures (printed above the table) — paid for in latency: a held-back call waits until
# the bucket has refilled enough for it, which for the last calls of a burst is many times the
# provider's own latency (the p95/p99 columns). The few
# 429s left are the blind spots: the throttle only knows what the last response said, so
# requests already in flight before it learned are sent anyway. The latency chart counts a
# call only when it was *served*: naive's failures are fast (they gave up), and drawing their
# latency with the successes would make the naive set-up look quicker than it is; instead
# its curve stops short of 100 % by the share of calls that never got an answer.
#
# ### 3b. When the minute is enforced per second
#
# The same first burst against the same 60 requests/min, but enforced as the providers warn
# it may be: over 1 s intervals, so at most one request per second however full the minute
# looks (`RateLimits(..., burst_interval_s=1.0)`; the headers still describe the minute).

# %%
PER_SECOND = Scenario(
    "bursty-60rpm-per-second",
    "60 requests/min enforced over 1 s intervals; headers describe the minute",
    limits=RateLimits(requests_per_minute=60, tokens_per_minute=1_000_000, burst_interval_s=1.0),
)
FIRST = [t for t in BURSTS if t < 120]
quantized = {}
for name, attempt_layers in (("naive: retry only", []), ("pattern: retry + ThrottleLayer", None)):
    df, _ = run_async(
        drive(
            PER_SECOND,
            arrivals=FIRST,
            seed=SEED,
            attempt_layers=attempt_layers if attempt_layers is not None else [ThrottleLayer()],
            deadline=60.0,
        )
    )
    att = df[df["kind"] == "attempt"]
    quantized[name] = {
        "429s, per-minute limit (first burst)": int(per_burst.loc["burst at 0 s", name]),
        "429s, per-second enforcement": int((att["status"] == 429).sum()),
        "calls failed, per-second enforcement": int((~df.query("kind == 'call'")["ok"]).sum()),
    }
quantized = pd.DataFrame(quantized).T
throttled_q = quantized.loc["pattern: retry + ThrottleLayer"]
q_429 = throttled_q["429s, per-second enforcement"]
assert q_429 > 2 * throttled_q["429s, per-minute limit (first burst)"], "invisible in headers"
failed_q = quantized["calls failed, per-second enforcement"]
assert failed_q.iloc[1] >= 0.8 * failed_q.iloc[0], "the throttle saves (almost) nobody here"
quantized

# %% [markdown]
# With the limit enforced per second, the throttle meets many more 429s and fails about as
# many calls as no throttle at all: the headers say the minute still has room, so it sends,
# and the provider refuses. No header-reading client can
# see such a quantum coming. If your provider enforces short intervals, *pace* bursts
# (spread a burst at the per-second rate before sending) and keep retries with `retry-after`
# for what slips through; the rest of this notebook models the plain per-minute bucket.
#
# ## Explore: move the knobs
#
# Section 1's hedging as a function of its knobs: the percentile the delay is taken at, the
# hedge budget's ratio and the share of slow requests. The panel reruns the 1,000 calls on the
# virtual clock when you release a knob and prints the redraw time; the executed copy shows
# the default knobs.

# %% tags=["experiment"]
from llmkit.panel import explore


def experiment(percentile=0.9, ratio=0.2, slow_share=0.15):
    """1,000 calls, 5 per virtual second, against `slow-tail` with `slow_share` 10x slower."""
    base = get_scenario("slow-tail")
    scenario = base.with_(latency=base.latency.with_tail(slow_share, 10.0))
    layer = HedgeLayer(HedgePolicy(delay=1.0, percentile=percentile), HedgeBudget(ratio))
    arrivals = [i / 5 for i in range(1000)]
    df, sim = run_async(drive(scenario, arrivals=arrivals, seed=0, layers=[layer]))
    calls = df[df["kind"] == "call"]
    p50, p95, p99 = percentiles(calls["latency"])
    fig, (ax,) = figure(
        1,
        width=10,
        title=f"hedge at p{percentile * 100:g}, ratio {ratio:g}, {slow_share:.0%} slow: "
        f"p50 {p50:.2f} s, p95 {p95:.2f} s, p99 {p99:.2f} s, "
        f"+{sim.requests / len(calls) - 1:.0%} requests",
    )
    latency_cdf(ax, calls["latency"], label="hedged calls", color=COLORS["pattern"])
    ax.set_xscale("log")
    ax.set_ylim(0.5, 1.001)
    ax.set_xlabel("call latency (s, virtual, log scale)")
    ax.legend(fontsize=8, loc="lower right")
    source(fig, f"simulator scenario 'slow-tail' with {slow_share:.0%} slow requests, seed 0")
    return fig


# %%
explore(
    experiment, percentile=(0.5, 0.99, 0.01), ratio=(0.05, 1.0, 0.05), slow_share=(0.0, 0.5, 0.05)
)

# %% [markdown]
# ## What to tune
#
# **Hedging** (`HedgeLayer(policy, budget, target=None)`):
# * `HedgePolicy(percentile=0.9..0.95, min_samples, delay, min_delay, max_delay)`: hedge at a
#   high percentile of *recent* latencies per model; the fixed `delay` is the fallback until
#   `min_samples` are seen. Too early doubles your traffic; too late saves nothing.
# * `HedgeBudget(ratio)`: the most extra load you accept (10 % by default). Watch `hedges` vs
#   calls; if the budget binds all the time, the tail is bigger than your ratio.
# * `target=`: hedge to another replica, region or provider instead of the same one.
# * Hedge only idempotent, cheap calls. A cancelled request may still be billed for the
#   tokens it generated; streaming hedges pay for both until one is cancelled.
#
# **Throttling** (`ThrottleLayer(ThrottlePolicy(...))`):
# * `reserve_requests` / `reserve_tokens_fraction`: keep some of the bucket in hand for other
#   processes sharing the same API key (the headers count *all* of them).
# * `max_wait`: the longest a call may be held back, in total. A wait the throttle knows would
#   go past it, or past the call's deadline, is not begun: the call fails at once with a
#   `RateLimitError` carrying that wait as `retry_after` (nothing sent, no deadline slept away),
#   so a fallback can move on or the caller can shed the work.
# * `refill="continuous"` (how OpenAI and Anthropic describe their limits) or `"window"`.
# * Share **one** `ThrottleLayer` between every client of the same key in a process; across
#   processes, the headers still keep each of them honest, with a delay.
#
# **Pitfalls.**
# * Hedging a provider that is *overloaded* (not just slow) makes it worse: hedge on latency,
#   shed on errors (notebook 04's breaker).
# * The first burst after a start goes in blind: no response has reported the bucket yet.
# * Token limits bite before request limits on long prompts: the throttle estimates tokens
#   as characters / 4 plus `max_tokens` — set `max_tokens`.
#
# ## Exercises
#
# 1. Hedge at p99 instead of p90 (`percentile=0.99`). What happens to p95, p99 and the extra
#    requests? Which would you ship for a chat UI, which for a batch job?
# 2. Make 30 % of requests slow: `SLOW.with_(latency=SLOW.latency.with_tail(0.3, 10.0))`. Find
#    the smallest `ratio` that still brings p95 under 2 s.
# 3. Give the throttle `ThrottlePolicy(reserve_requests=10)` and re-run the bursts. How many
#    429s are left, and what did it cost in p95 latency?
# 4. Make the bursts 200 calls each (more than three minutes of the limit). Where do the
#    calls fail now, with and without the throttle, and why can no client-side pattern save
#    them?
#
# ## Takeaways
#
# 1. Hedge the tail, not the median: an adaptive delay (p90–p95 of recent latencies) with a
#    hedge budget cuts p95/p99 for a bounded share of extra requests.
# 2. Read the rate-limit headers and wait before the 429 — where the provider sends them on
#    every response (OpenAI, Anthropic); OpenRouter's arrive only with the 429.
# 3. Throttling trades refusals for waiting, and cannot see a sub-minute quantum: pace bursts
#    and keep honest retries for what slips through.
#
# **Next:** back to [00 · Quickstart](00_quickstart.ipynb), or the README's list of notebooks.

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
