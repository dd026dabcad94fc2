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
# # 02 · Retries, backoff and jitter: don't turn a 10-second blip into a retry storm
#
# **The production failure.** The provider is overloaded for ten seconds. Two hundred workers
# of your batch job all got their `503` at the same moment, all wait "1 s, then 2 s, then 4 s"
# — the backoff from every blog post — and all come back *at the same instant*, again and
# again. Each wave lands on a provider that is trying to recover, is shed at the front door,
# and schedules the next wave. Retries meant to survive a blip keep it going. And in a longer
# outage, every client retrying every call up to five times multiplies the load exactly when the
# provider can least take it.
#
# **The pattern.**
#
# * **Exponential backoff with full jitter**: wait `U(0, min(cap, base·2^n))`, a *random*
#   share of the exponential ceiling, so clients that failed together come back spread out.
# * **A retry budget shared by every client** of a provider: retries are paid from a token
#   bucket that successes refill, so in an outage retries stop multiplying the load and calls
#   fail fast (into a fallback or a degraded answer) instead.
# * Only retry what can succeed (transient kinds), and respect `retry-after` as a floor.
#
# **Data.** Section 1 replays the committed cassettes `openai/5xx-burst` and
# `anthropic/overloaded-529`. Sections 2–3 need hundreds of concurrent clients and a provider
# whose capacity is limited, which no recording holds, so they run the in-process simulator on
# a `VirtualClock` behind a small capacity gate defined below; every chart names its scenario
# and seed. Nothing sleeps for real.

# %%
import asyncio
import collections
import contextlib
import random
import time
from dataclasses import dataclass

import httpx
import pandas as pd

from llmkit.budget import RetryBudget
from llmkit.cassettes import load_cassette
from llmkit.charts import (
    COLORS,
    attempt_rate,
    attempt_timeline,
    cassette,
    figure,
    frame,
    percentiles,
    replay_frame,
    shade,
    source,
)
from llmkit.client import AsyncClient
from llmkit.clock import VirtualClock
from llmkit.errors import LLMError
from llmkit.retry import RetryPolicy
from llmkit.sim import AsyncSimTransport, Fault, FaultRule, Simulator, get_scenario
from llmkit.telemetry import MemorySink

pd.set_option("display.width", 120)
started = time.perf_counter()

# %% [markdown]
# ## 1. Recorded bursts of 5xx and 529
#
# `openai/5xx-burst` recorded a run of 5xx failures and then a success;
# `anthropic/overloaded-529` a run of `529 overloaded_error` and then a success (the recorded
# statuses are printed below). Naive (one attempt)
# vs the pattern (the retry policy they were recorded with). The `retry_delay` column is the
# jittered wait llmkit chose after each failure:

# %%
burst = cassette("openai", "5xx-burst")
naive = replay_frame(burst, retry=False)
pattern = replay_frame(burst, retry=4)
cols = ["kind", "attempt", "t_s", "status", "error_type", "retry_decision", "retry_delay"]
print(pattern[cols].to_string(index=False))

ov = cassette("anthropic", "overloaded-529")
ov_naive, ov_pattern = replay_frame(ov, retry=False), replay_frame(ov)
print(ov_pattern[cols].to_string(index=False))
for name, df in (("openai/5xx-burst", pattern), ("anthropic/overloaded-529", ov_pattern)):
    statuses = df.loc[df["kind"] == "attempt", "status"].astype(int).tolist()
    print(f"{name}: recorded statuses {statuses}")

# %%
fig, axes = figure(2, nrows=2, title="Recorded 5xx and 529 bursts: one attempt vs retries")
for ax, df, title in (
    (axes[0], naive, "naive, openai/5xx-burst: the 500 reaches the user"),
    (axes[1], pattern, "pattern, openai/5xx-burst: 3 jittered waits, then 200"),
    (axes[2], ov_naive, "naive, anthropic/overloaded-529"),
    (axes[3], ov_pattern, "pattern, anthropic/overloaded-529"),
):
    attempt_timeline(ax, df, title=title)
    ax.set_xlim(0, max(pattern["end_s"].max(), ov_pattern["end_s"].max()) + 0.8)
