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
# # 05 · Caching: stop paying twice for the same answer
#
# **The production failure.** A support bot, a ticket classifier, an eval suite re-run after
# every deploy: the same prompts come back again and again, and each time you pay the full
# input and output tokens and make the user wait the full latency for an answer you already
# had. The usual fixes go wrong in their own ways: a cache keyed on the whole request body
# never hits (it includes a `user` id or request metadata that change every call); a cache
# that stores whatever came back serves a truncated answer or an error for an hour; a cache
# of sampled (`temperature > 0`) answers freezes one sample forever; and an
# in-process cache is empty again after every deploy.
#
# **The pattern** (`llmkit.cache.CacheLayer`):
#
# * a **key** from what determines the answer — provider, model, messages, parameters, tools —
#   and nothing else (`stream`, tags and volatile fields such as `user` are left out);
# * only requests that ask for the model's **most likely answer** (temperature 0) by default;
#   others opt in explicitly. Temperature 0 is *not* fully deterministic — OpenAI and
#   Anthropic both document that outputs can still vary slightly between identical calls
#   (batching, hardware, model updates). "Deterministic enough to cache" means the caller
#   asked for no sampling and would accept any answer the model gives at temperature 0 as
#   *the* answer: the cache freezes one of them for its TTL, which is what such a caller
#   wanted anyway;
# * only **complete, successful** answers are stored (no errors, no content-filter stops,
#   no degraded answers);
# * a **backend** that fits the deployment: `MemoryCache` (one process), `SQLiteCache` (one
#   machine, survives restarts), `RedisCache` (shared);
# * **stats** (hits, tokens, latency and dollars saved) and a `cache_hit` flag on every
#   telemetry record.
#
# **Data.** Sections 1–3 replay the committed cassette `openai/repeated-prompt` (24 calls over
# 4 distinct prompts, recorded from the simulator). Section 4 needs a long workload and cache
# sizes a recording cannot vary, so it runs the in-process simulator on a `VirtualClock`.
# Every chart names its data source. The SQLite file lives in a temporary directory.

# %%
import contextlib
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from llmkit import (
    ChatRequest,
    ChatResponse,
    Client,
    LLMError,
    MemorySink,
    Message,
    PriceBook,
    Usage,
    VirtualClock,
)
from llmkit.cache import CacheLayer, MemoryCache, SQLiteCache, cache_key
from llmkit.cassettes import load_cassette
from llmkit.charts import COLORS, cassette, figure, frame, replay_frame, source
from llmkit.sim import SimTransport, Simulator, get_scenario

pd.set_option("display.width", 120)
started = time.perf_counter()
workdir = tempfile.TemporaryDirectory(prefix="llmkit-nb05-")

# %% [markdown]
# ## 1. The workload, replayed without and with a cache
#
# The cassette's 24 requests carry no `temperature`, so by llmkit's default they are *not*
# cacheable (a sampled answer is not "the" answer). This workload is a FAQ bot where any good
# answer will do, so we opt in: `CacheLayer(..., opt_in=True)`. (Per call, the tag
# `cache="on"`/`"off"` does the same.)

# %%
PATH = cassette("openai", "repeated-prompt")
meta = load_cassette(PATH).meta
DATA = (
    f"replayed cassette openai/repeated-prompt (scenario {meta.provenance.scenario}, "
    f"seed {meta.provenance.seed})"
)
print(meta.notes["description"], "|", meta.provenance)

naive = replay_frame(PATH)
memory = CacheLayer(MemoryCache(), opt_in=True, pricer=PriceBook())  # prices: genai-prices
pattern = replay_frame(PATH, layers=[memory])


def per_call(naive: pd.DataFrame, pattern: pd.DataFrame) -> pd.DataFrame:
    """One row per call (in call order): what the provider took without the cache, and
    whether the cache answered it."""
    n = naive[naive["kind"] == "call"].reset_index(drop=True)
    p = pattern[pattern["kind"] == "call"].reset_index(drop=True)
    tokens = (n["input_tokens"] + n["output_tokens"]).astype(int)
    hit = p["cache_hit"].eq(True)
    return pd.DataFrame(
        {
            "t_s": n["t_s"],
            "prompt": n["fingerprint"].str[:8],
            "complete": ~n["finish_reasons"].apply(lambda r: "length" in (r or ())),
            "hit": hit,
            "tokens_naive": tokens,
            "tokens_pattern": tokens.where(~hit, 0),
            "latency_naive": n["latency"],
            "latency_saved": n["latency"].where(hit, 0.0),
        }
    )


