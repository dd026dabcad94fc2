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
# # 03 · Telemetry: know what your LLM traffic did before the incident review asks
#
# **The production failure.** Users report "the assistant was slow and failed a lot around
# 14:00". The logs say `request failed` a few dozen times. Which provider? Which model? Were
# those 529s, timeouts or rate limits? How many retries did we send, how much slower were the
# calls that succeeded, how many tokens did we spend? Without per-attempt records nobody
# knows — and the usual fix, logging whole requests, leaks prompts and sometimes API keys into
# the log pipeline.
#
# **The pattern.** One structured record per **attempt** and one per **call**, named after the
# OpenTelemetry GenAI semantic conventions (`gen_ai.request.model`, `error.type`,
# `gen_ai.usage.input_tokens`, …) plus `llmkit.*` fields for retries, budgets and deadlines —
# and never the prompt text (a hash fingerprint groups identical requests) or a key. Sinks:
# `MemorySink` (notebooks, tests, `to_dataframe()`), `JSONLSink`, `LoggingSink`, or your own
# one-method class.
#
# **Data.** The committed cassette `mixed/day-of-traffic`: 300 calls over two simulated hours
# to four models on two providers (OpenAI Chat Completions and Anthropic Messages), some
# streamed, with a slow tail, 6 % transient faults and a five-minute Anthropic incident. It was
# recorded from llmkit's simulator (provenance printed below), and is replayed here offline on
# a virtual clock — two hours of traffic in a few seconds.

# %%
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from llmkit.cassettes import load_cassette
from llmkit.charts import COLORS, cassette, figure, latency_cdf, percentiles, replay_frame, source
from llmkit.telemetry import JSONLSink, MemorySink

pd.set_option("display.width", 120)
started = time.perf_counter()

day = cassette("mixed", "day-of-traffic")
meta = load_cassette(day).meta
print(meta.provenance)
print(meta.notes["description"])
LABEL = (
    f"replayed cassette mixed/day-of-traffic (scenario {meta.provenance.scenario}, "
    f"seed {meta.provenance.seed}, {len(meta.calls)} calls)"
)

# %% [markdown]
# ## 1. The records
#
# Replay the day through the **pattern** (the retry policy it was recorded with); the replay
# returns its telemetry as a DataFrame. The **naive** view (one attempt per call, no retries)
# needs no second replay: without retries every call ends as its first attempt did, so its
# records are the pattern's first attempts, each also standing as its call. Here is what one
# failed-then-retried call looks like — the attempts and the call that summarises them:

# %% tags=["experiment"]
import functools


