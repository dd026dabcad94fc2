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
#    backoff that honours `retry-after`) on recorded traffic,
# 4. see what OpenAI, Anthropic and OpenRouter really send when things go wrong.
#
# **No network, no API key.** Every call here is answered by a committed *cassette*
# (`cassettes/<provider>/<name>.yaml`): real HTTP bytes recorded from llmkit's provider
# simulator, replayed on a `VirtualClock`, so the two seconds a retry waits take no real time.
# Each cassette's provenance (simulator, scenario, seed) is printed next to its data, and every
# chart says which cassette it was built from.

# %%
import json
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

# The simulator answers with filler words of the right length, not a real haiku: what it
# models is the wire format, the timing and the token counts, never the writing.
print("response.text (simulator filler, not a haiku):", response.text[:120], "…")
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

# %% tags=["headline"]
by = results.groupby(["failure", "policy"], sort=False)
ok_rate = (by["succeeded"].sum() / by["calls"].sum()).unstack("policy")
attempts = (by["attempts"].sum() / by["calls"].sum()).unstack("policy")
order = TRANSIENT + PERMANENT
ok_rate, attempts = ok_rate.loc[order], attempts.loc[order]

fig, (left, right) = figure(2, title="Naive vs pattern on every recorded failure", width=6.5)
ok_rate[["naive", "pattern"]].plot.barh(
    ax=left, color=[COLORS["naive"], COLORS["pattern"]], xlim=(0, 1.18)
)
left.set_xlabel("share of calls that succeeded (fraction)")
left.set_ylabel("recorded failure")
left.set_title("success rate (a 0 % bar is drawn as its label)")
attempts[["naive", "pattern"]].plot.barh(ax=right, color=[COLORS["naive"], COLORS["pattern"]])
right.set_xlabel("HTTP attempts per call (count)")
right.set_ylabel("")
right.set_title("what it cost: attempts per call")
for ax, fmt in ((left, "{:.0%}"), (right, "{:.2g}")):
    for bars in ax.containers:  # label every bar, so a 0 reads as 0, not as missing data
        ax.bar_label(bars, labels=[fmt.format(b.get_width()) for b in bars], fontsize=7, padding=2)
    ax.invert_yaxis()
    ax.axhline(len(TRANSIENT) - 0.5, color="#333333", lw=1, ls="--")  # transient | permanent
    ax.text(ax.get_xlim()[1], len(TRANSIENT) - 0.55, "transient ↑  ", ha="right", va="bottom",
            fontsize=8)  # fmt: skip
    ax.text(ax.get_xlim()[1], len(TRANSIENT) - 0.45, "permanent ↓  ", ha="right", va="top",
            fontsize=8)  # fmt: skip
    ax.legend(title="policy", fontsize=8, loc="lower right")
source(
    fig,
    f"replayed cassettes: each failure above for every provider format the catalogue recorded "
    f"it for ({results['cassette'].nunique()} cassettes, listed in the table above)",
)
assert (ok_rate.loc[TRANSIENT, "naive"] == 0).all(), "naive fails every transient failure"
assert (ok_rate.loc[TRANSIENT, "pattern"] == 1).all(), "the pattern recovers every one"
assert (ok_rate.loc[PERMANENT] == 0).all().all(), "permanent failures fail both ways"
assert (attempts.loc[PERMANENT, "pattern"] == 1).all(), "... and cost exactly one attempt"
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
# ## 4. What providers really send
#
# Retrying "only what is retryable" depends on reading the provider's answer the way the
# provider meant it. The three APIs differ more than their docs suggest. What follows was
# learned from real recorded traffic of many projects (OpenAI, Anthropic and OpenRouter, errors
# and successes, streamed and not); the recordings themselves are other projects' data and stay
# out of this repository. The simulator reproduces each fact, so the cassettes replayed below
# show it — with llmkit's classification beside it.
#
# **Errors and headers, per provider** (the two tables below), then **streams**.
#
# **Streams.** OpenAI chat and OpenRouter send `data:` lines ending in `data: [DONE]`; OpenAI's
# Responses stream and Anthropic's name each event with an `event:` line and send no `[DONE]`
# (Anthropic adds `event: ping` and pads its JSON with spaces). OpenRouter interleaves
# `: OPENROUTER PROCESSING` comment lines. An error can arrive **inside a 200 stream**: OpenAI a
# bare `data: {"error": ...}`, Anthropic `event: error` with an `overloaded_error`, OpenRouter an
# `error` object inside an ordinary chunk. A status-code check alone never sees those.
#
# Each fact below is a committed simulator cassette, read by `llmkit.inspection.inspect_path`
# (the code behind `llmkit inspect DIR`, which does the same for your own recordings):

# %%
from IPython.display import display