provs = [load_cassette(p).meta.provenance for p in (burst, ov)]
source(
    fig,
    "replayed cassettes openai/5xx-burst and anthropic/overloaded-529 "
    f"(scenarios {provs[0].scenario}, {provs[1].scenario}; seed {provs[0].seed})",
)

# %% [markdown]
# One client, one call: any retry policy looks fine here. The difference between backoff
# schedules only shows when *many* clients fail *together* — which is exactly what an outage
# does.
#
# ## 2. Two hundred clients, one blip: fixed backoff vs full jitter
#
# **Set-up (simulator).** Scenario `healthy` with one fault rule: every request is answered
# `503 overloaded` from t = 0 s to t = 10 s. In front of it, a **capacity gate**: the provider
# accepts at most 40 requests in any one-second window and sheds the rest with an immediate 503
# (what a load balancer in front of a recovering service does). 200 workers start together at
# t = 0 (a cron job, a deploy, a queue that just drained) and each makes one call, up to 6
# attempts, base 1 s, cap 30 s. Same client, same retry layer; only the delay differs:
#
# * **naive — fixed exponential backoff**: 1, 2, 4, 8, 16 s for everyone (a subclass of
#   `RetryPolicy` that overrides `delay`: the one-method extension point);
# * **pattern — full jitter**: llmkit's default, `U(0, min(cap, base·2^n))`.


# %%
@dataclass(frozen=True, slots=True)
class FixedBackoff(RetryPolicy):
    """What most hand-written retry loops do: the same 1 s, 2 s, 4 s... for every client."""

    def delay(self, attempt: int, error: BaseException | None, rng: random.Random) -> float:
        backoff = self.backoff_ceiling(attempt)
        retry_after = error.retry_after if isinstance(error, LLMError) else None
        return backoff if retry_after is None else max(backoff, retry_after)