@functools.cache
def day_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(naive, pattern) telemetry of the day, replayed once."""
    pattern = replay_frame(cassette("mixed", "day-of-traffic"))
    first_attempts = pattern[(pattern["kind"] == "attempt") & (pattern["attempt"] == 1)]
    naive = pd.concat([first_attempts, first_attempts.assign(kind="call")], ignore_index=True)
    return naive, pattern


# %%
naive, pattern = day_frames()
retried = pattern.loc[(pattern["kind"] == "call") & (pattern["attempt"] > 1), "call_id"].iloc[0]
cols = [
    "kind",
    "provider",
    "request_model",
    "attempt",
    "t_s",
    "latency",
    "status",
    "error_type",
    "retry_decision",
    "retry_delay",
    "input_tokens",
    "output_tokens",
]
pattern.loc[pattern["call_id"] == retried, cols]

# %% [markdown]
# ## 2. Error kinds over time: what users saw vs what the provider did
#
# Every failed record carries `error.type`, llmkit's closed set of kinds (`rate_limit`,
# `overloaded`, `server_error`, `timeout`, `connection`, …) — the same values for every
# provider, so one dashboard covers OpenAI's 503 and Anthropic's 529. Three views of the same
# day: the calls that failed without retries, the calls that still failed with them (what
# users saw), and the failed *attempts* of that same run (what the provider did).

# %% tags=["headline"]
BIN_S = 600  # 10-minute buckets


def errors_by_bin(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    rows = df[(df["kind"] == kind) & df["error_type"].notna()]
    table = (
        rows.groupby([rows["t_s"] // BIN_S * BIN_S / 60, "error_type"]).size().unstack(fill_value=0)
    )
    full = pd.RangeIndex(0, int(df["t_s"].max() // BIN_S) + 1) * BIN_S / 60
    return table.reindex(full, fill_value=0)


kinds = sorted(set(naive["error_type"].dropna()) | set(pattern["error_type"].dropna()))
# Not red and green: in these notebooks those mean "naive" and "pattern".
KIND_COLORS = ["#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2"]
palette = dict(zip(kinds, KIND_COLORS, strict=False))
fig, axes = figure(
    3, title="Errors per 10 minutes, by error kind: what users saw vs what the provider did",
    width=4.4, sharey=True,
)  # fmt: skip
for ax, df, record, title in (
    (axes[0], naive, "call", "naive (no retries):\nfailed calls = what users saw"),
    (axes[1], pattern, "call", "pattern (retries):\nfailed calls = what users saw"),
    (axes[2], pattern, "attempt", "pattern (retries):\nfailed attempts = what the provider did"),
):
    table = errors_by_bin(df, record)
    table = table.reindex(columns=[k for k in kinds if k in table.columns])
    table.plot.bar(ax=ax, stacked=True, width=0.9, color=[palette[k] for k in table.columns], rot=0)
    ax.set_xlabel("time since start (minutes, 10-minute bins)")
    ax.set_ylabel("failed records (count)")
    ax.set_title(title, fontsize=10)
    ax.set_xticks(range(len(table)), [f"{m:.0f}" for m in table.index])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title="error.type", fontsize=8)
axes[0].set_ylim(0, axes[0].get_ylim()[1] * 1.1)  # shared: headroom above the tallest bar
source(fig, LABEL)

# %%
summary = (
    pd.DataFrame(
        {
            "naive": naive[naive["kind"] == "call"]["error_type"].value_counts(),
            "pattern: call errors": pattern[pattern["kind"] == "call"]["error_type"].value_counts(),
            "pattern: attempt errors (retried)": pattern[pattern["kind"] == "attempt"][
                "error_type"
            ].value_counts(),
        }
    )
    .fillna(0)
    .astype(int)
)
summary.loc["total"] = summary.sum()
still = pattern[(pattern["kind"] == "call") & pattern["error_type"].notna()]
print(
    f"calls that failed for the user: naive {int(summary.loc['total', 'naive'])}, pattern "
    f"{len(still)} (pattern's: {still.groupby(['provider', 'error_type']).size().to_dict()}, "
    f"minutes {still['t_s'].min() / 60:.0f}–{still['t_s'].max() / 60:.0f}, "
    f"after {', '.join(str(int(a)) for a in sorted(set(still['attempt'])))} attempts)"
)
total = summary.loc["total"]
assert total["pattern: call errors"] < total["naive"], "retries hide most faults from users"
assert total["pattern: attempt errors (retried)"] > total["pattern: call errors"], (
    "... but the attempt records still show them"
)
assert set(still["error_type"]) == {"overloaded"}, "what remains is the incident"
assert set(still["provider"]) == {"anthropic"}
summary

# %% [markdown]
# The naive client shows every transient fault to a user — a scattering of rate limits, 5xx,
# resets and timeouts all day, plus the burst of `overloaded` during the Anthropic incident
# (the `overloaded` bars, left). With retries almost all of them disappear for users (middle);
# what remains (printed above the table) is the incident, where the recorded three attempts
# were not enough. The **attempt** records (right) still show every fault the provider
# produced — several times more than users saw: retries hide failures from users, so without
# attempt-level telemetry they would also hide them from *you*, until the day the retries stop
# being enough.
#
# ## 3. Latency per model
#
# Call records carry `gen_ai.client.operation.duration` (the whole call, retries and waits
# included) and, for streams, `gen_ai.response.time_to_first_chunk`.

# %%
calls = pattern[pattern["kind"] == "call"]
per_model = calls.groupby(["provider", "request_model"]).agg(
    calls=("call_id", "size"),
    success_rate=("ok", "mean"),
    attempts_per_call=("attempt", "mean"),
    p50_s=("latency", lambda s: percentiles(s)[0]),
    p95_s=("latency", lambda s: percentiles(s)[1]),
    p99_s=("latency", lambda s: percentiles(s)[2]),
    ttft_p50_s=("ttft", lambda s: percentiles(s.dropna())[0]),
    input_tokens=("input_tokens", "sum"),
    output_tokens=("output_tokens", "sum"),
)
per_model.round(3)

# %%
by_model = per_model.droplevel("provider")
SMALL_LARGE = (("gpt-4o-mini", "gpt-4o"), ("claude-haiku-4-5", "claude-sonnet-4-5"))
for small, large in SMALL_LARGE:
    for col in ("p50_s", "p95_s"):
        assert by_model.loc[small, col] < by_model.loc[large, col], (small, large, col)
worst_p99 = by_model["p99_s"].idxmax()
assert worst_p99 in {small for small, _ in SMALL_LARGE}, "the largest p99 is a small model's"
mini = calls[calls["request_model"] == "gpt-4o-mini"]
slowest = mini.nlargest(3, "latency")[["call_id", "t_s", "latency", "attempt"]]
mini_att = pattern[(pattern["kind"] == "attempt") & pattern["call_id"].isin(slowest["call_id"])]
print(
    f"largest p99: {worst_p99} ({by_model.loc[worst_p99, 'p99_s']:.2f} s over "
    f"{by_model.loc[worst_p99, 'calls']} calls); the three slowest gpt-4o-mini calls:"
)
print(slowest.round(2).to_string())
print("their failed attempts:", mini_att["error_type"].value_counts().to_dict())

# %%
models = list(per_model.index.get_level_values("request_model"))
colors = [COLORS["naive"], COLORS["extra"], COLORS["other"], COLORS["pattern"]]
fig, (left, right) = figure(
    2, title="Call latency per model: one attempt vs retries", sharey=True, sharex=True
)
for ax, df, title in (
    (left, naive, "naive (one attempt; failed calls included)"),
    (right, pattern, "pattern (retries; waits included)"),
):
    c = df[df["kind"] == "call"]
    for model, color in zip(models, colors, strict=False):
        latency_cdf(ax, c.loc[c["request_model"] == model, "latency"], label=model, color=color)
    ax.set_xscale("log")
    ax.set_xlabel("call latency (s, log scale)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
source(fig, LABEL)

# %% [markdown]
# The small models (`gpt-4o-mini`, `claude-haiku-4-5`) answer in well under a second at the
# median and are faster than their large siblings at p95 too (asserted above). The p99 is
# another story: the largest p99 of the day belongs to a *small* model — `gpt-4o-mini`, whose
# slowest calls met a 20 s read timeout and were retried (printed above). At p99 of a hundred
# or so calls, one or two unlucky calls set the figure, and what sets it is faults and
# timeouts, not model size. Retries pull the failures (the naive curves' far-left and
# far-right steps: instant 5xx, 20 s timeouts) into successes that take longer: the pattern's
# tail is *honest* latency the user waited through. Route latency-sensitive features by p95
# from enough calls, and read p99 with its call count beside it.
#
# ## 4. Shipping the records: OpenTelemetry names, no prompts, no keys
#
# `MemorySink.to_dataframe()` and every exporting sink use the OpenTelemetry GenAI names. A
# `JSONLSink` writes one JSON object per record — ready for any log pipeline:

# %%
from llmkit.cassettes import replay
from llmkit.client import Client
from llmkit.clock import VirtualClock
from llmkit.types import ChatRequest, Message

out = Path(tempfile.mkdtemp()) / "telemetry.jsonl"
jsonl = JSONLSink(out)
memory = MemorySink()
small = cassette("openai", "success")  # any cassette will do; this one is short
first = load_cassette(small).meta.calls[0]
clock = VirtualClock()
with replay(small, clock=clock, strict=False) as rec:
    client = Client(
        first.provider,
        transport=rec.transport(),
        base_url="http://127.0.0.1/v1" if first.provider == "openai" else "http://127.0.0.1",
        clock=clock,
        telemetry=[jsonl, memory],
    )
    from llmkit.cassettes.workload import request_from_data

    request = request_from_data(first.request)
    client.send(request)
jsonl.close()
line = out.read_text().splitlines()[-1]
print(json.dumps(json.loads(line), indent=1)[:1400])

# %%
text = out.read_text()
prompt = request.messages[0].content
assert prompt not in text, "telemetry must never contain the prompt"
assert "sk-" not in text, "telemetry must never contain a key"
assert "Bearer" not in text, "telemetry must never contain an auth header"
print(f"{len(text.splitlines())} records written; prompt text absent; no key material.")
print("columns:", ", ".join(memory.to_dataframe().columns[:12]), "…")

# %% [markdown]
# ## Into OpenTelemetry
#
# Production teams already run an OpenTelemetry pipeline. `llmkit.OpenTelemetrySink` turns the
# same records into what the GenAI semantic conventions describe: one `chat {model}` span per
# call (`gen_ai.provider.name`, `gen_ai.usage.*`, `error.type`, ...), a child span per attempt
# placed at its real start and end, span events for the layers' decisions (`llmkit.retry`,
# `llmkit.fallback`, `llmkit.cache.hit`, breaker changes), and the two GenAI client metrics.
# Here the SDK's in-memory exporter and reader stand in for an OTLP collector; the README shows
# the three lines that send it to one. Replayed: the Gemini `retry-after` cassette (two 429s
# whose wait is in the body's `RetryInfo`, then an answer).

# %%
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmkit import OpenTelemetrySink

spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
otel = OpenTelemetrySink(
    tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader])
)
gemini = cassette("gemini", "retry-after")
gcall = load_cassette(gemini).meta.calls[0]
with replay(gemini, clock=VirtualClock()) as rec:
    gclient = Client(
        "gemini",
        transport=rec.transport(),
        base_url="http://127.0.0.1/v1beta",
        api_key="sim-placeholder",
        clock=rec.clock,
        telemetry=otel,
    )
    gclient.send(request_from_data(gcall.request))

finished = sorted(spans.get_finished_spans(), key=lambda s: s.start_time or 0)
t0 = finished[0].start_time or 0
for s in finished:
    a = dict(s.attributes or {})
    print(
        f"{s.name:24} +{((s.start_time or 0) - t0) / 1e9:6.3f}s "
        f"{((s.end_time or 0) - (s.start_time or 0)) / 1e9:6.3f}s  "
        f"error.type={a.get('error.type', '-'):10} "
        f"tokens in/out={a.get('gen_ai.usage.input_tokens', '-')}/"
        f"{a.get('gen_ai.usage.output_tokens', '-')}"
    )
[call_span] = [s for s in finished if s.name.startswith("chat ")]
print("events on the call span:", [(e.name, dict(e.attributes or {})) for e in call_span.events])
metric_names = sorted(
    m.name
    for rm in reader.get_metrics_data().resource_metrics  # type: ignore[union-attr]
    for sm in rm.scope_metrics
    for m in sm.metrics
)
print("metrics:", metric_names)
exported = " ".join(s.to_json() for s in finished)
assert gcall.request["messages"][0]["content"] not in exported, "no prompt text in spans"
assert len(finished) == 4, "one call span and three attempt spans"
assert sum(e.name == "llmkit.retry" for e in call_span.events) == 2
assert metric_names == ["gen_ai.client.operation.duration", "gen_ai.client.token.usage"]

# %% [markdown]
# The two 429s are child spans marked `error.type=rate_limit`, each followed by a
# `llmkit.retry` event on the call span saying how long the client waited; the call span
# itself carries the answer's tokens and no error. No prompt or answer text leaves the process.

# %% [markdown]
# ## Explore: move the knobs
#
# Section 2's chart as a function of its knobs: the bin width and which provider's records
# to count. In JupyterLab the panel redraws it when you release a knob (the day is replayed
# once and kept) and prints the redraw time; the executed copy shows the default knobs.

# %% tags=["experiment"]
from llmkit.panel import explore

KIND_PALETTE = ["#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2"]


def experiment(bin_minutes=10, provider="all"):
    """Errors per bin by kind: naive calls, pattern calls, pattern attempts."""
    naive, pattern = day_frames()
    if provider != "all":
        naive, pattern = (df[df["provider"] == provider] for df in (naive, pattern))
    kinds = sorted(set(naive["error_type"].dropna()) | set(pattern["error_type"].dropna()))
    colors = dict(zip(kinds, KIND_PALETTE, strict=False))
    bin_s = bin_minutes * 60
    end = int(pattern["t_s"].max() // bin_s) + 1
    fig, axes = figure(
        3, width=4.4, sharey=True, title=f"Errors per {bin_minutes} minutes ({provider} providers)"
    )
    for ax, df, record, title in (
        (axes[0], naive, "call", "naive: failed calls"),
        (axes[1], pattern, "call", "pattern: failed calls"),
        (axes[2], pattern, "attempt", "pattern: failed attempts"),
    ):
        rows = df[(df["kind"] == record) & df["error_type"].notna()]
        table = rows.groupby([rows["t_s"] // bin_s, "error_type"]).size().unstack(fill_value=0)
        table = table.reindex(range(end), fill_value=0)
        bottom = np.zeros(end)
        for kind in table.columns:
            ax.bar(np.arange(end) * bin_minutes, table[kind], width=bin_minutes * 0.9,
                   align="edge", bottom=bottom, color=colors[kind], label=kind)  # fmt: skip
            bottom += table[kind].to_numpy()
        ax.set_title(f"{title}: {len(rows)}", fontsize=10)
        ax.set_xlabel(f"minutes since start ({bin_minutes}-minute bins)")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("failed records (count)")
    axes[2].legend(title="error.type", fontsize=8)
    source(fig, "replayed cassette mixed/day-of-traffic")
    return fig


# %%
explore(experiment, bin_minutes=(1, 30, 1), provider=["all", "openai", "anthropic"])

# %% [markdown]
# ## What to tune
#
# * **Which sink**: `JSONLSink` for files and log shippers, `LoggingSink` to reuse your logging
#   set-up (the record dict is also in `extra={"llmkit": ...}`), your own class with one `emit`
#   method for metrics (e.g. a Prometheus histogram of `latency` by `request_model`,
#   a counter of `error_type`). A failing sink never fails the call.
# * **Tags** (`tags={"feature": "summarise", "tenant": "acme"}` on a call) become
#   `llmkit.tags.*` columns: the dimensions your incident review will ask for.
# * **What to alert on**: attempt-level error rate by `error.type` and provider (early
#   warning), call-level error rate (user impact), `llmkit.retry.budget_denied` (you are in an
#   outage), p95 latency per model (a slow tail is an incident too).
#
# **Pitfalls.** Logging raw requests or responses leaks prompts, personal data and — via
# headers — keys; use the fingerprint to group identical requests. Averages hide tails:
# always chart percentiles or distributions. Call latency includes retries and waits; use
# attempt records to see what the provider did.
#
# ## Exercises
#
# 1. Using the attempt records of `pattern`, find the exact start and end of the Anthropic
#    incident (first and last `overloaded` attempt from `anthropic`). Does it match the
#    five-minute incident the cassette's description (printed at the top) promises? Why can
#    attempt records only ever give a lower bound on an incident's length?
# 2. Write a sink that keeps a running p95 of `latency` per `request_model` (a sorted list per
#    model is fine) and replay the day through it. When during the day is each model slowest?
# 3. Re-run section 2 with 1-minute bins. Which error kinds come in bursts and which are
#    spread evenly? What does that say about how you should alert on each?
#
# ## Takeaways
#
# 1. Record every attempt, not only every call: retries hide most faults from users, and
#    from you too unless attempt records show them.
# 2. One closed set of error kinds across providers makes one dashboard and one alert rule.
# 3. Tails come from faults as much as from models: chart distributions, and know how many
#    calls a percentile stands on. Never log prompts or keys; a fingerprint groups requests.
#
# **Next:** [04 · Fallbacks and degradation](04_fallbacks_and_degradation.ipynb) — what to do
# when retries are not enough.

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
