"""Simulator realism: reasoning output, prompt-cache usage, ``obfuscation`` padding and gzip.

Each shape is modelled on ``../shared/real-cassettes`` (real recorded traffic kept beside CI's
checkout) and cross-checked with llmkit's own parsers (``parse_response``, ``parse_stream``):
the Usage they build must come out right.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import httpx
import pytest

from llmkit import ChatResponse, parse_response, parse_stream
from llmkit.clock import VirtualClock
from llmkit.sim import SimResponse, SimServer, SimTransport, Simulator, get_scenario
from llmkit.sim.gen import VOCAB

AUTH = {"Authorization": "Bearer sk-test-123", "anthropic-version": "2023-06-01"}
PROMPT = "Explain retries with jitter in one paragraph, please."
PATHS = {
    "chat": ("openai", "/v1/chat/completions"),
    "responses": ("openai", "/v1/responses"),
    "messages": ("anthropic", "/v1/messages"),
    "openrouter": ("openrouter", "/api/v1/chat/completions"),
}
LONG_SYSTEM = "You are an expert software engineer. " * 150  # ~1400 tokens at 4 chars/token


def body(api: str, *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    prompt = extra.pop("prompt", PROMPT)
    system = extra.pop("system", None)
    if api == "responses":
        data: dict[str, Any] = {"model": "gpt-4o-mini", "input": prompt}
        if system is not None:
            data["instructions"] = system
    elif api == "messages":
        data = {
            "model": "claude-haiku-4-5",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": prompt}],
        }
        if system is not None:
            data["system"] = system
    else:
        model = "gpt-4o-mini" if api == "chat" else "openai/gpt-4o-mini"
        msgs = [{"role": "user", "content": prompt}]
        if system is not None:
            msgs.insert(0, {"role": "system", "content": system})
        data = {"model": model, "messages": msgs}
        if stream and api == "chat":
            data["stream_options"] = {"include_usage": True}
    if stream:
        data["stream"] = True
    data.update(extra)
    return data


def send(
    sim: Simulator, api: str, data: dict[str, Any], headers: dict[str, str] | None = None
) -> SimResponse:
    return sim.handle("POST", PATHS[api][1], headers or AUTH, json.dumps(data).encode())


def parsed(plan: SimResponse, api: str, *, stream: bool = False) -> ChatResponse:
    assert plan.status == 200, plan.body[:300]
    resp = httpx.Response(
        plan.status,
        headers=list(plan.headers),
        content=plan.body,
        request=httpx.Request("POST", "https://sim.test" + PATHS[api][1]),
    )
    return (parse_stream if stream else parse_response)(PATHS[api][0], resp)


def words(text: str) -> int:
    return len(text.split())


# ----------------------------------------------------------------------------- reasoning

REASONING: dict[str, dict[str, Any]] = {
    "chat": {"model": "o3-mini", "reasoning_effort": "high"},
    "responses": {"model": "gpt-5-mini", "reasoning": {"effort": "medium"}},
    "messages": {
        "model": "claude-sonnet-4-5",
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    },
    "openrouter": {"model": "anthropic/claude-sonnet-4.5", "reasoning": {"max_tokens": 2048}},
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("api", list(PATHS))
def test_reasoning_usage_and_text(api: str, stream: bool) -> None:
    plain = parsed(
        send(Simulator("healthy", VirtualClock()), api, body(api, stream=stream)),
        api,
        stream=stream,
    )
    sim = Simulator("healthy", VirtualClock())
    resp = parsed(send(sim, api, body(api, stream=stream, **REASONING[api])), api, stream=stream)
    usage = resp.usage
    assert usage.output_tokens is not None
    visible = words(resp.text)
    assert resp.finish_reason == "stop"
    assert resp.text.endswith(".")
    if api == "messages":  # Anthropic bills thinking in output_tokens but does not count it apart
        assert usage.reasoning_tokens is None
        assert resp.reasoning
        assert usage.output_tokens == visible + words(resp.reasoning)
    else:
        assert usage.reasoning_tokens is not None
        assert usage.reasoning_tokens > 0
        assert usage.output_tokens == visible + usage.reasoning_tokens
    if api == "openrouter":
        assert resp.reasoning
        assert words(resp.reasoning) == usage.reasoning_tokens
    if api in ("chat", "responses"):  # OpenAI keeps the reasoning hidden
        assert not resp.reasoning
    if resp.reasoning:  # the thinking never leaks into the answer text
        assert resp.reasoning not in resp.text
    assert plain.usage.reasoning_tokens in (0, None)


@pytest.mark.parametrize("api", list(PATHS))
def test_reasoning_is_deterministic_and_stream_matches_json(api: str) -> None:
    def run(stream: bool) -> ChatResponse:
        sim = Simulator("healthy", VirtualClock(), seed=7)
        return parsed(
            send(sim, api, body(api, stream=stream, **REASONING[api])), api, stream=stream
        )

    a, b, s = run(False), run(False), run(True)
    assert a == b
    assert (s.text, s.reasoning, s.usage) == (a.text, a.reasoning, a.usage)


def test_reasoning_model_names_and_opt_outs() -> None:
    sim = Simulator("instant", VirtualClock())
    for model in ("o3", "o4-mini", "gpt-5-nano", "o1"):
        r = parsed(send(sim, "chat", body("chat", model=model)), "chat")
        assert r.usage.reasoning_tokens, model
    for model in ("gpt-4o-mini", "gpt-4o", "gpt-4.1"):
        r = parsed(send(sim, "chat", body("chat", model=model)), "chat")
        assert r.usage.reasoning_tokens == 0, model
    r = parsed(send(sim, "openrouter", body("openrouter", model="openai/gpt-5-mini")), "openrouter")
    assert r.usage.reasoning_tokens
    assert r.reasoning
    r = parsed(
        send(sim, "openrouter", body("openrouter", reasoning={"effort": "low", "exclude": True})),
        "openrouter",
    )
    assert r.usage.reasoning_tokens
    assert r.reasoning is None  # excluded: billed, not returned
    r = parsed(send(sim, "chat", body("chat", model="gpt-5", reasoning_effort="none")), "chat")
    assert r.usage.reasoning_tokens == 0


def test_reasoning_stays_within_max_tokens_and_budget() -> None:
    sim = Simulator("instant", VirtualClock())
    for seed_prompt in range(20):
        data = body(
            "chat",
            model="o3",
            reasoning_effort="high",
            max_completion_tokens=40,
            prompt=f"{PROMPT} {seed_prompt}",
        )
        r = parsed(send(sim, "chat", data), "chat")
        assert r.usage.output_tokens is not None
        assert r.usage.output_tokens <= 40
        assert r.text
        data = body(
            "messages",
            prompt=f"{PROMPT} {seed_prompt}",
            max_tokens=1500,
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
        m = parsed(send(sim, "messages", data), "messages")
        assert m.reasoning is not None
        assert words(m.reasoning) <= 1024


def test_anthropic_rejects_a_bad_thinking_budget() -> None:
    sim = Simulator("instant", VirtualClock())
    for thinking, max_tokens in (
        ({"type": "enabled", "budget_tokens": 10}, 4096),
        ({"type": "enabled", "budget_tokens": 4096}, 4096),
    ):
        plan = send(sim, "messages", body("messages", thinking=thinking, max_tokens=max_tokens))
        assert plan.status == 400
        assert json.loads(plan.body)["error"]["type"] == "invalid_request_error"


def test_reasoning_wire_shapes_match_the_recordings() -> None:
    sim = Simulator("instant", VirtualClock())
    out = json.loads(
        send(
            sim,
            "responses",
            body("responses", **REASONING["responses"], include=["reasoning.encrypted_content"]),
        ).body
    )
    assert [o["type"] for o in out["output"]] == ["reasoning", "message"]
    assert out["output"][0]["id"].startswith("rs_")
    assert out["output"][0]["encrypted_content"].startswith("gAAAAAB")
    assert out["reasoning"]["effort"] == "medium"
    msg = json.loads(send(sim, "messages", body("messages", **REASONING["messages"])).body)
    assert [b["type"] for b in msg["content"]] == ["thinking", "text"]
    assert msg["content"][0]["signature"]
    events = send(sim, "messages", body("messages", stream=True, **REASONING["messages"])).body
    kinds = [
        json.loads(line[6:])["delta"]["type"]
        for line in events.split(b"\n")
        if line.startswith(b"data: ") and b"content_block_delta" in line
    ]
    first_text = kinds.index("text_delta")
    assert set(kinds[: first_text - 1]) == {"thinking_delta"}
    assert kinds[first_text - 1] == "signature_delta"
    stream = send(sim, "responses", body("responses", stream=True, **REASONING["responses"])).body
    assert b'"type":"reasoning"' in stream
    assert b'"output_index":1' in stream


def test_reasoning_takes_time() -> None:
    def duration(extra: dict[str, Any]) -> float:
        sim = Simulator("healthy", VirtualClock(), seed=3)
        return send(sim, "chat", body("chat", **extra)).duration

    assert duration({"reasoning_effort": "high"}) > duration({})


# ----------------------------------------------------------------------------- caching


@pytest.mark.parametrize("api", ["chat", "responses", "openrouter"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_repeated_long_prefix_reports_cached_tokens(api: str, stream: bool) -> None:
    sim = Simulator("instant", VirtualClock())
    first = parsed(send(sim, api, body(api, stream=stream, system=LONG_SYSTEM)), api, stream=stream)
    again = parsed(
        send(sim, api, body(api, stream=stream, system=LONG_SYSTEM, prompt="Another question?")),
        api,
        stream=stream,
    )
    assert first.usage.cache_read_tokens == 0
    cached = again.usage.cache_read_tokens
    assert cached is not None
    assert again.usage.input_tokens is not None
    assert 1024 <= cached <= again.usage.input_tokens
    assert cached % 128 == 0  # OpenAI's cache steps
    assert cached >= len(LONG_SYSTEM) // 4 - 128
    # a fresh simulator has an empty cache; a short prompt is never cached
    fresh = Simulator("instant", VirtualClock())
    assert (
        parsed(
            send(fresh, api, body(api, stream=stream, system=LONG_SYSTEM)), api, stream=stream
        ).usage.cache_read_tokens
        == 0
    )
    short = parsed(send(sim, api, body(api, stream=stream)), api, stream=stream)
    again_short = parsed(send(sim, api, body(api, stream=stream)), api, stream=stream)
    assert short.usage.cache_read_tokens == again_short.usage.cache_read_tokens == 0


def test_openai_cache_matches_the_recorded_step() -> None:
    """The real openai__chat_usage_cached__1: 1220 prompt tokens, 1152 cached."""
    sim = Simulator("instant", VirtualClock())
    text = "x" * (1220 * 4 - len(PROMPT) - 1)
    for _ in range(2):
        r = parsed(send(sim, "chat", body("chat", system=text)), "chat")
    assert r.usage.input_tokens == 1220
    assert r.usage.cache_read_tokens == 1152


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_anthropic_cache_control_writes_then_reads(stream: bool) -> None:
    sim = Simulator("instant", VirtualClock())
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    total = None
    for i, (read, write) in enumerate(((0, True), (True, 0))):
        plan = send(
            sim, "messages", body("messages", stream=stream, system=system, prompt=f"question {i}")
        )
        r = parsed(plan, "messages", stream=stream)
        u = r.usage
        assert u.input_tokens is not None
        prefix = -(-len(LONG_SYSTEM) // 4)  # ceil, like the simulator's count
        assert (u.cache_read_tokens or 0) == (prefix if read else 0)
        assert (u.cache_write_tokens or 0) == (prefix if write else 0)
        # llmkit's input is inclusive; the wire's input_tokens is only the uncached rest
        total = u.input_tokens
        if not stream:
            raw = json.loads(plan.body)["usage"]
            assert (
                raw["input_tokens"]
                + raw["cache_read_input_tokens"]
                + raw["cache_creation_input_tokens"]
                == total
            )
            assert raw["input_tokens"] < 20
    assert total is not None


def test_anthropic_without_cache_control_caches_nothing() -> None:
    sim = Simulator("instant", VirtualClock())
    for _ in range(2):
        u = parsed(send(sim, "messages", body("messages", system=LONG_SYSTEM)), "messages").usage
        assert (u.cache_read_tokens or 0) == (u.cache_write_tokens or 0) == 0


def test_cache_is_deterministic_per_instance() -> None:
    def run() -> list[bytes]:
        sim = Simulator("instant", VirtualClock(), seed=5)
        return [send(sim, "chat", body("chat", system=LONG_SYSTEM)).body for _ in range(3)]

    assert run() == run()


# ----------------------------------------------------------------------------- obfuscation


def test_obfuscation_padding_is_ignored_by_the_parser() -> None:
    plain_sim = Simulator("healthy", VirtualClock())
    obf_sim = Simulator(get_scenario("healthy").with_(obfuscation=True), VirtualClock())
    plain = send(plain_sim, "chat", body("chat", stream=True))
    padded = send(obf_sim, "chat", body("chat", stream=True))
    assert b"obfuscation" not in plain.body
    chunks = [
        json.loads(line[6:]) for line in padded.body.split(b"\n") if line.startswith(b"data: {")
    ]
    assert chunks
    assert all(isinstance(c["obfuscation"], str) and c["obfuscation"] for c in chunks)
    assert len({c["obfuscation"] for c in chunks}) > 1
    a, b = parsed(plain, "chat", stream=True), parsed(padded, "chat", stream=True)
    assert (a.text, a.usage, a.finish_reason) == (b.text, b.usage, b.finish_reason)
    # the request decides when it says so
    off = dict(
        body("chat", stream=True),
        stream_options={"include_usage": True, "include_obfuscation": False},
    )
    assert b"obfuscation" not in send(obf_sim, "chat", off).body
    on = dict(off, stream_options={"include_obfuscation": True})
    assert b'"obfuscation":"' in send(plain_sim, "chat", on).body


# ----------------------------------------------------------------------------- gzip

GZ = {**AUTH, "accept-encoding": "gzip, deflate"}


def gz_sim(name: str = "healthy") -> Simulator:
    return Simulator(get_scenario(name).with_(gzip=True), VirtualClock(), seed=1)


def enc(plan: SimResponse) -> str | None:
    return next((v for k, v in plan.headers if k.lower() == "content-encoding"), None)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("api", list(PATHS))
def test_gzip_only_when_accepted_and_opted_in(api: str, stream: bool) -> None:
    plain = send(Simulator("healthy", VirtualClock(), seed=1), api, body(api, stream=stream), GZ)
    assert enc(plain) is None  # the default scenario never compresses
    assert enc(send(gz_sim(), api, body(api, stream=stream), AUTH)) is None  # not accepted
    zipped = send(gz_sim(), api, body(api, stream=stream), GZ)
    assert enc(zipped) == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
    assert zipped.duration == plain.duration
    if stream:  # each chunk decodes on arrival: a stream stays a stream
        d = zlib.decompressobj(31)
        got = [d.decompress(c.data) for c in zipped.chunks]
        assert got == [c.data for c in plain.chunks]
    a = parsed(plain, api, stream=stream)
    b = parsed(zipped, api, stream=stream)  # llmkit decompresses
    assert (a.text, a.usage) == (b.text, b.usage)


def test_gzip_errors_and_cut_streams() -> None:
    err = send(gz_sim("rate-limited"), "chat", body("chat"), GZ)
    assert err.status == 429
    assert enc(err) == "gzip"
    assert json.loads(gzip.decompress(err.body))["error"]["code"] == "rate_limit_exceeded"
    cut = send(gz_sim("stalled-stream"), "chat", body("chat", stream=True), GZ)
    assert cut.abort == "hang"
    assert b"data: " in zlib.decompressobj(31).decompress(cut.body)


def test_gzip_through_the_in_process_transport() -> None:
    sim = gz_sim()
    with httpx.Client(transport=SimTransport(sim), base_url="http://sim.test") as c:
        for stream in (False, True):
            r = c.post(
                "/v1/chat/completions",
                json=body("chat", stream=stream),
                headers={"Authorization": "Bearer sk-test"},
            )
            assert r.headers["content-encoding"] == "gzip"  # httpx sends gzip by default
            resp = (parse_stream if stream else parse_response)("openai", r)
            assert resp.text
            assert resp.usage.output_tokens == words(resp.text)


def test_gzip_through_the_served_simulator() -> None:
    scenario = get_scenario("instant").with_(gzip=True)
    with SimServer(scenario) as url, httpx.Client(base_url=url, timeout=10) as c:
        for stream in (False, True):
            r = c.post("/v1/messages", json=body("messages", stream=stream), headers=AUTH)
            assert r.status_code == 200
            assert r.headers["content-encoding"] == "gzip"
            resp = (parse_stream if stream else parse_response)("anthropic", r)
            assert resp.text
        raw = c.post(
            "/v1/messages", json=body("messages"), headers={**AUTH, "accept-encoding": "identity"}
        )
        assert "content-encoding" not in raw.headers
        assert json.loads(raw.content)["type"] == "message"


def test_vocab_words_are_single_tokens() -> None:
    """The word counts above rely on one vocabulary word per token."""
    assert all(" " not in w for w in VOCAB)