calls = per_call(naive, pattern)
calls.head(10)

# %% [markdown]
# `latency_saved` is what the provider took for *that* call in the recording, which a hit did
# not wait for. One prompt's answer is cut at `max_tokens` (`finish_reason=length`): the cache
# stores only complete answers (a truncated answer or a refusal is not "the" answer;
# `CacheLayer(..., store_incomplete=True)` opts in), so every call of that prompt misses.
# (A replay serves every request at its recorded time, so a miss that arrives
# earlier than in the recording waits for it; that is why we measure savings against the
# recording, not against the miss latencies of the cached run.)
#
# ## 2. Hit rate, tokens and latency saved
#
# Tokens billed are read from the **attempt** records — what was actually sent — not from the
# call records (a hit's call record shows the usage of the answer it served, which nobody paid
# for this time).


# %%
def billed(df: pd.DataFrame) -> int:
    att = df[df["kind"] == "attempt"]
    return int((att["input_tokens"].fillna(0) + att["output_tokens"].fillna(0)).sum())


stats = memory.stats
table = pd.DataFrame(
    {
        "calls": [len(calls), len(calls)],
        "HTTP attempts": [
            int((naive["kind"] == "attempt").sum()),
            int((pattern["kind"] == "attempt").sum()),
        ],
        "hit rate": [0.0, calls["hit"].mean()],
        "tokens billed": [billed(naive), billed(pattern)],
        "provider latency waited (s)": [
            calls["latency_naive"].sum(),
            calls["latency_naive"].sum() - calls["latency_saved"].sum(),
        ],
    },
    index=["naive: no cache", "pattern: MemoryCache"],
)
print(f"cache stats: {stats}")
saved_tokens = billed(naive) - billed(pattern)
saved_s = calls["latency_saved"].sum()
print(f"tokens saved: {saved_tokens} by the telemetry, {stats.tokens_saved} by the cache's stats")
print(
    f"latency saved: {saved_s:.2f} s by the recording, {stats.latency_saved:.2f} s by the "
    "cache's own estimate (the latency of the answer when it was first fetched)"
)
truncated = calls[~calls["complete"]]
print(
    f"{len(truncated)} calls of {truncated['prompt'].nunique()} prompt(s) were cut at max_tokens "
    "(finish_reason=length): never stored, so each of them went to the provider"
)
assert stats.misses == calls[calls["complete"]]["prompt"].nunique() + len(truncated), (
    "only the first call of each complete answer misses; a truncated answer is never stored"
)
assert saved_tokens == stats.tokens_saved, "telemetry and the cache's stats agree"
assert billed(pattern) < billed(naive)
dollars_naive = naive.loc[naive["kind"] == "attempt", "cost"].sum()
dollars_pattern = pattern.loc[pattern["kind"] == "attempt", "cost"].sum()
print(
    f"dollars saved: ${dollars_naive - dollars_pattern:.6f} by the telemetry's cost column, "
    f"${stats.cost_saved:.6f} by the cache's stats ({stats.unpriced_hits} hits unpriced)"
)
assert stats.cost_saved is not None
assert stats.cost_saved > 0
table.round(3)

# %%
fig, (cum, lat) = figure(
    2, title=f"{len(calls)} calls over {calls['prompt'].nunique()} prompts: what the cache saved"
)
x = np.arange(1, len(calls) + 1)
cum.plot(x, calls["tokens_naive"].cumsum(), color=COLORS["naive"], label="naive: no cache")
cum.plot(x, calls["tokens_pattern"].cumsum(), color=COLORS["pattern"], label="pattern: cache")
cum.fill_between(
    x,
    calls["tokens_pattern"].cumsum(),
    calls["tokens_naive"].cumsum(),
    color=COLORS["pattern"],
    alpha=0.15,
    label="tokens saved",
)
cum.set_xlabel("call number")
cum.set_ylabel("tokens billed, cumulative (count)")
cum.set_title("cumulative tokens billed")
cum.legend(fontsize=8)
cum.grid(alpha=0.3)
lat.plot(
    x,
    calls["latency_saved"].cumsum(),
    color=COLORS["pattern"],
    drawstyle="steps-post",
    label="latency saved (s)",
)
lat2 = lat.twinx()
lat2.plot(x, calls["hit"].cumsum() / x, color=COLORS["other"], label="hit rate so far")
lat.set_ylim(0, calls["latency_saved"].sum() * 1.05)  # both axes start at 0 on one line
lat2.set_ylim(0, 1.05)
lat2.set_ylabel("hit rate so far (fraction)")
lat.set_xlabel("call number")
lat.set_ylabel("provider latency saved, cumulative (s)")
lat.set_title("cumulative savings curve")
lat.grid(alpha=0.3)
lat.legend(loc="upper left", fontsize=8)
lat2.legend(loc="lower right", fontsize=8)
source(fig, DATA)

