"""Prices and the cost of a call: genai-prices at the call's time, Decimal, None when unpriced."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

import llmkit
from llmkit.cache.entry import response_from_dict, response_to_dict
from llmkit.clock import VirtualClock
from llmkit.errors import CorruptEntryError
from llmkit.prices import ModelRates, PriceBook
from llmkit.telemetry import MemorySink
from llmkit.testing import Scripted, ScriptedTransport
from llmkit.types import ChatResponse, Usage

JAN_2026 = 1_767_225_600.0


def _chat_body(model: str, usage: dict[str, object]) -> dict[str, object]:
    return {
        "id": "c1",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": usage,
    }


def test_a_known_model_is_priced_from_the_database_at_its_rates() -> None:
    book = PriceBook()
    rates = book.rates("openai", "gpt-4.1-mini", at=JAN_2026)
    assert isinstance(rates, ModelRates)
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=400_000)
    cost = book.cost("openai", "gpt-4.1-mini", usage, at=JAN_2026)
    assert isinstance(cost, Decimal)
    # Cached input is priced at its own (lower) rate, not as plain input.
    assert rates.cache_read is not None
    expected = 600_000 * rates.input + 400_000 * rates.cache_read + 1_000_000 * rates.output
    assert cost == expected / 1_000_000
    assert rates.cache_read < rates.input


def test_dated_model_ids_and_anthropic_tiers_are_priced() -> None:
    book = PriceBook()
    usage = Usage(input_tokens=1000, output_tokens=100, cache_write_tokens=200)
    assert book.cost("openai", "gpt-4o-mini-2024-07-18", usage, at=JAN_2026) is not None
    anthropic = book.cost("anthropic", "claude-sonnet-4-5", usage, at=JAN_2026)
    assert anthropic is not None
    assert anthropic > 0


def test_unknown_model_is_none_and_counted_never_zero() -> None:
    book = PriceBook()
    assert book.cost("openai", "sim-unknown-model", Usage(10, 10), at=JAN_2026) is None
    assert book.cost("openai", None, Usage(10, 10)) is None
    assert book.cost("someprovider", "gpt-4o", Usage(10, 10)) is None
    assert book.unpriced == 3
    assert book.priced == 0


def test_no_usage_reported_is_unpriced() -> None:
    assert PriceBook().cost("openai", "gpt-4o", Usage(), at=JAN_2026) is None


def test_provider_reported_cost_wins() -> None:
    usage = Usage(input_tokens=10, output_tokens=5, cost=Decimal("0.0123"))
    assert PriceBook().cost("openrouter", "openai/gpt-4o", usage) == Decimal("0.0123")


def test_overrides_win_over_the_database() -> None:
    mine = ModelRates(input=Decimal(1), output=Decimal(2))
    book = PriceBook({("openai", "gpt-4o"): mine, "my-finetune": ModelRates(3, 4)})
    assert book.cost("openai", "gpt-4o", Usage(1_000_000, 0)) == Decimal(1)
    assert book.cost("anthropic", "my-finetune", Usage(0, 1_000_000)) == Decimal(4)
    with pytest.raises(TypeError):
        PriceBook({"x": (1, 2)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="non-negative"):
        ModelRates(input=Decimal(-1), output=Decimal(1))


def test_prices_follow_the_calls_time() -> None:
    """o3's price fell on 2025-06-10 (in the pinned database): a call made before is priced at
    the old rate, a replayed call at its recorded time, not at today's."""
    book = PriceBook()
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    before = book.cost("openai", "o3", usage, at=1_748_736_000.0)  # 2025-06-01
    after = book.cost("openai", "o3", usage, at=JAN_2026)
    assert before is not None
    assert after is not None
    assert before > after


def test_client_response_and_telemetry_carry_the_cost() -> None:
    clock = VirtualClock(start=JAN_2026)
    sink = MemorySink()
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    transport = ScriptedTransport(clock, [Scripted(json=_chat_body("gpt-4.1-mini", usage))])
    book = PriceBook()
    with llmkit.Client("openai", api_key="k", transport=transport, clock=clock,
                       telemetry=sink, prices=book) as client:  # fmt: skip
        reply = client.chat(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}])
    expected = book.cost("openai", "gpt-4.1-mini", Usage(1000, 100), at=JAN_2026)
    assert reply.cost == expected
    assert reply.cost is not None
    call = sink.calls()[0]
    assert call.cost == float(expected)
    row = call.as_dict()
    assert row["llmkit.cost"] == float(expected)
    json.dumps(row)  # JSON-friendly
    assert sink.attempts()[0].cost == float(expected)


