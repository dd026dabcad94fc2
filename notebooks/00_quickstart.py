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
# # 00 · Quickstart: one client, one recorded 429, one honest retry
#
# **The production failure.** Your product calls an LLM API a few thousand times an hour.
# Once in a while the provider answers `429 Too Many Requests` with `retry-after: 1`, or a
# `502`/`503` from a load balancer, or an Anthropic `529 overloaded`. Code that treats every
# non-200 as final turns each of those into a user-visible error — even though waiting one
# second would have worked. Code that retries *everything* is no better: it retries a `401`
# (bad key) or an `insufficient_quota` forever and burns its deadline on answers that will never
# change.
#
# This notebook shows the llmkit way in five minutes:
#
# 1. build an `llmkit.Client` and send a call,
# 2. read the telemetry it writes (one record per attempt, one per call),
# 3. compare **naive** (one attempt) with the **pattern** (classified retries with jittered
#    backoff that honours `retry-after`) on recorded traffic.
#
# **No network, no API key.** Every call here is answered by a committed *cassette*
# (`cassettes/<provider>/<name>.yaml`): real HTTP bytes recorded from llmkit's provider
# simulator, replayed on a `VirtualClock`, so the two seconds a retry waits take no real time.
# Each cassette's provenance (simulator, scenario, seed) is printed next to its data, and every
# chart says which cassette it was built from.

# %%
import time

import pandas as pd

from llmkit import VirtualClock
from llmkit.cassettes import load_cassette, replay
from llmkit.charts import COLORS, attempt_timeline, cassette, figure, replay_frame, source
from llmkit.client import Client
from llmkit.errors import CassetteNotFoundError, LLMError
from llmkit.telemetry import MemorySink

pd.set_option("display.width", 120)
started = time.perf_counter()

# %% [markdown]
# ## 1. A call, replayed from a cassette
#
# A cassette holds the bytes; `replay(...)` turns them into an httpx transport that serves each
# attempt at its recorded time. Hand that transport to a `Client` exactly as you would hand it a
# real one — the rest of the code is what you would run in production.

# %%
ok_path = cassette("openai", "success")
meta = load_cassette(ok_path).meta
print(f"cassette: {ok_path.relative_to(ok_path.parents[2])}")
print(f"provenance: {meta.provenance}")

clock = VirtualClock()
sink = MemorySink()
with replay(ok_path, clock=clock) as rec:
    client = Client(
        "openai",
        transport=rec.transport(),
        base_url="http://127.0.0.1/v1",  # the recorded host; nothing is ever sent anywhere
        clock=clock,
        telemetry=sink,
    )
    response = client.chat(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Write a haiku about retry budgets."}],
        max_tokens=64,
    )
    slow = client.chat(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Explain circuit breakers to a new engineer."}],
        max_tokens=128,
    )

print(response.text)
print(f"model={response.model} latency={response.latency:.3f}s usage={response.usage}")

# %% [markdown]
# `response.latency` is *virtual* seconds: the time the recorded provider took, not the time
# this notebook took. Every call also left telemetry in the sink — an **attempt** record per
# HTTP attempt and a **call** record per logical call, with OpenTelemetry GenAI names when
# exported (`sink.to_dataframe()`), and never the prompt text or a key:

# %%
sink.to_dataframe()[
    [
        "llmkit.record",
        "gen_ai.request.model",
        "llmkit.attempt",
        "gen_ai.client.operation.duration",
        "http.response.status_code",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "llmkit.request.fingerprint",
    ]
]

# %% [markdown]
# ## 2. A recorded 429: naive vs pattern
#
# The cassette `openai/retry-after` recorded a provider that answered the first two attempts
# with `429 rate_limit_exceeded, retry-after: 1` and the third with a completion.
#
# * **Naive**: `retry=False` — one attempt, what you get from a hand-rolled `httpx.post`.
# * **Pattern**: llmkit's default retry policy (3 attempts, exponential backoff with full
#   jitter, and `retry-after` treated as a *floor* on the wait), inside a total deadline.
#
# `replay_frame` replays every call of a cassette through a client configured as asked and
# returns its telemetry as a DataFrame (one row per record).