# %% [markdown]
# The first call of each prompt is a miss (the `misses` in the cache stats above); every later
# one is answered from the cache in microseconds. The savings grow linearly with repetition —
# the hit rate on a real workload is set by how often the *same normalized request* comes back,
# which is why the key matters:


# %%
def ask(**extra) -> ChatRequest:
    return ChatRequest(
        "gpt-4o-mini", (Message("user", "Reset my password?"),), temperature=0, extra=extra
    )


same = cache_key(ask(user="alice"), "openai") == cache_key(ask(user="bob"), "openai")
differs = cache_key(ask(seed=1), "openai") != cache_key(ask(seed=2), "openai")
print(f"`user` left out of the key (alice and bob share the answer): {same}")
print(f"`seed` part of the key (it can change the answer): {differs}")

# %% [markdown]
# ## 3. Memory vs SQLite: the same hits, until you restart
#
# Same workload, two backends, replayed twice — "day 1", then "day 2" after a deploy restarted
# the process. A `MemoryCache` is born empty in the new process; a `SQLiteCache` reads the same
# file (here in a temporary directory) and starts warm.

# %%
db_path = Path(workdir.name) / "llmkit-cache.sqlite"
rows = []
day_frames = {}
for backend in ("MemoryCache", "SQLiteCache"):
    for day in ("day 1", "day 2 (after a restart)"):
        store = MemoryCache() if backend == "MemoryCache" else SQLiteCache(db_path)
        layer = CacheLayer(store, opt_in=True)
        df = replay_frame(PATH, layers=[layer])
        store.close()
        day_frames[(backend, day)] = df
        s = layer.stats
        rows.append(
            {
                "backend": backend,
                "day": day,
                "hits": s.hits,
                "misses": s.misses,
                "hit rate": s.hit_rate,
                "tokens billed": billed(df),
                "HTTP attempts": int((df["kind"] == "attempt").sum()),
            }
        )
restarts = pd.DataFrame(rows).set_index(["backend", "day"])
day_rate = restarts["hit rate"]
DAY2 = "day 2 (after a restart)"
assert day_rate["SQLiteCache", DAY2] > day_rate["MemoryCache", DAY2], "SQLite starts warm"
assert day_rate["MemoryCache", DAY2] == day_rate["MemoryCache", "day 1"], "memory is born empty"
print(f"SQLite file: {db_path.name}, {db_path.stat().st_size / 1024:.0f} KiB")
restarts

# %% [markdown]
# What does a lookup cost? Measured now, on this machine, in *real* time (the only real-time
# figure in this notebook). Most of it is decoding the JSON entry, so memory and SQLite are
# close; either is orders of magnitude shorter than the provider latency it replaces (from the
# recording; the ratio is printed below).


# %%
def lookup_us(store, n: int = 2000) -> float:
    layer = CacheLayer(store, opt_in=True)
    clock = VirtualClock()
    keys = [layer.key(ask(i=i), "openai") for i in range(50)]
    answer = ChatResponse("ok", "gpt-4o-mini", "openai", Usage(10, 20), finish_reason="stop")
    for k in keys:
        layer.store(k, answer, clock)
    t = time.perf_counter()
    for i in range(n):
        layer.lookup(keys[i % len(keys)])
    return (time.perf_counter() - t) / n * 1e6


