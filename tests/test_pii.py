"""PII redaction: each detector, placeholders, restore, and the layer's three modes."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

import llmkit
from llmkit.clock import VirtualClock
from llmkit.pii import PIIBlockedError, RedactionLayer, RedactionOutcome, Redactor, find_pii
from llmkit.telemetry import JSONLSink, MemorySink
from llmkit.testing import Scripted, ScriptedTransport


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("write to jane.doe+news@mail.example.co.uk now", "EMAIL"),
        ("call (591)341-7776 today", "PHONE"),
        ("call 206.269.0743x9150 today", "PHONE"),
        ("ruf +49(0) 778353374 an", "PHONE"),
        ("appelez le 04 15 39 15 00", "PHONE"),
        ("card 4111 1111 1111 1111 on file", "CARD"),
        ("card 5500-0000-0000-0004 on file", "CARD"),
        ("iban DE89 3704 0044 0532 0130 00 please", "IBAN"),
        ("iban GB82WEST12345698765432 please", "IBAN"),
        ("ssn 078-05-1120 here", "SSN"),
        ("bsn 111222333 here", "NATID"),
        ("cpf 529.982.247-25 aqui", "NATID"),
        ("nino AB 12 34 56 C here", "NATID"),
        ("from 192.168.10.254 at", "IP"),
        ("from 2001:db8::8a2e:370:7334 at", "IP"),
        ("key sk-proj-" + "A1b2C3d4" * 4 + " here", "SECRET"),
        ("aws AKIA" + "ABCDEFGH12345678" + " here", "SECRET"),
        ("token " + "Zq7xW2Ab" * 5 + " here", "SECRET"),
    ],
)
def test_each_detector_finds_its_type(text: str, kind: str) -> None:
    found = find_pii(text)
    assert [f.type for f in found] == [kind], found
    assert f"<{kind}_1>" in Redactor().redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "Meeting on 2024-05-01 at 10:30, 12/05/2024 too",
        "Revenue was 1,234,567 and 3.14159 units; version 1.2.3",
        "card 4111 1111 1111 1112 fails Luhn",
        "iban DE00 3704 0044 0532 0130 00 fails mod-97",
        "ssn 000-12-3456 and 666-12-3456 are never issued",
        "999.999.999.999 is not an address",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "What is 7 * 8? Answer in one word.",
        "count 123456 tokens in 18538003464660 seconds",
    ],
)
def test_no_false_positive_on_numbers_that_are_not_private(text: str) -> None:
    assert find_pii(text) == []
    assert llmkit.redact(text) == text


def test_placeholders_are_consistent_within_a_call_and_restorable() -> None:
    r = Redactor().redact_all(
        ["I am ada@example.org, cc bob@example.org", "again: ada@example.org, 10.0.0.1"]
    )
    assert r.texts == (
        "I am <EMAIL_1>, cc <EMAIL_2>",
        "again: <EMAIL_1>, <IP_1>",
    )
    assert r.counts == {"EMAIL": 2, "IP": 1}
    assert r.restore("Reply to <EMAIL_1> (not <EMAIL_2>)") == (
        "Reply to ada@example.org (not bob@example.org)"
    )
    assert "ada@" not in repr(r)
    assert "ada@" not in repr(find_pii("ada@example.org"))


def test_user_patterns_and_names_win_over_builtins() -> None:
    red = Redactor(patterns={"order": r"ORD-\d{6}"}, names=["Ada Lovelace"])
    out = red.redact("ada lovelace asked about ORD-123456 and a@b.io")
    assert out == "<NAME_1> asked about <ORDER_1> and <EMAIL_1>"
    with pytest.raises(ValueError, match="unknown PII types"):
        Redactor(types=["EMAIL", "PASSPORT"])
    assert Redactor(types=["EMAIL"]).redact("a@b.io 10.0.0.1") == "<EMAIL_1> 10.0.0.1"


def test_redact_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="takes a str"):
        llmkit.redact(b"bytes")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the layer

SECRET_MAIL = "ada.canary@example.org"
MSGS = [
    {"role": "system", "content": "You are a support agent."},
    {"role": "user", "content": f"I am {SECRET_MAIL}, card 4111 1111 1111 1111. Who am I?"},
]


def _answer(request: Any) -> Scripted:
    sent = json.loads(request.content)["messages"][-1]["content"]
    text = "You are <EMAIL_1>." if "<EMAIL_1>" in sent else "You are someone."
    return Scripted(
        json={
            "id": "c1",
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text},
                 "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 30, "completion_tokens": 4},
        }
    )  # fmt: skip


def _client(layer: RedactionLayer, **kw: Any) -> tuple[llmkit.Client, ScriptedTransport]:
    clock = VirtualClock()
    transport = ScriptedTransport(clock, [_answer])
    client = llmkit.Client(
        transport=transport, clock=clock, api_key="sim", layers=[layer], seed=0, **kw
    )
    return client, transport


def test_redact_mode_sends_placeholders_and_restores_the_answer(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sink = MemorySink()
    jsonl = tmp_path / "t.jsonl"
    caplog.set_level(logging.DEBUG)
    client, transport = _client(RedactionLayer(restore=True), telemetry=[sink, JSONLSink(jsonl)])
    reply = client.chat(model="m", messages=MSGS)
    sent = transport.requests[0].content.decode()
    assert SECRET_MAIL not in sent
    assert "4111" not in sent
    assert "<EMAIL_1>" in sent
    assert "<CARD_1>" in sent
    assert reply.text == f"You are {SECRET_MAIL}."
    everything = jsonl.read_text() + caplog.text + repr(sink.calls()) + repr(sink.attempts())
    assert SECRET_MAIL not in everything
    assert reply.usage.input_tokens == 30  # token counts are kept without content
    (row,) = [r.as_dict() for r in sink.calls()]
    assert row["llmkit.redaction.mode"] == "redact"
    assert row["llmkit.redaction.found"] == 2
    assert row["llmkit.redaction.types"] == "CARD=1 EMAIL=1"
    assert sink.to_dataframe()["llmkit.redaction.found"].dropna().tolist() == [2]


def test_block_mode_sends_nothing_and_raises_a_typed_error() -> None:
    client, transport = _client(RedactionLayer(mode="block"))
    with pytest.raises(PIIBlockedError) as info:
        client.chat(model="m", messages=MSGS)
    assert transport.requests == []
    assert isinstance(info.value, llmkit.BadRequestError)
    assert info.value.kind == "bad_request"
    assert info.value.counts == {"EMAIL": 1, "CARD": 1}
    assert SECRET_MAIL not in str(info.value)
    # and a clean request goes through
    clean = [{"role": "user", "content": "What is 7 * 8?"}]
    assert client.chat(model="m", messages=clean).text == "You are someone."


def test_allow_mode_sends_as_is_and_records_counts() -> None:
    layer = RedactionLayer(mode="allow")
    ctx = llmkit.CallContext(provider="openai")
    request = llmkit.ChatRequest(model="m", messages=(llmkit.Message.from_dict(MSGS[1]),))
    seen: list[llmkit.ChatRequest] = []

    def nxt(req: llmkit.ChatRequest, _ctx: llmkit.CallContext) -> llmkit.ChatResponse:
        seen.append(req)
        return llmkit.ChatResponse(text="ok", model="m", provider="openai")

    layer.handle(request, ctx, nxt)
    assert seen == [request]
    outcome = ctx.outcome(RedactionOutcome)
    assert outcome is not None
    assert outcome.mode == "allow"
    assert outcome.counts == {"EMAIL": 1, "CARD": 1}
    assert outcome.found == 2


def test_async_layer_redacts_too() -> None:
    layer = RedactionLayer()
    ctx = llmkit.CallContext(provider="openai")
    request = llmkit.ChatRequest(model="m", messages=(llmkit.Message.from_dict(MSGS[1]),))
    seen: list[str] = []

    async def nxt(req: llmkit.ChatRequest, _ctx: llmkit.CallContext) -> llmkit.ChatResponse:
        seen.append(req.messages[0].content)
        return llmkit.ChatResponse(text="<EMAIL_1>", model="m", provider="openai")

    reply = asyncio.run(layer.ahandle(request, ctx, nxt))
    assert SECRET_MAIL not in seen[0]
    assert reply.text == "<EMAIL_1>"  # restore is off by default


def test_bad_mode_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="mode must be"):
        RedactionLayer(mode="loud")  # type: ignore[arg-type]
