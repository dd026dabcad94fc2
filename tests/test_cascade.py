"""Cascade: the small model first, escalate on a failed validation or an error; the simulator's
per-model quality knobs drive the failures."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pydantic
import pytest

import llmkit
from llmkit.cassettes.runner import BASE_URLS, SIM_KEY
from llmkit.clock import VirtualClock
from llmkit.errors import InvalidResponseError
from llmkit.sim import SimTransport, Simulator, get_scenario
from llmkit.telemetry import MemorySink
from llmkit.testing import Scripted, ScriptedTransport

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["billing", "bug", "other"]},
                   "urgency": {"type": "integer"}},
    "required": ["label", "urgency"],
    "additionalProperties": False,
}  # fmt: skip
FORMAT = {"type": "json_schema", "json_schema": {"name": "ticket", "schema": SCHEMA}}


class Ticket(pydantic.BaseModel):
    label: str
    urgency: int


Quality = tuple[tuple[str, float], ...]


def _sim_client(quality: Quality, *layers: Any) -> tuple[llmkit.Client, MemorySink]:
    clock = VirtualClock()
    scenario = get_scenario("healthy").with_(quality=quality)
    sink = MemorySink()
    client = llmkit.Client("openai", transport=SimTransport(Simulator(scenario, clock, seed=3)),
                           api_key=SIM_KEY, base_url=BASE_URLS["openai"], clock=clock,
                           telemetry=sink, layers=list(layers))  # fmt: skip
    return client, sink


def _ask(client: llmkit.Client, i: int) -> llmkit.ChatResponse:
    return client.chat(model="gpt-4o", messages=[{"role": "user", "content": f"Ticket #{i}"}],
                       response_format=FORMAT, max_tokens=100)  # fmt: skip


def test_simulator_quality_knob_sets_the_failure_rate() -> None:
    client, _ = _sim_client((("mini", 0.3),))
    bad = 0
    for i in range(200):
        reply = client.chat(model="gpt-4o-mini", response_format=FORMAT, max_tokens=100,
                            messages=[{"role": "user", "content": f"Ticket #{i}"}])  # fmt: skip
        try:
            Ticket.model_validate_json(reply.text)
        except pydantic.ValidationError:
            bad += 1
    assert 40 <= bad <= 80  # 30% of 200, simulated
    good = client.chat(model="gpt-4o", response_format=FORMAT, max_tokens=100,
                       messages=[{"role": "user", "content": "Ticket #1"}])  # fmt: skip
    Ticket.model_validate_json(good.text)  # no knob for gpt-4o: always valid


@pytest.mark.parametrize(
    "validate", [Ticket, SCHEMA, lambda r: set(json.loads(r.text)) == {"label", "urgency"}]
)
def test_cascade_escalates_only_on_invalid_answers(validate: Any) -> None:
    cascade = llmkit.Cascade(["gpt-4o-mini", "gpt-4o"], validate=validate)
    client, sink = _sim_client((("mini", 0.3),), cascade)
    for i in range(60):
        Ticket.model_validate_json(_ask(client, i).text)  # every answer returned is valid
    rows = [c.as_dict() for c in sink.calls()]
    routes = [r["llmkit.cascade.route"] for r in rows]
    escalated = sum(r["llmkit.cascade.escalations"] for r in rows)
    assert all(rt in ("gpt-4o-mini=ok", "gpt-4o-mini=invalid>gpt-4o=ok") for rt in routes)
    assert 5 <= escalated <= 35
    for row, call in zip(rows, sink.calls(), strict=True):
        assert call.cost is not None  # the cascade total (both steps when escalated)
        assert row["llmkit.cost"] == call.cost


def test_cascade_cost_sums_every_step() -> None:
    cascade = llmkit.Cascade(["gpt-4o-mini", "gpt-4o"], validate=Ticket)
    client, sink = _sim_client((("mini", 1.0),), cascade)
    reply = _ask(client, 1)
    call = sink.calls()[0]
    assert call.as_dict()["llmkit.cascade.route"] == "gpt-4o-mini=invalid>gpt-4o=ok"
    assert reply.cost is not None
    assert call.cost is not None
    assert call.cost > float(reply.cost)  # the failed small answer was paid for too


def test_errors_escalate_and_the_last_failure_is_raised() -> None:
    clock = VirtualClock()
    answer = {"role": "assistant", "content": '{"label":"bug","urgency":1}'}
    ok = {"id": "c", "model": "big", "usage": {"prompt_tokens": 3, "completion_tokens": 2},
          "choices": [{"index": 0, "finish_reason": "stop", "message": answer}]}  # fmt: skip
    transport = ScriptedTransport(clock, [Scripted(status=500, json={"error": {"message": "x"}}),
                                          Scripted(json=ok)])  # fmt: skip
    cascade = llmkit.Cascade(["small", "big"], validate=Ticket)
    sink = MemorySink()
    with llmkit.Client("openai", api_key="k", transport=transport, clock=clock, retry=False,
                       layers=[cascade], telemetry=sink) as client:  # fmt: skip
        reply = client.chat(model="x", messages=[{"role": "user", "content": "hi"}])
    assert reply.model == "big"
    assert sink.calls()[0].as_dict()["llmkit.cascade.route"] == "small=server_error>big=ok"

    junk = {"role": "assistant", "content": "not json"}
    bad = {**ok, "choices": [{"index": 0, "finish_reason": "stop", "message": junk}]}
    transport = ScriptedTransport(clock, [Scripted(json=bad)])
    client = llmkit.Client("openai", api_key="k", transport=transport, clock=clock,
                           layers=[llmkit.Cascade(["a", "b"], validate=Ticket)])  # fmt: skip
    with client, pytest.raises(InvalidResponseError, match="a=invalid>b=invalid"):
        client.chat(model="x", messages=[{"role": "user", "content": "hi"}])


def test_async_cascade_and_argument_checks() -> None:
    cascade = llmkit.Cascade(["gpt-4o-mini", "gpt-4o"], validate=Ticket)
    clock = VirtualClock()
    scenario = get_scenario("healthy").with_(quality=(("mini", 1.0),))

    async def run() -> llmkit.ChatResponse:
        async with llmkit.AsyncClient("openai", api_key=SIM_KEY, base_url=BASE_URLS["openai"],
                                      transport=_async_sim(scenario, clock), clock=clock,
                                      layers=[cascade]) as client:  # fmt: skip
            return await client.chat(model="x", response_format=FORMAT, max_tokens=50,
                                     messages=[{"role": "user", "content": "hi"}])  # fmt: skip

    assert asyncio.run(run()).model == "gpt-4o"
    with pytest.raises(ValueError, match="at least one"):
        llmkit.Cascade([], validate=Ticket)
    with pytest.raises(TypeError, match="pydantic model"):
        llmkit.Cascade(["a"], validate=42)
    with pytest.raises(ValueError, match="rate"):
        get_scenario("healthy").with_(quality=(("mini", 2.0),))


def _async_sim(scenario: Any, clock: VirtualClock) -> Any:
    from llmkit.sim import AsyncSimTransport

    return AsyncSimTransport(Simulator(scenario, clock, seed=3))
