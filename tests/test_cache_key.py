"""Cache keys and the entry codec."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmkit.cache import (
    CorruptEntryError,
    Entry,
    cache_key,
    decode_entry,
    encode_entry,
    is_cacheable,
)
from llmkit.types import ChatRequest, ChatResponse, Message, Tool, ToolCall, Usage

BASE = ChatRequest(
    model="gpt-4o-mini",
    messages=(Message("system", "be brief"), Message("user", "hi")),
    temperature=0,
    max_tokens=50,
    tools=(Tool("lookup", "find", {"type": "object", "properties": {"q": {"type": "string"}}}),),
    extra={"seed": 7, "response_format": {"type": "text"}},
)


def test_key_is_stable_hex_sha256() -> None:
    k = cache_key(BASE, "openai")
    assert len(k) == 64
    assert int(k, 16) >= 0
    assert cache_key(BASE, "openai") == k
    # The same parameters given in another order give the same key.
    reordered = BASE.with_(extra={"response_format": {"type": "text"}, "seed": 7})
    assert cache_key(reordered, "openai") == k


def test_volatile_and_tag_fields_do_not_change_the_key() -> None:
    k = cache_key(BASE, "openai")
    noisy = BASE.with_(
        stream=True,
        tags={"account": "acme", "job": "42"},
        extra={**BASE.extra, "user": "u-1", "metadata": {"trace": "t"}, "stream_options": {}},
    )
    assert cache_key(noisy, "openai") == k


@pytest.mark.parametrize(
    "change",
    [
        {"model": "gpt-4o"},
        {"messages": (Message("user", "hi"),)},
        {"messages": (Message("system", "be brief"), Message("user", "hi "))},
        {"temperature": 0.5},
        {"max_tokens": 51},
        {"tools": ()},
        {"extra": {"seed": 8, "response_format": {"type": "text"}}},
    ],
)
def test_what_determines_the_answer_changes_the_key(change: dict[str, object]) -> None:
    assert cache_key(BASE.with_(**change), "openai") != cache_key(BASE, "openai")


def test_provider_is_part_of_the_key() -> None:
    assert cache_key(BASE, "openai") != cache_key(BASE, "openrouter")


def test_unhashable_extra_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="cache key"):
        cache_key(BASE.with_(extra={"x": object()}), "openai")
    with pytest.raises(TypeError, match="non-finite"):
        cache_key(BASE.with_(extra={"x": float("nan")}), "openai")


def test_only_deterministic_requests_unless_opted_in() -> None:
    assert is_cacheable(BASE)
    warm = BASE.with_(temperature=0.7)
    assert not is_cacheable(warm)
    assert not is_cacheable(BASE.with_(temperature=None))  # provider default is not 0
    assert is_cacheable(warm, opt_in=True)
    assert is_cacheable(warm.with_(tags={"cache": "on"}))
    assert not is_cacheable(BASE.with_(tags={"cache": "off"}), opt_in=True)


RESP = ChatResponse(
    text="héllo",
    model="gpt-4o-mini",
    provider="openai",
    usage=Usage(10, 5, cache_read_tokens=2, reasoning_tokens=1),
    tool_calls=(ToolCall("c1", "lookup", '{"q": "x"}'),),
    finish_reason="tool_calls",
    request_id="req_1",
    id="chatcmpl-1",
    reasoning="thought",
    latency=1.25,
)


def test_entry_round_trips_as_json() -> None:
    raw = encode_entry(Entry("k", RESP, 100.0, 160.0))
    assert json.loads(raw)["response"]["text"] == "héllo"  # JSON, not pickle
    e = decode_entry(raw, key="k")
    assert e.response == RESP
    assert (e.stored_at, e.fresh_until) == (100.0, 160.0)
    assert e.is_fresh(159.9)
    assert not e.is_fresh(160.0)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe not json",
        b"[]",
        b'{"v": 99, "key": "k"}',
        b'{"v": 1, "key": "other", "stored_at": 1, "response": {}}',
        b'{"v": 1, "key": "k", "stored_at": 1, "response": {"text": 3}}',
        b'{"v": 1, "key": "k", "response": {}}',
        encode_entry(Entry("k", RESP, 1.0, None))[:-7],
    ],
)
def test_corrupt_entries_raise_a_typed_error(raw: bytes) -> None:
    with pytest.raises(CorruptEntryError) as info:
        decode_entry(raw, key="k")
    assert info.value.provider == "cache"


@given(st.text(), st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)))
def test_any_text_and_usage_round_trip(text: str, tokens: int | None) -> None:
    r = ChatResponse(text=text, model=None, provider="p", usage=Usage(tokens, tokens))
    assert decode_entry(encode_entry(Entry("k", r, 0.0, None)), key="k").response == r
