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
# # 07 · Token budgets and the cost of every call
#
# **The production failure.** The bill arrives and nobody can say which feature spent it. A
# user pastes a 300-page PDF into a chat box and one request costs more than a day of normal
# traffic; a loop that appends to the history sends ever longer prompts; `max_tokens` is left
# unset and a chatty model writes 4,000 tokens where 200 would do. Telemetry has token counts
# but no dollars, because prices live in a spreadsheet someone typed two years ago.
#
# **The pattern.**
#
# * **Estimate before sending.** `llmkit.estimate_input_tokens(provider, body)` reads the JSON
#   body as it goes on the wire and returns an input-token count meant as an upper bound: it
#   counts words the way tokenizers split them and models what the text does not show
#   (per-message framing, tool definitions, structured-output schemas, images by size).
# * **A budget per request** (`BudgetLayer(RequestBudget(...))`): over the input cap the call
#   is refused *before any network call* with a typed `OverBudgetError` (kind `over_budget`,
#   never retried); `max_tokens` is set or lowered to the output cap; an optional dollar cap
#   prices the worst case.
# * **Cost per call** from a maintained price database (`genai-prices`, pinned): a `Decimal`
#   on `ChatResponse.cost`, priced at the call's own time, `None` when the model is unpriced
#   (never a made-up 0), OpenRouter's own reported cost preferred. Every telemetry record
#   carries it (`llmkit.cost`, a float so rows stay plain JSON).
#
# **Data.** Sections 1 and 3 replay the committed cassette `mixed/day-of-traffic` (300 calls,
# two providers, four models, recorded from the simulator). Section 2 drives the in-process
# simulator. The simulator counts a prompt's tokens as characters / 4 with no framing, so its
# "actual" is itself an approximation; the estimator's error against **real** provider counts
# is measured by `benchmarks/token_estimate.py` on 48 real recordings (other projects' data,
# not shipped here), and quoted in section 1. Prices are those of the pinned `genai-prices`
# database at each call's (recorded, virtual) time.

# %%
import time
from decimal import Decimal

import numpy as np
import pandas as pd

from llmkit import (
    BudgetLayer,
    Client,
    ModelRates,
    OverBudgetError,
    PriceBook,
    RequestBudget,
    Usage,
    VirtualClock,
    estimate_input_tokens,
)
from llmkit.cassettes import load_cassette
from llmkit.cassettes.runner import BASE_URLS, SIM_KEY
from llmkit.cassettes.workload import request_from_data
from llmkit.charts import COLORS, cassette, figure, replay_frame, source
from llmkit.providers import adapter_for
from llmkit.sim import SimTransport, Simulator
from llmkit.telemetry import fingerprint
from llmkit.tokens import estimate_request_tokens

pd.set_option("display.width", 120)
started = time.perf_counter()

# %% [markdown]
# ## 1. Estimate vs what was billed
#
# What `estimate_input_tokens` sees is the wire body: here the one each adapter builds for a
# recorded call of the day. A first look at one body:

# %%
body = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Summarise the incident report in two sentences."}],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "lookup_ticket",
                "description": "Fetch a support ticket by id",
                "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
            },
        }
    ],
}
plain = {k: v for k, v in body.items() if k != "tools"}
print("without tools:", estimate_input_tokens("openai", plain))
print("with one tool:", estimate_input_tokens("openai", body))
print("same, sent to Claude:", estimate_input_tokens("anthropic", {
    "model": "claude-haiku-4-5", "max_tokens": 100, "messages": body["messages"],
    "tools": [{"name": "lookup_ticket", "input_schema": {"type": "object"}}]}))  # fmt: skip

# %% [markdown]
# One tool costs a few dozen tokens on OpenAI (it is rendered as a compact type signature) and
# several hundred on Anthropic (tool use adds a system prompt). A characters-divided-by-four
# rule misses both. Now every call of the replayed day, estimate against the input tokens the
# (simulated) provider reported:

# %%
PATH = cassette("mixed", "day-of-traffic")
meta = load_cassette(PATH).meta
DATA = (
    f"replayed cassette mixed/day-of-traffic (scenario {meta.provenance.scenario}, "
    f"seed {meta.provenance.seed}); prices: genai-prices (pinned) at each call's time"
)
day = replay_frame(PATH)
calls = day[day["kind"] == "call"].reset_index(drop=True)

rows = []
for rec in meta.calls:
    req = request_from_data(rec.request)
    adapter = adapter_for(rec.provider, api="responses" if rec.api == "responses" else None)
    rows.append(
        {
            "fingerprint": fingerprint(req),
            "workflow": req.messages[-1].content.split()[0].lower(),
            "estimate": estimate_request_tokens(req, rec.provider, adapter),
        }
    )
