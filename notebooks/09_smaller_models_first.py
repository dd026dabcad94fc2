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
# # 09 · Smaller models first
#
# **The production failure.** Every request goes to the biggest model "to be safe": ticket
# routing, classification, extracting three fields from an email. Most of those a model ten
# times cheaper gets right, but nobody can say *how* often, so nobody dares to switch, and the
# bill is ten times what it needs to be.
#
# **The pattern** (`llmkit.Cascade`): ask the small model first, **validate** its answer (a
# pydantic model, a JSON schema, or any check), and escalate to the next model only when the
# answer fails validation or the small model errs. The call costs the small model's price
# when it is right, and both prices when it is not; telemetry records the route
# (`llmkit.cascade.route`), the escalations and the cost of every step.
#
# This is the opposite move to `SmallerModel` in notebook 04: that one *degrades* to a smaller
# model when everything else failed (worse, but an answer); a cascade starts small and
# *escalates* on a bad answer (cheaper, when it can be).
#
# **Data.** Everything here runs the in-process simulator (scenario `healthy`, seed 11) on a
# virtual clock. How often the small model's answer fails validation is a **simulated** knob
# (`Scenario.quality`), not a measurement of any real model: the charts show how cost and
# latency move with that rate, so you can put your own measured rate in.

# %%
import time

import numpy as np
import pandas as pd
import pydantic

from llmkit import Cascade, Client, VirtualClock
from llmkit.cassettes.runner import BASE_URLS, SIM_KEY
from llmkit.charts import COLORS, figure, frame, percentiles, source
from llmkit.sim import SimTransport, Simulator, get_scenario
from llmkit.telemetry import MemorySink

pd.set_option("display.width", 120)
started = time.perf_counter()
SEED = 11
SMALL, LARGE = "gpt-4o-mini", "gpt-4o"
CALLS = 200


class Ticket(pydantic.BaseModel):
    """What the router needs from each support ticket."""

    team: str
    urgency: int


SCHEMA = {
    "type": "object",
    "properties": {
        "team": {"type": "string", "enum": ["billing", "bugs", "accounts", "other"]},
        "urgency": {"type": "integer"},
    },
    "required": ["team", "urgency"],
    "additionalProperties": False,
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "ticket", "schema": SCHEMA}}


def run(small_failure_rate: float, *, cascade: bool) -> pd.DataFrame:
    """CALLS ticket classifications, one every 3 virtual seconds; call records as a frame."""
    clock = VirtualClock()
    scenario = get_scenario("healthy").with_(quality=((SMALL, small_failure_rate),))
    sink = MemorySink()
    layers = [Cascade([SMALL, LARGE], validate=Ticket)] if cascade else []
    client = Client("openai", transport=SimTransport(Simulator(scenario, clock, seed=SEED)),
                    api_key=SIM_KEY, base_url=BASE_URLS["openai"], clock=clock,
                    telemetry=sink, layers=layers)  # fmt: skip
    origin = clock.wall()
    with client:
        for i in range(CALLS):
            clock.set(i * 3.0)
            ask = [{"role": "user", "content": f"Route ticket #{i}"}]
            reply = client.chat(model=LARGE, messages=ask, response_format=FORMAT, max_tokens=60)
            Ticket.model_validate_json(reply.text)  # every answer the caller gets is valid
    df = frame(sink, origin=origin)
    calls = df[df["kind"] == "call"].copy()
    if cascade:
        calls["escalated"] = calls["extra"].map(lambda x: x["llmkit.cascade.escalations"] > 0)
    else:
        calls["escalated"] = False
    return calls


# %% [markdown]
# ## 1. Always large vs the cascade, at a 15% simulated failure rate

# %%
RATE = 0.15
large = run(RATE, cascade=False)
casc = run(RATE, cascade=True)


def summary(calls: pd.DataFrame) -> dict[str, float]:
    p50, p95, _ = percentiles(calls["latency"])
    return {
        "dollars": float(calls["cost"].sum()),
        "$ per 1k calls": float(calls["cost"].sum()) / len(calls) * 1000,
        "p50 latency (s)": p50,
        "p95 latency (s)": p95,
        "escalation rate": float(calls["escalated"].mean()),
    }


table = pd.DataFrame({"naive: always large": summary(large), "pattern: cascade": summary(casc)}).T
print(casc["extra"].map(lambda x: x["llmkit.cascade.route"]).value_counts().to_string())
assert table.loc["pattern: cascade", "dollars"] < table.loc["naive: always large", "dollars"]
table.round(4)