cost = pd.Series(
    {
        "MemoryCache lookup (µs)": lookup_us(MemoryCache()),
        "SQLiteCache lookup (µs)": lookup_us(SQLiteCache(Path(workdir.name) / "timing.sqlite")),
        "provider latency, median (µs)": float(calls["latency_naive"].median() * 1e6),
    }
).round(1)
print(f"a SQLite hit is {cost.iloc[2] / cost.iloc[1]:,.0f}x faster than asking the provider")
assert cost.iloc[2] > 100 * max(cost.iloc[0], cost.iloc[1]), "orders of magnitude shorter"
cost

# %%
fig, (hits_ax, cost_ax) = figure(2, title="Memory vs SQLite over a restart")
pivot = restarts["hit rate"].unstack("day")
pivot.plot.bar(ax=hits_ax, color=[COLORS["other"], COLORS["pattern"]], rot=0)
hits_ax.set_ylim(0, 1.05)
hits_ax.set_ylabel("hit rate (fraction)")
hits_ax.set_xlabel("")
hits_ax.set_title("hit rate, day 1 vs day 2 after a restart")
hits_ax.legend(fontsize=8, loc="lower right")
restarts["tokens billed"].unstack("day").plot.bar(
    ax=cost_ax, color=[COLORS["other"], COLORS["pattern"]], rot=0
)
cost_ax.set_ylabel("tokens billed (count)")
cost_ax.set_xlabel("")
cost_ax.set_title("tokens billed per day")
for ax in (hits_ax, cost_ax):
    for bars in ax.containers:
        ax.bar_label(bars, fmt="%.2f" if ax is hits_ax else "%d", fontsize=8)
cost_ax.legend(fontsize=8)
source(fig, DATA + f"; SQLite file in a temporary directory ({db_path.name})")

# %% [markdown]
# ## 4. Sizing the cache: hit rate vs capacity and TTL
#
# Real prompt popularity is skewed: a few questions are asked all the time, most rarely. Here
# 1,200 calls (one per virtual second) draw from 400 prompts with Zipf-like popularity
# (weight ∝ 1/rank), at `temperature=0` so no opt-in is needed, against the simulator's
# `healthy` scenario. Five set-ups: no cache; an LRU `MemoryCache` of 20 and of 100 entries;
# an unbounded one (well, 10,000); and a 2-minute TTL.

# %%
SEED = 0
PROMPTS = [f"Support question #{k}: how do I change setting {k}?" for k in range(400)]
WEIGHTS = [1 / (k + 1) for k in range(len(PROMPTS))]
N = 1200


def run_cache(store_factory, *, ttl: float | None = 3600.0) -> pd.DataFrame:
    clock = VirtualClock()
    sink = MemorySink()
    layers = []
    if store_factory is not None:
        layers = [CacheLayer(store_factory(clock), ttl=ttl)]
    rng = random.Random(SEED)
    client = Client(
        "openai",
        transport=SimTransport(Simulator(get_scenario("healthy"), clock, seed=SEED)),
        base_url="http://127.0.0.1/v1",
        api_key="sim-placeholder",  # the simulator wants a key; this is not a secret
        clock=clock,
        telemetry=sink,
        layers=layers,
    )
    with client:
        for i in range(N):
            clock.set(float(i))
            prompt = rng.choices(PROMPTS, WEIGHTS)[0]
            with contextlib.suppress(LLMError):
                client.chat(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=48,
                    temperature=0,
                )
    return frame(sink, origin=clock.wall() - clock.now())


SETUPS = {
    "no cache": (None, None),
    "LRU 20 entries": (lambda c: MemoryCache(20, clock=c), 3600.0),
    "LRU 100 entries": (lambda c: MemoryCache(100, clock=c), 3600.0),
    "LRU 10,000 entries": (lambda c: MemoryCache(10_000, clock=c), 3600.0),
    "10,000 entries, TTL 120 s": (lambda c: MemoryCache(10_000, clock=c), 120.0),
}
sims = {name: run_cache(factory, ttl=ttl) for name, (factory, ttl) in SETUPS.items()}
sizing = pd.DataFrame(
    {
        name: {
            "hit rate": df.query("kind == 'call'")["cache_hit"].eq(True).mean(),
            "tokens billed": billed(df),
            "p50 latency (s)": df.query("kind == 'call'")["latency"].median(),
            "mean latency (s)": df.query("kind == 'call'")["latency"].mean(),
        }
        for name, df in sims.items()
    }
).T
hit = sizing["hit rate"]
assert hit["no cache"] < hit["LRU 20 entries"] < hit["LRU 100 entries"] < hit["LRU 10,000 entries"]
assert (
    hit["LRU 100 entries"] - hit["LRU 20 entries"]
    > hit["LRU 10,000 entries"] - hit["LRU 100 entries"]
), "each extra entry buys less"
assert hit["10,000 entries, TTL 120 s"] < hit["LRU 10,000 entries"], "a short TTL caps the hit rate"
by_hits = sizing.sort_values("hit rate")
assert by_hits["mean latency (s)"].is_monotonic_decreasing, "mean latency falls with the hit rate"
assert (sizing.loc[hit > 0.5, "p50 latency (s)"] == 0).all(), "p50 is 0 once most calls hit"
sizing.round(3)