ERRORS = pd.DataFrame(
    {
        "OpenAI (Chat Completions, Responses)": {
            "error body": '{"error": {"message", "type", "param", "code"}}',
            "what tells errors apart": "`code` first (rate_limit_exceeded, insufficient_quota, "
            "context_length_exceeded, invalid_api_key, model_not_found); `type` varies "
            "(requests, tokens, even invalid_request_error on a 429)",
            "out of credit": "429 insufficient_quota: a 429 no wait will fix",
            "overloaded": "503",
            "model not found": "404 on chat, but 400 on /v1/responses",
        },
        "Anthropic Messages": {
            "error body": '{"type": "error", "error": {"type", "message"}, "request_id"}',
            "what tells errors apart": "error.type: invalid_request_error 400, "
            "authentication_error 401, permission_error 403, not_found_error 404, "
            "rate_limit_error 429, api_error 500, overloaded_error 529",
            "out of credit": "400 'Your credit balance is too low' (type invalid_request_error, "
            "or billing_error)",
            "overloaded": "529, with an empty reason phrase",
            "model not found": "404 not_found_error",
        },
        "OpenRouter": {
            "error body": '{"error": {"code": <int>, "message", "metadata": {"provider_name", '
            '"raw"}}}',
            "what tells errors apart": "the HTTP status (the integer code repeats it); upstream "
            "failures say 'Provider returned error' with the upstream's text in metadata.raw",
            "out of credit": "402 'Insufficient credits'",
            "overloaded": "a 5xx from the upstream",
            "model not found": "-",
        },
    }
)
HEADERS = pd.DataFrame(
    [
        (
            "retry-after",
            "all three, on 429 (and 503/529)",
            "seconds to wait (or an HTTP date)",
            "a floor on the backoff wait; past the deadline, fail fast",
        ),
        (
            "retry-after-ms",
            "OpenAI",
            "the same wait in milliseconds",
            "read first, before retry-after",
        ),
        (
            "x-should-retry",
            "Anthropic, on errors (the official SDKs obey it)",
            "the provider's verdict: true on 429/529, false on 400/401, at times false on a 500",
            "overrides the status: a 500 marked false is not retried",
        ),
        (
            "x-ratelimit-{limit,remaining,reset}-{requests,tokens}",
            "OpenAI",
            "per-minute buckets; resets as durations (6m0s, 20ms)",
            "read by the throttle (notebook 06)",
        ),
        (
            "anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-*",
            "Anthropic",
            "the same; resets as RFC 3339 times, sometimes 1970-01-01T00:00:00Z",
            "read; a 1970 reset is unknown, never 'now'",
        ),
        (
            "x-ratelimit-{limit,remaining,reset}",
            "OpenRouter",
            "one bucket; reset as Unix milliseconds",
            "read",
        ),
    ],
    columns=["header", "sent by", "what it says", "what llmkit does with it"],
).set_index("header")
with pd.option_context("display.max_colwidth", 120):
    display(ERRORS)
    display(HEADERS)

# %%
from llmkit.inspection import inspect_path
from llmkit.recordings import load_recording

FACTS = [
    # (provider, what real traffic shows, cassette group/name, interaction, headers to show)
    ("openai", "429 rate_limit_exceeded, wait in ms too", "openai", "retry-after", 0),
    ("openai", "429 insufficient_quota: out of credit", "openai", "insufficient-quota", 0),
    ("openai", "503 overloaded with retry-after-ms", "openai", "overloaded-503", 0),
    ("openai", "error inside a 200 stream", "openai", "midstream-error", 0),
    ("anthropic", "429 rate_limit_error, x-should-retry: true", "anthropic", "retry-after", 0),
    ("anthropic", "529 overloaded_error", "anthropic", "overloaded-529", 0),
    ("anthropic", "400 credit balance too low", "anthropic", "insufficient-quota", 0),
    ("anthropic", "400 billing_error", "anthropic", "billing-error", 0),
    ("anthropic", "500 with x-should-retry: false", "anthropic", "500-no-retry", 0),
    ("anthropic", "event: error inside a 200 stream", "anthropic", "midstream-error", 0),
    ("openrouter", "402 insufficient credits", "openrouter", "insufficient-quota", 0),
    ("openrouter", "429 'Provider returned error'", "openrouter", "retry-after", 0),
    ("openrouter", "error object inside a 200 chunk", "openrouter", "midstream-error", 0),
]
SHOWN = ("retry-after", "retry-after-ms", "x-should-retry")

fact_rows = []
for provider, fact, group, name, index in FACTS:
    path = cassette(group, name)
    response = load_recording(path)[index].response
    row = list(inspect_path(path))[index]
    body = response.content.decode()
    error_type = None
    if response.status_code >= 400:
        error = json.loads(body).get("error", {})
        error_type = error.get("type") or error.get("code")
    fact_rows.append(
        {
            "provider": provider,
            "fact": fact,
            "cassette": f"{group}/{name}#{index}",
            "status": response.status_code,
            "error type/code": error_type,
            **{h: response.headers.get(h) for h in SHOWN},
            "llmkit kind": row.kind,
            "retryable": row.retryable,
            "retry_after": row.retry_after,
        }
    )