class CapacityGate(httpx.AsyncBaseTransport):
    """The provider's front door: at most ``per_second`` requests in any 1 s window are let
    through to the simulator; the rest are shed at once with a 503."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: VirtualClock, per_second: int):
        self.inner, self.clock, self.per_second = inner, clock, per_second
        self.admitted: collections.deque[float] = collections.deque()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        now = self.clock.now()
        while self.admitted and self.admitted[0] <= now - 1.0:
            self.admitted.popleft()
        if len(self.admitted) >= self.per_second:
            body = {"error": {"message": "The server is overloaded.", "type": "server_error"}}
            return httpx.Response(503, json=body, request=request)
        self.admitted.append(now)
        return await self.inner.handle_async_request(request)


async def fleet(
    scenario,
    *,
    policy: RetryPolicy,
    capacity: int,
    budget: RetryBudget | None = None,
    clients: int = 200,
    calls_each: int = 1,
    every_s: float = 0.0,
    seed: int = 1,
) -> pd.DataFrame:
    """``clients`` workers, each making ``calls_each`` calls ``every_s`` apart (the first at a
    random offset when ``every_s`` > 0, else all at t=0), against one shared simulator."""
    clock = VirtualClock()
    sink = MemorySink()
    sim = Simulator(scenario, clock, seed=seed)
    http = httpx.AsyncClient(transport=CapacityGate(AsyncSimTransport(sim), clock, capacity))
    origin = clock.wall()

    async def worker(i: int) -> None:
        client = AsyncClient(
            "openai",
            http_client=http,
            base_url="http://127.0.0.1/v1",
            api_key="sim-placeholder",  # the simulator wants a key; this is not a secret
            clock=clock,
            retry=policy,
            budget=budget if budget is not None else False,  # one budget shared by all
            deadline=None,
            telemetry=sink,
            seed=seed * 100_003 + i,
        )
        start = random.Random(seed * 7_919 + i).uniform(0, every_s) if every_s else 0.0
        for k in range(calls_each):
            await clock.asleep(start + k * every_s - clock.now())
            with contextlib.suppress(LLMError):  # a failure is in the telemetry
                await client.chat(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"job {i}.{k}"}],
                    max_tokens=16,
                )

    await asyncio.gather(*(worker(i) for i in range(clients)))
    await http.aclose()
    return frame(sink, origin=origin)


def run(coro):
    """Run a coroutine from a notebook cell (whose kernel already has an event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# %%
HERD_SEED = 1
blip = get_scenario("healthy").with_(
    name="blip-0-10s", faults=(FaultRule(Fault.OVERLOADED, window=(0.0, 10.0)),)
)
POLICY = {"max_attempts": 6, "base": 1.0, "cap": 30.0}
fixed = run(fleet(blip, policy=FixedBackoff(**POLICY), capacity=40, seed=HERD_SEED))
jitter = run(fleet(blip, policy=RetryPolicy(**POLICY), capacity=40, seed=HERD_SEED))


def scorecard(df: pd.DataFrame) -> dict[str, float]:
    calls = df[df["kind"] == "call"]
    att = df[df["kind"] == "attempt"]
    p50, _, p99 = percentiles(calls["latency"])
    return {
        "calls": len(calls),
        "succeeded": int(calls["ok"].sum()),
        "success_rate": round(float(calls["ok"].mean()), 3),
        "attempts": len(att),
        "attempts_per_call": round(len(att) / len(calls), 2),
        "shed_or_failed_attempts": int((~att["ok"]).sum()),
        "p50_s": round(p50, 1),
        "p99_s": round(p99, 1),
        "last_attempt_s": round(float(att["t_s"].max()), 1),
    }


pd.DataFrame({"naive: fixed backoff": scorecard(fixed), "pattern: full jitter": scorecard(jitter)})

# %%
fig, (left, right) = figure(
    2, title="200 clients after a 10 s blip: synchronized waves vs spread", sharey=True
)
horizon = max(fixed["end_s"].max(), jitter["end_s"].max()) + 1
for ax, df, color, title in (
    (left, fixed, COLORS["naive"], "naive: fixed backoff 1, 2, 4, 8, 16 s"),
    (right, jitter, COLORS["pattern"], "pattern: full jitter U(0, 2^n) s"),
):
    attempt_rate(ax, df, bin_s=0.5, until=horizon, color=color, title=title)
    shade(ax, 0, 10, "provider overloaded (0–10 s)")
    ax.axhline(40, color="#333333", ls="--", lw=1, label="capacity: 40 requests/s")
    ax.set_yscale("symlog", linthresh=50)
    ax.legend(fontsize=8, loc="upper right")
source(
    fig,
    f"simulator scenario healthy + OVERLOADED window 0–10 s ('blip-0-10s'), seed {HERD_SEED}, "
    "behind this notebook's 40 requests/s CapacityGate; 200 clients starting at t = 0",
)
for name, df in (("naive (fixed)", fixed), ("pattern (full jitter)", jitter)):
    calls, att = df[df["kind"] == "call"], df[df["kind"] == "attempt"]
    spent = int((~calls["ok"] & (calls["attempt"] == POLICY["max_attempts"])).sum())
    print(
        f"{name}: {int(calls['ok'].sum())}/{len(calls)} calls succeeded, {spent} failed after all "
        f"{POLICY['max_attempts']} attempts; {int(att['ok'].sum())}/{len(att)} attempts answered; "
        f"last attempt at t = {att['t_s'].max():.1f} s"
    )

# %% [markdown]
# With fixed backoff every wave is all 200 clients in the same instant: the gate admits 40 and
# sheds 160, who all come back together at the next step of the schedule — the blip ended at
# 10 s but the herd keeps knocking long after (the last attempt times printed under the chart),
# and calls that spend all six attempts fail. With full jitter the same retries arrive spread
# over each interval, more of them fit under the capacity line, and more calls succeed,
# sooner, with the same attempt limit (compare the `succeeded` and `p50_s` rows).
#
# (Honest caveat: this simulator's outage ends at 10 s no matter how hard it is hit, and the
# gate sheds instantly. A real overloaded service usually degrades *more* under such waves —
# so the real difference tends to be larger, not smaller.)
#
# ## 3. A 30-second outage under steady traffic: retries with and without a budget
#
# **Set-up (simulator).** 50 workers each send a call every 4 s (12.5 calls/s), for two
# minutes. The provider is overloaded from t = 40 s to t = 70 s, and its gate admits 20
# requests/s. Both runs use full jitter, 6 attempts; the pattern adds one `RetryBudget()`
# shared by all 50 clients (llmkit's defaults: a burst of 20 retries, then about one retry per
# five successes).

# %%
STORM_SEED = 2
outage = get_scenario("healthy").with_(
    name="outage-40-70s", faults=(FaultRule(Fault.OVERLOADED, window=(40.0, 70.0)),)
)
steady = {"clients": 50, "calls_each": 30, "every_s": 4.0, "capacity": 20, "seed": STORM_SEED}
no_budget = run(fleet(outage, policy=RetryPolicy(**POLICY), **steady))
budget = RetryBudget()
with_budget = run(fleet(outage, policy=RetryPolicy(**POLICY), budget=budget, **steady))


def during(df: pd.DataFrame, start: float = 40.0, end: float = 70.0) -> dict[str, float]:
    att = df[(df["kind"] == "attempt") & df["t_s"].between(start, end)]
    calls = df[(df["kind"] == "call") & df["t_s"].between(start, end)]
    return {
        "calls started in the outage": len(calls),
        "attempts sent in the outage": len(att),
        "load amplification (attempts/call)": round(len(att) / max(len(calls), 1), 2),
        "calls whose retry the budget denied (whole run)": int(
            df.loc[df["kind"] == "call", "budget_denied"].sum()
        ),
    }


pd.DataFrame(
    {
        "naive: retries, no budget": {**scorecard(no_budget), **during(no_budget)},
        "pattern: retries + shared budget": {**scorecard(with_budget), **during(with_budget)},
    }
)

# %%
fig, axes = figure(2, nrows=2, title="A 30 s outage: retry storm vs retry budget", sharex=True)
for col, (df, color, name) in enumerate(
    (
        (no_budget, COLORS["naive"], "naive: no budget"),
        (with_budget, COLORS["pattern"], "pattern: shared budget"),
    )
):
    top, bottom = axes[col], axes[col + 2]
    att = df[df["kind"] == "attempt"]
    bins = list(range(0, 131, 2))
    top.hist(
        [att.loc[att["attempt"] == 1, "t_s"], att.loc[att["attempt"] > 1, "t_s"]],
        bins=bins,
        stacked=True,
        color=["#9e9e9e", color],
        label=["first attempts", "retries"],
        weights=[[0.5] * int((att["attempt"] == 1).sum()), [0.5] * int((att["attempt"] > 1).sum())],
    )
    top.axhline(20, color="#333333", ls="--", lw=1, label="capacity: 20 requests/s")
    shade(top, 40, 70)
    top.set_ylabel("attempts started per second")
    top.set_title(f"{name}: load on the provider")
    top.legend(fontsize=8, loc="upper left")
    calls = df[df["kind"] == "call"]
    per = calls.groupby(calls["t_s"] // 5 * 5)["ok"].mean()
    bottom.plot(per.index + 2.5, per.values, marker="o", ms=3, color=color)
    shade(bottom, 40, 70)
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_ylabel("calls that succeeded (fraction)")
    bottom.set_xlabel("time since start (s), calls grouped by start in 5 s bins")
    bottom.set_title(f"{name}: success rate")
    bottom.grid(alpha=0.3)
top_max = max(axes[0].get_ylim()[1], axes[1].get_ylim()[1])
for ax in axes[:2]:
    ax.set_ylim(0, top_max)
source(
    fig,
    f"simulator scenario healthy + OVERLOADED window 40–70 s ('outage-40-70s'), seed {STORM_SEED}, "
    "behind this notebook's 20 requests/s CapacityGate; 50 clients, one call each every 4 s",
)
for name, df in (("naive", no_budget), ("pattern", with_budget)):
    att = df[df["kind"] == "attempt"]
    per_s = att.groupby(att["t_s"] // 2 * 2).size() / 2  # attempts/s in 2 s bins
    over = per_s[(per_s.index >= 70) & (per_s > steady["capacity"])]
    after = (
        f"the last 2 s bin over it starts at t = {over.index.max():.0f} s" if len(over) else "none"
    )
    print(
        f"{name}: peak {per_s.max():.0f} attempts/s ({per_s.max() / steady['capacity']:.1f}x "
        f"capacity); 2 s bins over capacity after the outage ended at 70 s: {len(over)} ({after})"
    )

# %% [markdown]
# Without a budget, every call that starts in the outage sends several attempts (the table's
# load amplification), far above the provider's capacity — and the storm outlives its cause:
# after t = 70 s, retries plus the backlog of delayed first attempts stay above capacity (the
# bins printed under the chart), so the provider is still shedding after it recovered. With the
# shared
# budget the first 20 retries go through, then retries are denied and calls fail **fast**:
# load stays at the normal level, and the moment the provider is back, first attempts succeed
# and refill the budget.
#
# Read the success rates honestly: a budget does not make more calls succeed in a hard outage
# — here it makes *fewer* succeed, because some late retries of the no-budget run land after
# the outage ends. What it buys is a provider that is not buried under retries, latency that
# stays bounded (compare `p99_s`), and a fast, typed failure your code can route to a fallback
# provider or a degraded answer (notebooks 04–06). Combine it with a fallback, not instead of
# one.
#
# ## What to tune
#
# * **`RetryPolicy(max_attempts, base, cap)`**: the ceiling doubles from `base` up to `cap`.
#   Full jitter halves the *average* wait, so for the same patience it may need one more
#   attempt than a fixed schedule; bound the total with the call's `deadline` (notebook 01).
# * **`RetryBudget(capacity, retry_cost, timeout_cost, deposit)`**: steady-state retries ≈
#   `deposit / retry_cost` of successes (20 % by default), plus a burst of
#   `capacity / retry_cost`. Share **one** budget per provider (or per provider+model) across
#   every client in the process; timeouts cost double because they hold a slot longest.
# * **`max_retry_after`** (60 s): a longer `retry-after` fails at once instead of parking the
#   call.
#
# **Pitfalls.**
# * Stacked retries multiply: SDK (`max_retries=2`) × your loop × a job runner's retry = 27
#   attempts per call. Keep exactly one retrying layer, and set `max_retries=0` on SDKs used
#   under llmkit.
# * `retry-after` re-synchronizes clients: if every client is told "retry after 5 s", they all
#   come back at +5 s. llmkit waits `max(retry_after, jittered backoff)`, which only spreads
#   them once the backoff ceiling exceeds the hint (exercise 2).
# * Retrying non-retryable errors (`401`, `insufficient_quota`, context length, content
#   filter) only burns budget and time — llmkit does not, by classification.
#
# ## Exercises
#
# 1. Add "equal jitter" (`ceiling/2 + U(0, ceiling/2)`) as another `RetryPolicy` subclass and
#    run the herd again. Where does it land between fixed and full jitter on success rate and on
#    the last attempt time?
# 2. Give the blip rule `retry_after=5.0` and re-run the herd with full jitter. Plot the attempt
#    rate: what happened to the spread, and why? What would you change?
# 3. In section 3, try `RetryBudget(capacity=50, retry_cost=1)` and
#    `RetryBudget(capacity=10, retry_cost=10)`. Plot load amplification against success rate:
#    which one would you ship for an interactive product, which for a batch job?

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