asked = pd.DataFrame(rows).drop_duplicates("fingerprint")
calls = calls.merge(asked, on="fingerprint", how="left")
measured = calls.dropna(subset=["input_tokens"])
err = (measured["estimate"] - measured["input_tokens"]) / measured["input_tokens"]
print(f"{len(measured)} calls with reported input tokens; estimate - reported, relative:")
print(err.describe(percentiles=[0.1, 0.5, 0.9]).round(3).to_string())
assert (err >= 0).all(), "the estimate is an upper bound on every simulated call"

# %%
fig, (hist, scatter) = figure(2, title="Input-token estimate vs reported, one replayed day")
hist.hist(err * 100, bins=20, color=COLORS["pattern"])
hist.axvline(0, color=COLORS["naive"], lw=1)
hist.set_xlabel("estimate error, (estimate - reported) / reported (%)")
hist.set_ylabel("calls (count)")
hist.set_title("error distribution (right of 0 = over)")
hist.grid(alpha=0.3)
scatter.scatter(measured["input_tokens"], measured["estimate"], s=10, color=COLORS["other"])
top = float(max(measured["input_tokens"].max(), measured["estimate"].max())) * 1.1
scatter.plot([0, top], [0, top], color=COLORS["naive"], lw=1, label="estimate = reported")
scatter.set_xlabel("input tokens reported by the simulator (count)")
scatter.set_ylabel("input tokens estimated (count)")
scatter.set_title("each call")
scatter.legend(fontsize=8)
scatter.grid(alpha=0.3)
source(fig, DATA + "; the simulator counts prompt characters / 4 without framing")

# %% [markdown]
# Against the simulator the estimate is above the count on every call: the gap is mostly the
# per-message framing real providers bill and the simulator leaves out. Against **real**
# traffic -- 48 recordings from OpenAI (Chat and Responses, Azure included), Anthropic
# (messages and `count_tokens`) and OpenRouter, with tools, schemas, thinking and cached
# prompts among them -- `python benchmarks/token_estimate.py` printed, on 2026-11-29:
# **0 of 48 underestimated**, median overestimate **+20%**, p90 **+44%**, max **+76%**
# (a structured-output request to Claude through OpenRouter, whose hidden prompt varies by
# upstream). A test holds the floor: at most 1 recording in 20 under, never by more than 10%.
#
# ## 2. A per-request budget, naive vs pattern
#
# A runaway request: a 50,000-word document pasted into a prompt. Naively it is sent and
# billed; with a `BudgetLayer` it is refused before any byte leaves, and a normal request gets
# its `max_tokens` capped.

# %%
SEED = 7
PASTED = "The quarterly report shows that revenue grew in every region we serve. " * 4000
RUNAWAY = [{"role": "user", "content": "Summarise this: " + PASTED}]
NORMAL = [{"role": "user", "content": "Summarise the incident report in two sentences."}]


def sim_client(*layers: object) -> tuple[Client, Simulator]:
    clock = VirtualClock()
    sim = Simulator("healthy", clock, seed=SEED)
    client = Client("openai", transport=SimTransport(sim), api_key=SIM_KEY, clock=clock,
                    base_url=BASE_URLS["openai"], layers=list(layers))  # fmt: skip
    return client, sim


naive_client, naive_sim = sim_client()
r = naive_client.chat(model="gpt-4o", messages=RUNAWAY)
print(f"naive: sent; billed {r.usage.input_tokens:,} input tokens, ${r.cost:.4f}")

budget = RequestBudget(max_input_tokens=8_000, max_output_tokens=300, max_cost=Decimal("0.05"))
guarded, guarded_sim = sim_client(BudgetLayer(budget))
try:
    guarded.chat(model="gpt-4o", messages=RUNAWAY)
except OverBudgetError as e:
    refusal = e
    print(f"pattern: refused before sending: {e}")
ok = guarded.chat(model="gpt-4o", messages=NORMAL)
print(f"normal request: {ok.usage.output_tokens} output tokens (cap 300), ${ok.cost:.6f}")
assert refusal.kind == "over_budget"
assert guarded_sim.requests == 1  # only the normal request reached the provider
assert r.cost is not None
assert r.cost > budget.max_cost  # what the naive client paid for the runaway alone

# %% [markdown]
# ## 3. Cost per call, per model and per workflow
#
# Every call record of the replayed day carries `cost` (dollars, `None` when unpriced). A
# call that failed before any token is unpriced: nothing says it was billed. A stream cut
# part-way is priced by what it generated (`llmkit.usage.source` says whether those counts
# came from the provider or from llmkit's own count; notebook 08 charges them to a quota).
# Grouped by model, and by workflow (here: the first word of the prompt, standing in for a
# `workflow` tag):

# %%
priced = calls.dropna(subset=["cost"])
unpriced = int(calls["cost"].isna().sum())
print(f"{len(priced)} calls priced, {unpriced} unpriced (failed calls report no usage)")
assert calls.loc[calls["cost"].isna(), "error_type"].notna().all()  # only failures unpriced
print("usage source of the priced calls:", priced["usage_source"].value_counts().to_dict())
by_model = calls.groupby(["provider", "request_model"]).agg(
    calls=("cost", "size"), dollars=("cost", "sum"), input_tokens=("input_tokens", "sum")
)
by_model["$ per 1k calls"] = by_model["dollars"] / by_model["calls"] * 1000
by_workflow = calls.groupby("workflow").agg(calls=("cost", "size"), dollars=("cost", "sum"))
by_workflow["share"] = by_workflow["dollars"] / by_workflow["dollars"].sum()
print(by_model.round(5).to_string())
by_workflow.sort_values("dollars", ascending=False).round(5)