facts = pd.DataFrame(fact_rows).set_index(["provider", "fact"])
facts.astype(object).fillna("-")

# %% [markdown]
# Read the table from right to left: the provider's status and headers on the left, llmkit's
# verdict on the right. The notebook checks each claim above against these rows:

# %%
f = facts.reset_index().set_index("cassette")
# retry-after-ms is read before retry-after (same wait here: 1000 ms = 1 s)
assert f.loc["openai/retry-after#0", "retry-after-ms"] == "1000"
assert f.loc["openai/retry-after#0", ["llmkit kind", "retryable", "retry_after"]].tolist() == [
    "rate_limit",
    True,
    1.0,
]
# out of credit: three statuses, one kind, never retried
for c, status in [
    ("openai/insufficient-quota#0", 429),
    ("anthropic/insufficient-quota#0", 400),
    ("anthropic/billing-error#0", 400),
    ("openrouter/insufficient-quota#0", 402),
]:
    assert f.loc[c, "status"] == status, c
    assert f.loc[c, "llmkit kind"] == "quota_exhausted", c
    assert not f.loc[c, "retryable"], c
assert f.loc["anthropic/billing-error#0", "error type/code"] == "billing_error"
# Anthropic's x-should-retry: true on 429/529, false on the credit 400 -- and on this 500
for c, verdict in [
    ("anthropic/retry-after#0", "true"),
    ("anthropic/overloaded-529#0", "true"),
    ("anthropic/insufficient-quota#0", "false"),
    ("anthropic/500-no-retry#0", "false"),
]:
    assert f.loc[c, "x-should-retry"] == verdict, c
    assert bool(f.loc[c, "retryable"]) == (verdict == "true"), c
assert f.loc["anthropic/500-no-retry#0", "status"] == 500
assert f.loc["anthropic/500-no-retry#0", "llmkit kind"] == "server_error"
assert f.loc["anthropic/overloaded-529#0", "llmkit kind"] == "overloaded"
# errors inside a 200 stream are classified, not missed
for group in ("openai", "anthropic", "openrouter"):
    c = f"{group}/midstream-error#0"
    assert f.loc[c, "status"] == 200, c
    assert f.loc[c, "llmkit kind"] is not None, c
print(f"{len(f)} facts checked against {f.index.str.split('#').str[0].nunique()} cassettes")

# Two claims of the header table, checked on the recorded 429 with its headers edited:
# retry-after-ms wins over retry-after, and a 1970 reset means "unknown", not "now".
import httpx

from llmkit import classify
from llmkit.ratelimit import parse_reset

recorded = load_recording(cassette("openai", "retry-after"))[0].response
edited = httpx.Response(
    429,
    headers={**recorded.headers, "retry-after-ms": "250", "retry-after": "3"},
    content=recorded.content,
    request=recorded.request,
)
assert classify("openai", edited).retry_after == 0.25
assert parse_reset("1970-01-01T00:00:00Z", wall=time.time()) is None

# %% [markdown]
# The stream framing, as each provider sends it (the first lines of a recorded stream):

# %%
framing = {}
for group in ("openai", "openai-responses", "anthropic", "openrouter"):
    body = load_recording(cassette(group, "stream-success"))[0].response.text
    framing[group] = body
    print(f"--- {group}/stream-success: first 4 lines, last line")
    lines = [line for line in body.splitlines() if line]
    print("\n".join(line[:100] for line in lines[:4]))
    print("...", lines[-1][:100])

assert framing["openai"].rstrip().endswith("data: [DONE]")
assert framing["openrouter"].rstrip().endswith("data: [DONE]")
assert ": OPENROUTER PROCESSING" in framing["openrouter"]
assert "[DONE]" not in framing["openai-responses"]
assert "[DONE]" not in framing["anthropic"]
assert "event: ping" in framing["anthropic"]

# %% [markdown]
# **What to take away.** Classify by status *and* body *and* headers together: a 429 can be a
# wait (`rate_limit_exceeded`) or a wall (`insufficient_quota`); "out of credit" is a 429, a 400
# or a 402 depending on who you ask; a 500 is usually worth one more try unless the provider
# itself says `x-should-retry: false`; and a `200 OK` stream can still end in an error.
# `llmkit inspect DIR` prints this table for your own recordings.

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
# 4. Run `llmkit inspect cassettes/openrouter --json` in a terminal. Which interactions are
#    retryable, and which carry a `retry_after`? Then point it at a directory of your own
#    vcrpy or pytest-recording cassettes.
#
# ## Takeaways
#
# 1. A `Client` is a provider plus a stack of layers; a cassette or the simulator stands in
#    for the network, so every lesson replays offline on a virtual clock.
# 2. Retry what is transient, never what is permanent: every failure is one typed kind.
# 3. Retries cost attempts and time: watch attempts per call beside the success rate.
#
# **Next:** [01 · Timeouts and deadlines](01_timeouts_and_deadlines.ipynb).

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