# %% tags=["headline"]
fig, (curve, rate) = figure(
    2, title=f"{N:,} skewed calls over {len(PROMPTS)} prompts: cache size and TTL"
)
palette = [COLORS["naive"], COLORS["extra"], COLORS["other"], COLORS["pattern"], "#9467bd"]
for (name, df), color in zip(sims.items(), palette, strict=True):
    att = df[df["kind"] == "attempt"].sort_values("t_s")
    tokens = (att["input_tokens"].fillna(0) + att["output_tokens"].fillna(0)).cumsum()
    curve.plot(att["t_s"] / 60, tokens / 1000, color=color, label=name)
    c = df[df["kind"] == "call"].sort_values("t_s")
    window = c["cache_hit"].eq(True).rolling(100, min_periods=20).mean()
    lw = 3 if name == "no cache" else 1.5  # the no-cache line lies on 0: draw it thick
    rate.plot(c["t_s"] / 60, window, color=color, lw=lw, label=f"{name} (always 0)" if name ==
              "no cache" else name)  # fmt: skip
curve.set_xlabel("time (virtual minutes)")
curve.set_ylabel("tokens billed, cumulative (thousands)")
curve.set_title("cumulative tokens billed")
curve.legend(fontsize=8)
curve.grid(alpha=0.3)
rate.set_ylim(-0.04, 1)
rate.legend(fontsize=8, loc="lower right", ncols=2)
rate.set_xlabel("time (virtual minutes)")
rate.set_ylabel("hit rate over the last 100 calls (fraction)")
rate.set_title("hit rate as the cache warms up")
rate.grid(alpha=0.3)
source(
    fig,
    f"simulator scenario 'healthy', seed {SEED}; Zipf-like prompt mix drawn with "
    f"random.Random({SEED})",
)

# %% [markdown]
# A small LRU already catches the head of the distribution; beyond that each extra entry buys
# less. A short TTL caps the hit rate at how often a prompt recurs *within* the TTL. On cached
# calls latency drops to zero, so the *mean* latency falls with the hit rate, and the p50 drops
# to zero once more than half the calls hit.
#
# ## Explore: move the knobs
#
# Section 4's workload as a function of its knobs: the LRU's size, the TTL, how many distinct
# prompts there are and how skewed their popularity is (1 is section 4's Zipf-like mix, 0 is
# uniform). The panel reruns the 1,200 calls on the virtual clock when you release a knob and
# prints the redraw time; the executed copy shows the default knobs.

# %% tags=["experiment"]
from llmkit.panel import explore