# %% [markdown]
# Every answer the caller got passed validation in both runs (the notebook checks each one);
# the cascade paid for the small model on every call and for the large one on the calls it
# escalated (the table's escalation rate: the knob is a probability, so the share drawn over
# 200 calls is near, not at, 15%). Escalated calls are slower: two answers in a row.
#
# ## 2. Cost and latency against the escalation rate
#
# The same workload with the small model's simulated failure rate swept from 0 to 100%.

# %%
rates = [0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0]
rows = []
for rate in rates:
    s = summary(run(rate, cascade=True))
    rows.append({"failure rate (simulated)": rate, **s})
sweep = pd.DataFrame(rows).set_index("failure rate (simulated)")
base = summary(large)
sweep.round(4)

# %%
fig, (cost_ax, lat_ax) = figure(2, title="Cascade vs always-large, by escalation rate")
x = sweep["escalation rate"] * 100
cost_ax.plot(x, sweep["$ per 1k calls"], marker="o", color=COLORS["pattern"],
             label="pattern: cascade")  # fmt: skip
cost_ax.axhline(base["$ per 1k calls"], color=COLORS["naive"], ls="--", label="naive: always large")
cost_ax.set_xlabel("escalation rate (% of calls, simulated)")
cost_ax.set_ylabel("dollars per 1,000 calls (USD)")
cost_ax.set_title("cost")
cost_ax.legend(fontsize=8)
cost_ax.grid(alpha=0.3)
lat_ax.plot(x, sweep["p50 latency (s)"], marker="o", color=COLORS["pattern"], label="cascade p50")
lat_ax.plot(x, sweep["p95 latency (s)"], marker="s", color=COLORS["other"], label="cascade p95")
lat_ax.axhline(base["p50 latency (s)"], color=COLORS["naive"], ls="--", label="always large p50")
lat_ax.axhline(base["p95 latency (s)"], color=COLORS["naive"], ls=":", label="always large p95")
lat_ax.set_xlabel("escalation rate (% of calls, simulated)")
lat_ax.set_ylabel("latency (virtual s)")
lat_ax.set_title("latency")
lat_ax.legend(fontsize=7)
lat_ax.grid(alpha=0.3)
source(fig, f"simulator scenario 'healthy' with quality knob ({SMALL}, rate), seed {SEED}; "
       "failure rates are simulated, prices from genai-prices (pinned)")  # fmt: skip

# %%
cheaper = sweep[sweep["$ per 1k calls"] < base["$ per 1k calls"]]
limit = float(cheaper["escalation rate"].max()) if len(cheaper) else 0.0
ratio = sweep["$ per 1k calls"].iloc[-1] / base["$ per 1k calls"]
print(
    f"the cascade is cheaper than always-large up to an escalation rate of about {limit:.0%} "
    f"in this sweep; at 100% it costs {ratio:.2f}x"
)
assert np.isclose(sweep["escalation rate"].iloc[0], 0.0)
assert sweep["escalation rate"].iloc[-1] == 1.0

# %% [markdown]
# The cost line climbs with the escalation rate and crosses the always-large line only near
# 100%, because the small model is so much cheaper; latency is what a high escalation rate
# really costs (an escalated call waits for two answers). Measure your small model's
# validation failure rate on real traffic (the `llmkit.cascade.route` column gives it) and
# read both charts at that point.
#
# ## What to tune
#
# * **The validator** decides everything: make it as strict as the downstream code (the same
#   pydantic model it parses into). A lax check escalates too little and passes bad answers on.
# * **The order**: cheapest first; more than two steps pays off only when the middle model
#   catches most of what the first misses.
# * **Latency budget**: an escalation is a second full call; give the call's `deadline` room
#   for it, or put latency-critical paths on the large model directly.
# * **Watch**: the escalation rate per workflow (`llmkit.cascade.escalations`), the route, and
#   `llmkit.cost` per call (the sum over every step).
#
# ## Exercises
#
# 1. Add a third, even smaller model at the front with a 40% failure rate. Does the total cost
#    go down? What happens to p95 latency?
# 2. Replace `validate=Ticket` with a check that also rejects `urgency > 5`. How does the
#    escalation rate change at a 0% simulated failure rate, and why?
# 3. Combine the cascade with a `FallbackLayer` whose last step is `SmallerModel`: which one
#    runs when the large model is down?
# 4. At what escalation rate would the cascade cost the same as always-large if the small
#    model cost half of what it does here? Compute it from the prices, then check it.

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s of real time")
