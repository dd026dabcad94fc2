"""BudgetLayer: caps on input tokens, output tokens and dollars, checked before sending."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

import llmkit
from llmkit.clock import VirtualClock
from llmkit.errors import ErrorKind, OverBudgetError
from llmkit.prices import ModelRates, PriceBook
from llmkit.spend import decide
from llmkit.telemetry import MemorySink
from llmkit.testing import Scripted, ScriptedTransport

RATES = ModelRates(input=Decimal(2), output=Decimal(8))  # $ per million tokens
OK = {
    "id": "c1",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}  # fmt: skip


def _client(layer: llmkit.BudgetLayer, **kw: object) -> tuple[llmkit.Client, ScriptedTransport]:
    clock = VirtualClock()
    transport = ScriptedTransport(clock, [Scripted(json=OK)])
    client = llmkit.Client("openai", api_key="k", transport=transport, clock=clock,
                           layers=[layer], **kw)  # type: ignore[arg-type]  # fmt: skip
    return client, transport


def test_decide_is_pure_and_names_the_limit() -> None:
    b = llmkit.RequestBudget(max_input_tokens=100)
    assert decide(b, 50, None, None).decision == "ok"
    assert decide(b, 101, None, None).decision == "input_tokens"
    capped = decide(llmkit.RequestBudget(max_output_tokens=64), 10, None, None)
    assert (capped.decision, capped.max_tokens) == ("capped", 64)
    assert decide(llmkit.RequestBudget(max_output_tokens=64), 10, 32, None).max_tokens == 32


def test_dollar_cap_lowers_max_tokens_to_fit_the_worst_case() -> None:
    budget = llmkit.RequestBudget(max_cost=Decimal("0.001"))  # 1/10 of a cent
    out = decide(budget, 100, 4096, RATES)
    # input 100 * $2/M = $0.0002; room $0.0008 at $8/M = 100 output tokens
    assert out.decision == "capped"
    assert out.max_tokens == 100
    assert out.worst_cost is not None
    assert out.worst_cost <= Decimal("0.001")
    refused = decide(budget, 600, None, RATES)  # input alone is $0.0012
    assert refused.decision == "cost"
    assert refused.refused
    assert decide(budget, 10, None, None).decision == "unpriced"


def test_over_budget_is_raised_before_any_network_call() -> None:
    client, transport = _client(llmkit.BudgetLayer(llmkit.RequestBudget(max_input_tokens=20)))
    with pytest.raises(OverBudgetError) as info:
        client.chat(model="m", messages=[{"role": "user", "content": "word " * 200}])
    err = info.value
    assert err.kind is ErrorKind.OVER_BUDGET
    assert not err.retryable
    assert err.code == "input_tokens"
    assert err.limit == 20
    assert isinstance(err.estimate, int)
    assert err.estimate > 200
    assert "limit 20" in str(err)
    assert str(err.estimate) in str(err)
    assert transport.requests == []  # nothing was sent, nothing retried


def test_max_tokens_is_set_on_the_wire() -> None:
    budget = llmkit.RequestBudget(max_output_tokens=50)
    client, transport = _client(llmkit.BudgetLayer(budget))
    client.chat(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=4000)
    sent = transport.requests[0].content
    assert b'"max_tokens":50' in sent.replace(b" ", b"") or b'"max_completion_tokens":50' in (
        sent.replace(b" ", b"")
    )


def test_dollar_cap_uses_the_price_book_and_refuses_unpriced_models() -> None:
    book = PriceBook({"m": RATES})
    layer = llmkit.BudgetLayer(llmkit.RequestBudget(max_cost=Decimal("0.00001")), prices=book)
    client, transport = _client(layer)
    with pytest.raises(OverBudgetError) as info:
        client.chat(model="m", messages=[{"role": "user", "content": "word " * 100}])
    assert info.value.code == "cost"
    with pytest.raises(OverBudgetError) as unpriced:
        client.chat(model="unknown-model", messages=[{"role": "user", "content": "hi"}])
    assert unpriced.value.code == "unpriced"
    assert transport.requests == []


def test_exact_counter_is_used_when_given() -> None:
    seen: list[str] = []

    def counter(request: llmkit.ChatRequest) -> int:
        seen.append(request.model)
        return 7

    layer = llmkit.BudgetLayer(llmkit.RequestBudget(max_input_tokens=5), counter=counter)
    client, _ = _client(layer)
    with pytest.raises(OverBudgetError, match="7 input tokens counted"):
        client.chat(model="m", messages=[{"role": "user", "content": "hi"}])
    assert seen == ["m"]


def test_outcome_columns_and_async_driver() -> None:
    layer = llmkit.BudgetLayer(llmkit.RequestBudget(max_output_tokens=10))
    clock = VirtualClock()
    transport = ScriptedTransport(clock, [Scripted(json=OK)])
    sink = MemorySink()

    async def run() -> None:
        async with llmkit.AsyncClient("openai", api_key="k", transport=transport, clock=clock,
                                      layers=[layer], telemetry=sink) as client:  # fmt: skip
            await client.chat(model="m", messages=[{"role": "user", "content": "hi"}])

    asyncio.run(run())
    assert b"10" in transport.requests[0].content
    row = sink.calls()[0].as_dict()
    assert row["llmkit.budget.decision"] == "capped"
    assert row["llmkit.budget.max_tokens"] == 10
    assert row["llmkit.budget.input_estimate"] > 0
    assert row["llmkit.budget.exact"] is False


def test_a_refused_call_is_recorded_with_its_decision() -> None:
    sink = MemorySink()
    client, _ = _client(llmkit.BudgetLayer(llmkit.RequestBudget(max_input_tokens=5)),
                        telemetry=sink)  # fmt: skip
    with pytest.raises(OverBudgetError):
        client.chat(model="m", messages=[{"role": "user", "content": "word " * 50}])
    row = sink.calls()[0].as_dict()
    assert row["error.type"] == "over_budget"
    assert row["llmkit.budget.decision"] == "input_tokens"
    assert sink.attempts() == []  # no attempt was made


def test_budget_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        llmkit.RequestBudget(max_input_tokens=0)
    with pytest.raises(ValueError, match="positive"):
        llmkit.RequestBudget(max_cost=Decimal(-1))