# %%
ra_path = cassette("openai", "retry-after")
naive = replay_frame(ra_path, retry=False)
pattern = replay_frame(ra_path, retry=3)
cols = [
    "kind",
    "attempt",
    "t_s",
    "latency",
    "status",
    "error_type",
    "retry_decision",
    "retry_delay",
]
print("naive:")
print(naive[cols].to_string(index=False))
print("\npattern:")
print(pattern[cols].to_string(index=False))
waits = pattern.loc[pattern["kind"] == "attempt", "retry_delay"].dropna().tolist()
call = pattern[pattern["kind"] == "call"].iloc[0]
print(
    f"\npattern waited {', '.join(f'{w:g} s' for w in waits)} between attempts and the call "
    f"{'succeeded' if call['ok'] else 'failed'} after {call['latency']:.1f} virtual seconds"
)

# %%
fig, (left, right) = figure(2, title="One call against a recorded 429 rate limit", sharex=True)
attempt_timeline(left, naive, title="naive: retry=False → the user sees the 429")
attempt_timeline(right, pattern, title="pattern: retry=3 → waits retry-after, succeeds")
for ax in (left, right):
    ax.set_xlim(0, 4)
prov = load_cassette(ra_path).meta.provenance
source(fig, f"replayed cassette openai/retry-after (scenario {prov.scenario}, seed {prov.seed})")

# %% [markdown]
# The pattern waited exactly what the server's `retry-after` asked (the waits printed above) —
# not less (that buys another 429), not a fixed 5 s (that wastes the user's time) — and the
# call succeeded. The `retry_decision` column records *why* each attempt was or was not
# retried.

# %% [markdown]
# ## 3. Every transient failure in the catalogue, across providers
#
# The same comparison over every recorded transient failure: 429 with `retry-after`, a burst of
# 5xx, Anthropic's 529, a hung request that hit the read timeout, and a stream that died
# mid-way — for each provider the catalogue recorded it for: OpenAI (Chat Completions and
# Responses), Anthropic, OpenRouter, Google Gemini (its 429 carries the wait in the body's
# `RetryInfo`, not a header) and Azure OpenAI (a deployment URL with `?api-version=`). Plus
# two **permanent** failures (a bad key, `insufficient_quota`) that the pattern must *not*
# retry.

# %%
TRANSIENT = ["retry-after", "5xx-burst", "overloaded-529", "timeout-then-ok", "midstream-error"]
PERMANENT = ["auth", "insufficient-quota"]
GROUPS = ["openai", "openai-responses", "anthropic", "openrouter", "gemini", "azure"]

rows = []
for name in TRANSIENT + PERMANENT:
    for group in GROUPS:
        try:
            path = cassette(group, name)
        except CassetteNotFoundError:
            raise  # recorded by the catalogue but missing: a broken checkout, fail loudly
        except ValueError:
            continue  # not recorded for this provider (see `llmkit record --list`)
        for policy, retry in (("naive", False), ("pattern", None)):
            df = replay_frame(path, retry=retry)
            calls = df[df["kind"] == "call"]
            rows.append(
                {
                    "cassette": f"{group}/{name}",
                    "failure": name,
                    "kind": "transient" if name in TRANSIENT else "permanent",
                    "policy": policy,
                    "calls": len(calls),
                    "succeeded": int(calls["ok"].sum()),
                    "attempts": int((df["kind"] == "attempt").sum()),
                    "latency_s": float(calls["latency"].max()),
                    "error": ", ".join(sorted(set(calls["error_type"].dropna()))) or "-",
                }
            )
results = pd.DataFrame(rows)
results.pivot_table(
    index=["kind", "cassette"], columns="policy", values=["succeeded", "attempts", "latency_s"]
).round(2)

# %%
by = results.groupby(["failure", "policy"], sort=False)
ok_rate = (by["succeeded"].sum() / by["calls"].sum()).unstack("policy")
attempts = (by["attempts"].sum() / by["calls"].sum()).unstack("policy")
order = TRANSIENT + PERMANENT
ok_rate, attempts = ok_rate.loc[order], attempts.loc[order]

