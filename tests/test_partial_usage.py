"""A stream that ends without its answer was still billed: its usage is counted and charged.

The simulator is served on 127.0.0.1 and cuts its streams after exactly 300 content chunks
(a word each; four words for Gemini), and every word is one token there, so the expected
charge is known without trusting llmkit's own count: the input plus the words that arrived
(300 output tokens, 1,200 for Gemini).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

import llmkit
from llmkit.errors import LLMError
from llmkit.prices import default_prices
from llmkit.quota import MemoryQuotaStore, QuotaLayer, QuotaLimit
from llmkit.sim import Fault, FaultRule, Scenario, SimServer
from llmkit.sim.gen import count_tokens
from llmkit.sim.latency import LatencyModel, ModelProfile
from llmkit.telemetry import MemorySink
from llmkit.transport import ChatStream
from llmkit.types import Usage

CUT = 300
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
    "openrouter": "openai/gpt-4o-mini",
    "gemini": "gemini-2.0-flash",
}
LONG = LatencyModel(
    default=ModelProfile(
        ttft_median=0.0, ttft_sigma=0.0, token_median=0.0, tail_prob=0.0, output_tokens=6000
    )
)
"""Instant answers of about 6,000 tokens (under 300 once in 10^8 draws)."""
PROMPT = "Write a long story about a lighthouse keeper and the sea. " * 3


def _scenario(fault: Fault) -> Scenario:
    return Scenario(
        "cut-streams",
        "every stream cut after 300 tokens",
        seed=7,
        latency=LONG,
        faults=(FaultRule(fault, after_tokens=CUT),),
    )


def _base_url(server: SimServer, provider: str) -> str:
    return {
        "openai": server.openai_base_url,
        "anthropic": server.anthropic_base_url,
        "openrouter": server.openrouter_base_url,
        "gemini": server.gemini_base_url,
    }[provider]


def _client(server: SimServer, provider: str, quota: QuotaLayer, sink: MemorySink) -> llmkit.Client:
    return llmkit.Client(
        provider,
        base_url=_base_url(server, provider),
        api_key="sk-partial-usage-test-key",
        layers=[quota],
        telemetry=sink,
        retry=False,
    )


SERVED_INPUT = count_tokens(PROMPT)
"""What the simulator counts as the prompt (its own tokenizer, not llmkit's)."""


def _read_until_cut(stream: ChatStream, got: list[str]) -> LLMError:
    """Read ``stream`` to its failure, keeping the text; the error it ended with."""
    try:
        with stream:
            for ev in stream:
                if ev.type == "text" and ev.text:
                    got.append(ev.text)
    except LLMError as exc:
        return exc
    pytest.fail("the stream ended cleanly; it was meant to be cut")


@pytest.mark.parametrize("fault", [Fault.RESET_MIDSTREAM, Fault.MIDSTREAM_ERROR])
@pytest.mark.parametrize("provider", list(MODELS))
def test_a_stream_cut_after_300_tokens_costs_300_output_tokens(provider: str, fault: Fault) -> None:
    store, sink = MemoryQuotaStore(), MemorySink()
    quota = QuotaLayer([QuotaLimit("job", "lifetime", tokens=100_000)], store)
    got: list[str] = []
    server = SimServer(_scenario(fault), seed=7)
    with server, _client(server, provider, quota, sink) as client:
        stream = client.stream(
            model=MODELS[provider],
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=10_000,
            tags={"job": "cut"},
        )
        error = _read_until_cut(stream, got)
        partial = stream.partial
    cut_by = {"connection"} if fault is Fault.RESET_MIDSTREAM else {"server_error", "overloaded"}
    assert error.kind.value in cut_by
    assert stream.response is None

    # What arrived: exactly 300 chunks of the simulator's one-token words (its Gemini chunks
    # carry four words each, the others one).
    words = len("".join(got).split())
    assert words == CUT * (4 if provider == "gemini" else 1)
    assert partial is not None
    assert partial.usage.output_tokens == words
    input_tokens = partial.usage.input_tokens
    assert input_tokens is not None
    if provider in ("anthropic", "gemini"):
        # Reported by the provider before the cut (Anthropic's message_start carries the
        # input, and every Gemini chunk the prompt's count).
        assert input_tokens == SERVED_INPUT
    else:
        # Reported only at the end: llmkit's estimate stands in, an upper bound.
        assert input_tokens >= SERVED_INPUT

    # The quota charged it: input and 300 tokens, not 0 (and not the 10,000-token reservation).
    (key,) = store._data
    assert store.used(key, now=client.clock.wall()) == input_tokens + words

    # Telemetry: the failed attempt and the call carry the usage and its price.
    (att,) = sink.attempts()
    (call,) = sink.calls()
    price = default_prices().cost(
        provider, MODELS[provider], Usage(input_tokens=input_tokens, output_tokens=words)
    )
    assert price is not None
    assert price > 0
    assert partial.cost == price
    for row in (att.as_dict(), call.as_dict()):
        assert row["gen_ai.usage.output_tokens"] == words
        assert row["gen_ai.usage.input_tokens"] == input_tokens
        assert row["llmkit.cost"] == pytest.approx(float(price))
        assert row["llmkit.usage.source"] in ("partial", "estimated")
        assert row["error.type"] is not None
    assert call.as_dict()["llmkit.quota.charged_tokens"] == input_tokens + words
    # The output was counted by llmkit in every case (no provider reports it mid-stream).
    assert att.usage_source == "estimated"


def test_a_stream_closed_early_is_charged_what_arrived() -> None:
    store, sink = MemoryQuotaStore(), MemorySink()
    quota = QuotaLayer([QuotaLimit("account", "day", tokens=100_000)], store)
    scenario = Scenario("long", "long answers", seed=3, latency=LONG)
    server = SimServer(scenario, seed=3)
    with server, _client(server, "openai", quota, sink) as client:
        with client.stream(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=10_000,
            tags={"account": "acme"},
        ) as stream:
            words = 0
            for ev in stream:
                if ev.type == "text" and ev.text:
                    words += 1
                if words == 40:
                    break
        partial = stream.partial
    assert partial is not None
    out = partial.usage.output_tokens
    assert out is not None
    # Everything parsed before the close counts: at least the 40 words read, and no more
    # than the reads had buffered (the answer is about 6,000 tokens long).
    assert 40 <= out < 10_000
    (key,) = store._data
    assert store.used(key, now=client.clock.wall()) == (partial.usage.input_tokens or 0) + out
    (call,) = sink.calls()
    assert call.error_type == "cancelled"
    assert call.output_tokens == out


def test_a_failure_before_any_token_gives_everything_back() -> None:
    store, sink = MemoryQuotaStore(), MemorySink()
    quota = QuotaLayer([QuotaLimit("job", "lifetime", tokens=100_000, requests=10)], store)
    scenario = Scenario(
        "down", "500 on every request", seed=1, latency=LONG,
        faults=(FaultRule(Fault.SERVER_ERROR),),
    )  # fmt: skip
    server = SimServer(scenario, seed=1)
    with server:
        client = _client(server, "anthropic", quota, sink)
        with client, pytest.raises(LLMError) as caught:
            client.stream(
                model=MODELS["anthropic"],
                messages=[{"role": "user", "content": PROMPT}],
                max_tokens=100,
                tags={"job": "j"},
            )
    assert caught.value.status == 500
    assert all(store.used(k, now=client.clock.wall()) == 0 for k in store._data)
    (att,) = sink.attempts()
    assert att.error_type is not None
    assert (att.output_tokens, att.cost, att.usage_source) == (None, None, None)


def test_async_streams_are_charged_the_same() -> None:
    store, sink = MemoryQuotaStore(), MemorySink()
    quota = QuotaLayer([QuotaLimit("job", "lifetime", tokens=100_000)], store)

    async def run(url: str) -> int | None:
        async with llmkit.AsyncClient(
            "anthropic", base_url=url, api_key="sk-partial-usage-test-key",
            layers=[quota], telemetry=sink, retry=False,
        ) as client:  # fmt: skip
            stream = await client.stream(
                model=MODELS["anthropic"],
                messages=[{"role": "user", "content": PROMPT}],
                max_tokens=10_000,
                tags={"job": "a"},
            )
            with pytest.raises(LLMError, match="connection"):
                await stream.get_final_response()
            assert stream.partial is not None
            return stream.partial.usage.total_tokens

    server = SimServer(_scenario(Fault.RESET_MIDSTREAM), seed=7)
    with server:
        total = asyncio.run(run(server.anthropic_base_url))
    assert total is not None
    (key,) = store._data
    assert store.used(key, now=0.0) == total
    assert total - SERVED_INPUT == CUT
    (call,) = sink.calls()
    assert call.cost is not None
    assert Decimal(str(call.cost)) > 0