def test_unpriced_model_leaves_cost_none_in_telemetry() -> None:
    clock = VirtualClock(start=JAN_2026)
    sink = MemorySink()
    transport = ScriptedTransport(
        clock,
        [Scripted(json=_chat_body("sim-model", {"prompt_tokens": 3, "completion_tokens": 1}))],
    )
    with llmkit.Client(
        "openai", api_key="k", transport=transport, clock=clock, telemetry=sink
    ) as c:
        reply = c.chat(model="sim-model", messages=[{"role": "user", "content": "hi"}])
    assert reply.cost is None
    assert sink.calls()[0].as_dict()["llmkit.cost"] is None


def test_prices_false_turns_pricing_off() -> None:
    clock = VirtualClock(start=JAN_2026)
    body = _chat_body("gpt-4.1-mini", {"prompt_tokens": 3, "completion_tokens": 1})
    transport = ScriptedTransport(clock, [Scripted(json=body)])
    with llmkit.Client("openai", api_key="k", transport=transport, clock=clock, prices=False) as c:
        assert (
            c.chat(model="gpt-4.1-mini", messages=[{"role": "user", "content": "x"}]).cost is None
        )


def test_openrouter_reported_cost_is_kept_exactly() -> None:
    body = _chat_body("openai/gpt-4o", {"prompt_tokens": 3, "completion_tokens": 1,
                                        "cost": 0.000123456789})  # fmt: skip
    req = httpx.Request("POST", "https://openrouter.ai/api/v1/chat/completions")
    resp = httpx.Response(200, json=body, request=req)
    parsed = llmkit.parse_response("openrouter", resp)
    assert parsed.usage.cost == Decimal("0.000123456789")
    bad = _chat_body("m", {"prompt_tokens": 3, "completion_tokens": 1, "cost": "lots"})
    parsed = llmkit.parse_response("openrouter", httpx.Response(200, json=bad, request=req))
    assert parsed.usage.cost is None


def test_a_cache_hit_carries_the_stored_answers_cost_and_the_call_costs_nothing() -> None:
    clock = VirtualClock(start=JAN_2026)
    sink = MemorySink()
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    transport = ScriptedTransport(clock, [Scripted(json=_chat_body("gpt-4.1-mini", usage))])
    cache = llmkit.CacheLayer(llmkit.MemoryCache(clock=clock))
    book = PriceBook()
    msgs = [{"role": "user", "content": "hi"}]
    with llmkit.Client("openai", api_key="k", transport=transport, clock=clock, telemetry=sink,
                       prices=book, layers=[cache]) as client:  # fmt: skip
        first = client.chat(model="gpt-4.1-mini", messages=msgs, temperature=0)
        hit = client.chat(model="gpt-4.1-mini", messages=msgs, temperature=0)
    assert first.cost == book.cost("openai", "gpt-4.1-mini", Usage(1000, 100), at=JAN_2026)
    assert first.cost is not None
    assert hit.cached
    assert hit.cost == first.cost  # exact: the entry keeps the Decimal as a string
    calls = sink.calls()
    assert [c.cost for c in calls] == [float(first.cost), 0.0]  # the hit asked no provider


@pytest.mark.parametrize("bad", [12, "lots", "-1", "NaN"])
def test_a_cache_entry_with_a_bad_cost_is_corrupt(bad: object) -> None:
    row = response_to_dict(ChatResponse(text="ok", model="m", provider="openai"))
    assert row["cost"] is None
    assert response_from_dict(row).cost is None
    row["cost"] = "0.0012"
    assert response_from_dict(row).cost == Decimal("0.0012")
    row["cost"] = bad
    with pytest.raises(CorruptEntryError, match="cost"):
        response_from_dict(row)


@pytest.mark.parametrize(
    ("provider", "model"),
    [("gemini", "gemini-2.0-flash"), ("azure", "gpt-4o"), ("groq", "llama-3.3-70b-versatile"),
     ("mistral", "mistral-large-latest"), ("deepseek", "deepseek-chat"), ("xai", "grok-3")],
)  # fmt: skip
def test_named_services_are_priced_from_their_own_tables(provider: str, model: str) -> None:
    book = PriceBook()
    cost = book.cost(provider, model, Usage(1000, 100), at=JAN_2026)
    assert cost is not None
    assert cost > 0
    assert book.cost("ollama", model, Usage(1000, 100), at=JAN_2026) is None  # no table: unpriced