fig, (left, right) = figure(2, title="Naive vs pattern on every recorded failure", width=6.5)
ok_rate[["naive", "pattern"]].plot.barh(
    ax=left, color=[COLORS["naive"], COLORS["pattern"]], xlim=(0, 1.05)
)
left.set_xlabel("share of calls that succeeded (fraction)")
left.set_ylabel("recorded failure")
left.set_title("success rate")
left.invert_yaxis()
attempts[["naive", "pattern"]].plot.barh(ax=right, color=[COLORS["naive"], COLORS["pattern"]])
right.set_xlabel("HTTP attempts per call (count)")
right.set_ylabel("")
right.set_title("what it cost: attempts per call")
right.invert_yaxis()
source(fig, f"replayed cassettes {', '.join(sorted(results['cassette'].unique()))}")
for kind, part in results.groupby("kind"):
    tally = part.groupby("policy")[["succeeded", "calls", "attempts"]].sum()
    print(
        f"{kind}: "
        + "; ".join(
            f"{policy} {row.succeeded}/{row.calls} calls succeeded with {row.attempts} "
            f"attempts ({row.attempts / row.calls:.2f} per call)"
            for policy, row in tally.iterrows()
        )
    )

# %% [markdown]
# Read the two panels together:
#
# * **Transient** failures (top five): naive fails every call; the pattern recovers them at the
#   price of a few extra attempts (and the waits shown in section 2) — the tally printed above.
# * **Permanent** failures (`auth`, `insufficient-quota`): both fail, and the pattern spends
#   exactly **one** attempt per call (printed above) — retrying a bad key or an empty account
#   cannot help, so llmkit classifies them (`ErrorKind.AUTH`, `ErrorKind.QUOTA_EXHAUSTED`) as
#   not retryable and fails fast with a typed error you can route on:

# %%
with replay(cassette("openai", "insufficient-quota"), clock=VirtualClock()) as rec:
    c = Client("openai", transport=rec.transport(), base_url="http://127.0.0.1/v1", clock=rec.clock)
    try:
        c.chat(
            model="gpt-4o-mini",
            messages=[
                {"role": "user", "content": "Summarise the incident report in two sentences."}
            ],
            max_tokens=64,
        )
    except LLMError as exc:
        print(type(exc).__name__, "| kind:", exc.kind, "| retryable:", exc.retryable)
        print("message:", exc)

# %% [markdown]
# ## What to tune
#
# * **`retry=`** — `RetryPolicy(max_attempts, base, cap, max_retry_after)`; default 3 attempts,
#   0.5 s base, 8 s cap. Interactive traffic: fewer attempts; batch jobs: more, with a longer cap.
# * **`deadline=`** — seconds per call, all attempts and waits together; default 120 s. Set it to
#   what the caller will actually wait (notebook 01).
# * **`timeout=`** — `Timeouts` per attempt; default read 60 s, stream idle 30 s. Set it from your
#   measured latency percentiles (notebook 01).
# * **`budget=`** — a shared `RetryBudget`; default on (retries up to ~20 % of successes plus a
#   burst of 20). Share one per provider across clients (notebook 02).
# * **`telemetry=`** — off by default. Always on in production: a `JSONLSink`, a `LoggingSink`
#   or your own sink (notebook 03).
#
# **Pitfalls.**
# * Stacked retries multiply: the official SDKs already retry twice (`max_retries=2`). Under
#   llmkit, or under any retrying router, set the SDK's `max_retries=0`.
# * Never sleep *less* than `retry-after`; never retry `401`, `403`, `insufficient_quota`,
#   `context_length_exceeded` or a content-filter refusal.
# * A successful retry still cost tokens and time: watch attempts per call, not only the
#   success rate.
#
# ## Exercises
#
# 1. Replay `openai/5xx-burst` with `replay_frame(path, retry=n)` for `n` = 2, 3, 4 and 5.
#    Which is the smallest `n` that recovers the call? Why does `retry=5` still send only four
#    attempts? (`load_cassette(path).meta.notes` says how the cassette was recorded.)
# 2. Replay `anthropic/overloaded-529` and print `exc.kind` for the naive run. How does llmkit
#    name Anthropic's 529 and OpenAI's 503 — the same kind or different ones? Why does that
#    matter for dashboards?
# 3. Write a `MemorySink` subclass whose `emit` prints one line per call record
#    (`model`, `attempt`, `latency`, `error_type`) and replay `mixed/day-of-traffic` through it.

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
