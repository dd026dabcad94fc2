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

import pandas as pd

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
# Replay the day twice: **naive** (one attempt per call, no retries) and the **pattern**
# (the retry policy it was recorded with). Each replay returns its telemetry as a DataFrame.
# Here is what one failed-then-retried call looks like — the attempts and the call that
# summarises them:

# %%
naive = replay_frame(day, retry=False)
pattern = replay_frame(day)
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
# provider, so one dashboard covers OpenAI's 503 and Anthropic's 529.

# %%
BIN_S = 600  # 10-minute buckets


def errors_by_bin(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    rows = df[(df["kind"] == kind) & df["error_type"].notna()]
    table = (
        rows.groupby([rows["t_s"] // BIN_S * BIN_S / 60, "error_type"]).size().unstack(fill_value=0)
    )
    full = pd.RangeIndex(0, int(df["t_s"].max() // BIN_S) + 1) * BIN_S / 60
    return table.reindex(full, fill_value=0)


kinds = sorted(set(naive["error_type"].dropna()) | set(pattern["error_type"].dropna()))
palette = dict(
    zip(kinds, ["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"], strict=False)
)
fig, (left, right) = figure(2, title="Failed calls per 10 minutes, by error kind", sharey=True)
for ax, df, title in (
    (left, naive, "naive (no retries): calls that failed for the user"),
    (right, pattern, "pattern (retries): calls that still failed for the user"),
):
    table = errors_by_bin(df, "call")
    table = table.reindex(columns=[k for k in kinds if k in table.columns])
    table.plot.bar(ax=ax, stacked=True, width=0.9, color=[palette[k] for k in table.columns], rot=0)
    ax.set_xlabel("time since start (minutes, 10-minute bins)")
    ax.set_ylabel("failed calls (count)")
    ax.set_title(title)
    ax.set_xticks(range(len(table)), [f"{m:.0f}" for m in table.index])
    ax.legend(title="error.type", fontsize=8)
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
summary

# %% [markdown]
# The naive client shows every transient fault to a user — a scattering of rate limits, 5xx,
# resets and timeouts all day, plus the burst of `overloaded` during the Anthropic incident
# (the `overloaded` bars). With retries almost all of them disappear for users; what remains
# (printed above the table) is the incident, where the recorded three attempts were not enough.
# The **attempt** records still show every fault the provider produced (third column): retries
# hide failures from users, so without attempt-level telemetry they would also hide them from
# *you*, until the day the retries stop being enough.
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
# median; the large ones take seconds and have the longer tail. Retries pull the failures
# (the naive curves' far-left and far-right steps: instant 5xx, 20 s timeouts) into successes
# that take longer: the pattern's tail is *honest* latency the user waited through. Route
# latency-sensitive features to the model whose p95 — not p50 — fits your budget.
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
first = meta.calls[0]
clock = VirtualClock()
with replay(day, clock=clock, strict=False) as rec:
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

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