# %%
fig, (models, flows) = figure(2, title="Where one day's money went")
by_model["dollars"].sort_values().plot.barh(ax=models, color=COLORS["other"])
models.set_xlabel("dollars (USD)")
models.set_ylabel("")
models.set_title("by provider and model")
models.grid(alpha=0.3)
cum = priced.sort_values("t_s")
flows.plot(cum["t_s"] / 60, cum["cost"].cumsum(), color=COLORS["pattern"])
flows.set_xlabel("time (virtual minutes)")
flows.set_ylabel("dollars spent, cumulative (USD)")
flows.set_title("spend over the day")
flows.grid(alpha=0.3)
source(fig, DATA)

# %% [markdown]
# ## 4. Cached input tokens, in dollars
#
# Providers bill a cached prompt prefix at a fraction of the input rate. With the price book,
# the saving is a figure, not a token count: the same usage priced as reported, and as if
# nothing had been cached.

# %%
book = PriceBook()
AT = VirtualClock().wall()  # the replay's (virtual) date: 2026-01-01
USAGE = Usage(input_tokens=12_000, output_tokens=300, cache_read_tokens=10_240)
cases = {"gpt-4o-mini": ("openai", USAGE), "claude-haiku-4-5": ("anthropic", USAGE)}
saving = []
for model, (provider, usage) in cases.items():
    cached = book.cost(provider, model, usage, at=AT)
    uncached = book.cost(provider, model, Usage(usage.input_tokens, usage.output_tokens), at=AT)
    assert cached is not None
    assert uncached is not None
    saved = uncached - cached
    saving.append({"model": model, "cached $": cached, "uncached $": uncached,
                   "saved $": saved, "saved %": float(saved / uncached)})  # fmt: skip
saving_df = pd.DataFrame(saving).set_index("model")
assert (saving_df["saved $"] > 0).all()
saving_df

# %%
fig, (bars,) = figure(1, title="One 12k-token call with a 10k-token cached prefix", width=7)
x = np.arange(len(saving_df))
bars.bar(x - 0.2, saving_df["uncached $"].astype(float), 0.4, color=COLORS["naive"],
         label="no prompt cache")  # fmt: skip
bars.bar(x + 0.2, saving_df["cached $"].astype(float), 0.4, color=COLORS["pattern"],
         label="cached prefix")  # fmt: skip
bars.set_xticks(x, saving_df.index)
bars.set_ylabel("dollars per call (USD)")
bars.legend(fontsize=8)
bars.grid(alpha=0.3)
source(fig, "genai-prices (pinned) rates at 2026-01-01; usage figures chosen for illustration")

# %% [markdown]
# ## What to tune
#
# * **`RequestBudget`**: `max_input_tokens` from the largest prompt a feature legitimately
#   sends (the estimate is ~20% high, so leave that headroom); `max_output_tokens` from the
#   longest useful answer; `max_cost` where one request must never exceed a figure.
# * **Exact counts**: where a provider offers a counting endpoint (Anthropic
#   `/v1/messages/count_tokens`, OpenAI `/v1/responses/input_tokens`, Gemini `:countTokens`)
#   a budget can call it via `BudgetLayer(counter=...)`, at the price of a round trip. A Gemini
#   request naming a `cachedContent` needs it: the cached prompt is on the server, so the
#   estimate of such a request is only a lower bound.
# * **Prices**: `PriceBook(overrides={...})` for fine-tunes and negotiated rates; the database
#   is pinned, so upgrade `genai-prices` deliberately and re-price history if you must.
# * **Watch**: `llmkit.cost` per call and per tag; the `llmkit.budget.*` columns (decision,
#   estimate, cap) on every call through a budget.
#
# **Pitfalls.** An estimate is not a count: budgets set exactly at a provider's context window
# will still see `context_length` errors now and then. A `None` cost is information (an
# unpriced model), not zero: sum with care.
#
# ## Exercises
#
# 1. Add `response_format` with a JSON schema to the body in section 1. How many tokens does
#    the schema add, for OpenAI and for Claude (`output_config.format`)?
# 2. Lower `max_cost` in section 2 until the *normal* request is capped below 300 output
#    tokens. Which figure in `BudgetOutcome` shows it?
# 3. Price the replayed day with a `PriceBook` that overrides `gpt-4o` at half price. Which
#    workflow's share changes most?
# 4. Replay the day at a different date (`VirtualClock(start=...)` in `replay_frame` is fixed;
#    use `PriceBook.cost(..., at=...)` on the call records). Does any price differ?

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
