"""A canary prompt never appears in the cost rows: budget, quota and cascade columns, events
and refusals carry counts, dollars and names, never what was asked."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest

import llmkit
from llmkit.cassettes.runner import BASE_URLS, SIM_KEY
from llmkit.clock import VirtualClock
from llmkit.errors import LLMError, QuotaUnavailableError
from llmkit.quota import MemoryQuotaStore
from llmkit.sim import SimTransport, Simulator, get_scenario
from llmkit.telemetry import JSONLSink, LoggingSink, MemorySink

CANARY = "canary-prompt-" + "Vx9Lq3" * 5  # built at run time, unique enough to grep for
FORMAT = {"type": "json_schema", "json_schema": {"name": "t", "schema": {
    "type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}}  # fmt: skip


class _Down:
    def reserve(self, charges: object, *, now: float) -> None:
        raise QuotaUnavailableError("store down")

    adjust = reserve

    def used(self, key: str, *, now: float) -> int:
        raise QuotaUnavailableError("store down")


def test_canary_prompt_is_in_no_cost_row(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock()
    scenario = get_scenario("healthy").with_(quality=(("mini", 0.5),))
    jsonl = tmp_path / "rows.jsonl"
    memory = MemorySink()
    sinks = [memory, JSONLSink(jsonl), LoggingSink()]
    errors: list[str] = []
    layers_sets: list[list[object]] = [
        [
            llmkit.BudgetLayer(
                llmkit.RequestBudget(
                    max_input_tokens=50_000, max_output_tokens=80, max_cost=Decimal("1")
                )
            )
        ],
        [llmkit.BudgetLayer(llmkit.RequestBudget(max_input_tokens=5))],  # refuses
        [llmkit.QuotaLayer([llmkit.QuotaLimit("job", "lifetime", tokens=100)], MemoryQuotaStore())],
        [llmkit.QuotaLayer([llmkit.QuotaLimit("job", tokens=10)], _Down(), fail_open=True)],
        [llmkit.Cascade(["gpt-4o-mini", "gpt-4o"], validate={"type": "object", "required": ["a"]})],
    ]
    caplog.set_level(logging.DEBUG)
    for layers in layers_sets:
        client = llmkit.Client("openai", transport=SimTransport(Simulator(scenario, clock, seed=1)),
                               api_key=SIM_KEY, base_url=BASE_URLS["openai"], clock=clock,
                               telemetry=sinks, layers=layers)  # fmt: skip
        with client:
            for i in range(6):
                try:
                    client.chat(model="gpt-4o-mini", response_format=FORMAT, max_tokens=60,
                                messages=[{"role": "user", "content": f"{CANARY} {i}"}],
                                tags={"job": "j", "account": "a"})  # fmt: skip
                except LLMError as err:
                    errors.append(f"{err!s} {err!r}")
    sinks[1].close()  # type: ignore[attr-defined]
    rows = [r.as_dict() for r in memory.records] + [e.as_dict() for e in memory.events()]
    kinds = {r.get("error.type") for r in rows}
    assert {"over_budget", "over_quota"} <= kinds  # refusals happened and were recorded
    assert any("llmkit.cascade.route" in r for r in rows)
    assert memory.events()  # the fail-open event
    assert errors
    blob = json.dumps(rows, default=str) + jsonl.read_text() + caplog.text + "".join(errors)
    assert CANARY not in blob
    assert "Vx9Lq3" not in blob