def experiment(max_entries=100, ttl=3600.0, prompts=400, skew=1.0):
    """1,200 calls, one per virtual second, drawn from `prompts` prompts (weight ∝ 1/rank^skew)."""
    texts = [f"Support question #{k}: how do I change setting {k}?" for k in range(prompts)]
    weights = [1 / (k + 1) ** skew for k in range(prompts)]
    clock = VirtualClock()
    sink = MemorySink()
    rng = random.Random(0)
    layer = CacheLayer(MemoryCache(max_entries, clock=clock), ttl=ttl)
    client = Client(
        "openai",
        transport=SimTransport(Simulator(get_scenario("healthy"), clock, seed=0)),
        base_url="http://127.0.0.1/v1",
        api_key="sim-placeholder",  # the simulator wants a key; this is not a secret
        clock=clock,
        telemetry=sink,
        layers=[layer],
    )
    with client:
        for i in range(1200):
            clock.set(float(i))
            client.chat(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": rng.choices(texts, weights)[0]}],
                max_tokens=48,
                temperature=0,
            )
    calls = frame(sink, origin=clock.wall() - clock.now()).query("kind == 'call'")
    hits = calls["cache_hit"].eq(True)
    fig, (ax,) = figure(
        1,
        width=10,
        title=f"LRU {max_entries} entries, TTL {ttl:g} s, {prompts} prompts, skew {skew:g}: "
        f"hit rate {hits.mean():.0%}, {layer.stats.tokens_saved:,} tokens saved",
    )
    ax.plot(calls["t_s"] / 60, hits.rolling(100, min_periods=20).mean(), color=COLORS["pattern"])
    ax.set_ylim(-0.04, 1)
    ax.set_xlabel("time (virtual minutes)")
    ax.set_ylabel("hit rate over the last 100 calls (fraction)")
    ax.grid(alpha=0.3)
    source(fig, "simulator scenario 'healthy', seed 0; prompts drawn with random.Random(0)")
    return fig


# %%
explore(
    experiment,
    max_entries=(5, 500, 5),
    ttl=(10.0, 3600.0, 10.0),
    prompts=(10, 1000, 10),
    skew=(0.0, 2.0, 0.1),
)

# %% [markdown]
# ## What to tune
#
# * **What is cacheable**: unsampled requests only by default (`temperature=0`, which is
#   repeatable enough to cache, not bit-for-bit deterministic); opt in per
#   layer (`opt_in=True`) or per call (tag `cache="on"`), opt out with `cache="off"` (anything
#   personal, anything time-sensitive).
# * **`ttl`**: as long as the answer stays right (a policy document changes; a translation
#   does not). **`stale_ttl`**: how long an expired answer may still be served *as degraded*
#   when every provider fails (notebook 04).
# * **Backend and size**: `MemoryCache(max_entries)` per process; `SQLiteCache` to survive
#   restarts on one machine (WAL mode, safe across processes); `RedisCache` to share between
#   machines. Size it from the hit-rate curve of *your* traffic, not from a guess.
# * **Key hygiene**: put every parameter that changes the answer in the request (they go in
#   the key); volatile fields (`user`, `metadata`, `store`, ...) are left out
#   (`llmkit.cache.VOLATILE_EXTRA`).
# * **Watch**: `layer.stats` (hit rate, tokens and latency saved, corrupt entries, backend
#   errors) and the `cache_hit` telemetry column.
#
# **Pitfalls.**
# * Caching `temperature > 0` answers turns a sampler into a constant — fine for a FAQ bot,
#   wrong for "give me five ideas".
# * A cache shared between tenants can leak one tenant's answer to another if the prompt
#   contains their data: key per tenant (a system message, or a separate backend).
# * Provider-side prompt caching (cheaper *input* tokens for a shared prefix) is a different
#   thing; it stacks with this one.
#
# ## Exercises
#
# 1. Replay `anthropic/repeated-prompt` through the same layer. Are the hit rate and the tokens
#    saved the same as for OpenAI? Why would `cache_key` differ between providers for the same
#    prompt?
# 2. In section 4, draw prompts uniformly instead of Zipf-like. What happens to the value of a
#    100-entry LRU?
# 3. Replay section 1 with `CacheLayer(MemoryCache(), opt_in=True, ttl=5.0)`. Which calls miss
#    now, and why? (Entries' freshness runs on the replay's virtual clock.)
# 4. Make the cache layer fail: pass a backend whose `get` raises
#    `llmkit.cache.CacheUnavailableError`. Does any call fail? What do `layer.stats.errors` and
#    the logs say?
#
# ## Takeaways
#
# 1. Key the cache on what determines the answer and nothing else; the hit rate is set by how
#    often the same normalized request comes back.
# 2. Cache only complete, successful, unsampled answers by default; temperature 0 is
#    repeatable enough to cache, not guaranteed identical.
# 3. Pick the backend for the deployment (memory, SQLite to survive restarts, Redis to
#    share) and size it from your traffic's hit-rate curve.
#
# **Next:** [06 · Hedging and throttling](06_hedging_and_throttling.ipynb) — the slow tail,
# and the 429 you could have seen coming.

# %%
workdir.cleanup()
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
