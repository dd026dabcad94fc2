"""The sans-IO simulator: wire shapes per provider, determinism, rate limits, faults.

Simulator output is cross-checked with llmkit's own parsers (``parse_response``,
``parse_stream``, ``classify``), which were written independently from the real recordings.
"""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

import httpx
import pytest

from llmkit import (
    AuthError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    InvalidResponseError,
    LLMError,
    OverloadedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    parse_response,
    parse_stream,
)
from llmkit.clock import VirtualClock
from llmkit.sim import (
    SCENARIOS,
    SIM_VERSION,
    Fault,
    FaultRule,
    RateLimits,
    Scenario,
    SimResponse,
    Simulator,
    get_scenario,
)
from llmkit.sim.ratelimit import format_duration
from llmkit.sse import iter_sse

AUTH = {"Authorization": "Bearer sk-test-123", "anthropic-version": "2023-06-01"}
PROMPT = "Explain retries with jitter in one paragraph, please."

# provider name for llmkit's parsers, path, request body builder
PATHS: dict[str, tuple[str, str]] = {
    "chat": ("openai", "/v1/chat/completions"),
    "responses": ("openai", "/v1/responses"),
    "messages": ("anthropic", "/v1/messages"),
    "openrouter": ("openrouter", "/api/v1/chat/completions"),
}
MODELS = {
    "chat": "gpt-4o-mini",
    "responses": "gpt-4o-mini",
    "messages": "claude-haiku-4-5",
    "openrouter": "openai/gpt-4o-mini",
}


def body_for(api: str, *, stream: bool = False, prompt: str = PROMPT, **extra: Any) -> bytes:
    model = extra.pop("model", MODELS[api])
    if api == "responses":
        data: dict[str, Any] = {"model": model, "input": prompt}
    elif api == "messages":
        data = {
            "model": model,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": prompt}],
        }
    else:
        data = {"model": model, "messages": [{"role": "user", "content": prompt}]}
        if stream and api == "chat":
            data["stream_options"] = {"include_usage": True}
    if stream:
        data["stream"] = True
    data.update(extra)
    return json.dumps(data).encode()


def send(
    sim: Simulator,
    api: str,
    *,
    stream: bool = False,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> SimResponse:
    _, path = PATHS[api]
    return sim.handle(
        "POST", path, AUTH if headers is None else headers, body_for(api, stream=stream, **extra)
    )


def as_httpx(plan: SimResponse, api: str) -> httpx.Response:
    _, path = PATHS[api]
    return httpx.Response(
        plan.status,
        headers=list(plan.headers),
        content=plan.body,
        request=httpx.Request("POST", "https://sim.test" + path),
    )


def hdr(plan: SimResponse, name: str) -> str | None:
    for k, v in plan.headers:
        if k.lower() == name:
            return v
    return None


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


# ----------------------------------------------------------------------------- healthy


@pytest.mark.parametrize("api", list(PATHS))
def test_healthy_plain_parses_with_consistent_usage(api: str, clock: VirtualClock) -> None:
    sim = Simulator("healthy", clock)
    plan = send(sim, api)
    assert plan.status == 200
    assert plan.headers_sent
    assert plan.abort is None
    assert plan.delay > 0
    resp = parse_response(PATHS[api][0], as_httpx(plan, api))
    assert resp.text
    assert resp.finish_reason == "stop"
    assert resp.usage.input_tokens == math.ceil(len(PROMPT) / 4)
    # one vocabulary word per output token
    assert resp.usage.output_tokens == len(resp.text.split())
    assert resp.request_id


@pytest.mark.parametrize("api", list(PATHS))
def test_stream_reassembles_to_the_plain_text(api: str, clock: VirtualClock) -> None:
    sim = Simulator("healthy", clock)
    plain = parse_response(PATHS[api][0], as_httpx(send(sim, api), api))
    plan = send(sim, api, stream=True)
    assert plan.status == 200
    assert "text/event-stream" in (hdr(plan, "content-type") or "")
    streamed = parse_stream(PATHS[api][0], as_httpx(plan, api))
    assert streamed.text == plain.text
    assert streamed.usage.output_tokens == plain.usage.output_tokens
    assert streamed.usage.input_tokens == plain.usage.input_tokens
    # chunks after the first carry the per-token pace: time to first token < total
    assert len(plan.chunks) > 3
    assert plan.delay < plan.duration


def test_openai_chat_stream_framing(clock: VirtualClock) -> None:
    plan = send(Simulator("healthy", clock), "chat", stream=True)
    events = list(iter_sse([plan.body]))
    assert events[-1].data == "[DONE]"
    usage_chunk = json.loads(events[-2].data)
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] > 0
    first = json.loads(events[0].data)
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert all(e.event == "message" for e in events)


def test_responses_stream_framing(clock: VirtualClock) -> None:
    plan = send(Simulator("healthy", clock), "responses", stream=True)
    events = list(iter_sse([plan.body]))
    kinds = [e.event for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "[DONE]" not in plan.body.decode()
    seqs = [json.loads(e.data)["sequence_number"] for e in events]
    assert seqs == list(range(len(events)))
    for e in events:
        assert json.loads(e.data)["type"] == e.event
    done = json.loads(events[-1].data)["response"]
    assert done["status"] == "completed"
    assert done["usage"]["output_tokens"] == kinds.count("response.output_text.delta")


def test_anthropic_stream_framing(clock: VirtualClock) -> None:
    plan = send(Simulator("healthy", clock), "messages", stream=True)
    kinds = [e.event for e in iter_sse([plan.body])]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[3:-3]) == {"content_block_delta"}
    assert b"      }" in plan.body  # the real API pads before closing braces
    assert (hdr(plan, "request-id") or "").startswith("req_")
    assert (hdr(plan, "anthropic-ratelimit-requests-reset") or "").endswith("Z")


def test_openrouter_stream_framing(clock: VirtualClock) -> None:
    plan = send(Simulator("healthy", clock), "openrouter", stream=True)
    assert plan.chunks[0].data == b": OPENROUTER PROCESSING\n\n"
    events = list(iter_sse([plan.body]))
    assert events[-1].data == "[DONE]"
    last = json.loads(events[-2].data)
    assert last["usage"]["cost"] > 0
    assert hdr(plan, "x-generation-id") == last["id"]
    assert last["id"].startswith("gen-")


def test_openrouter_plain_body_has_keepalive_padding(clock: VirtualClock) -> None:
    plan = send(Simulator("healthy", clock), "openrouter")
    assert plan.body.startswith(b"\n")
    assert json.loads(plan.body)["provider"] == "OpenAI"


def test_openai_headers_are_honest(clock: VirtualClock) -> None:
    plan = send(Simulator("healthy", clock), "chat")
    assert (hdr(plan, "x-request-id") or "").startswith("req_")
    assert hdr(plan, "x-ratelimit-limit-requests") == "10000"
    assert hdr(plan, "x-ratelimit-remaining-requests") == "9999"
    # one request of 10000/min refills in 6 ms
    assert hdr(plan, "x-ratelimit-reset-requests") == "6ms"
    ms = int(hdr(plan, "openai-processing-ms") or "-1")
    assert ms == round(plan.duration * 1000)


def test_sim_version_is_a_string() -> None:
    assert isinstance(SIM_VERSION, str)
    assert SIM_VERSION.count(".") == 1


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_everything() -> None:
    runs = []
    for _ in range(2):
        sim = Simulator("flaky", VirtualClock())
        runs.append([(p.status, p.body, p.delay) for p in (send(sim, "chat") for _ in range(20))])
    assert runs[0] == runs[1]
    assert {status for status, _, _ in runs[0]} != {200}  # flaky really failed some


def test_seed_changes_text_and_latency() -> None:
    p1 = send(Simulator("healthy", VirtualClock(), seed=1), "chat")
    p2 = send(Simulator("healthy", VirtualClock(), seed=2), "chat")
    t1 = json.loads(p1.body)["choices"][0]["message"]["content"]
    t2 = json.loads(p2.body)["choices"][0]["message"]["content"]
    assert t1 != t2
    assert p1.delay != p2.delay


def test_retry_gets_same_text_but_fresh_latency(clock: VirtualClock) -> None:
    sim = Simulator("healthy", clock)
    a, b = send(sim, "messages"), send(sim, "messages")
    assert json.loads(a.body)["content"] == json.loads(b.body)["content"]
    assert a.delay != b.delay


def test_fast_model_is_faster_than_large_model() -> None:
    sim = Simulator("healthy", VirtualClock())
    fast = [send(sim, "chat", stream=True, model="gpt-4o-mini").delay for _ in range(40)]
    slow = [send(sim, "chat", stream=True, model="gpt-4o").delay for _ in range(40)]
    assert statistics.median(fast) < statistics.median(slow)


def test_slow_tail_has_a_longer_tail_than_healthy() -> None:
    def p95(name: str) -> float:
        sim = Simulator(name, VirtualClock())
        ttfts = sorted(send(sim, "chat", stream=True).delay for _ in range(300))
        return ttfts[int(0.95 * len(ttfts))] / statistics.median(ttfts)

    assert p95("slow-tail") > 2 * p95("healthy")


def test_max_tokens_truncates_with_length_finish(clock: VirtualClock) -> None:
    sim = Simulator("healthy", clock)
    resp = parse_response("openai", as_httpx(send(sim, "chat", max_tokens=3), "chat"))
    assert resp.usage.output_tokens == 3
    assert resp.finish_reason == "length"
    plan = send(sim, "messages", max_tokens=2)
    assert json.loads(plan.body)["stop_reason"] == "max_tokens"


# ----------------------------------------------------------------------------- tools

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", list(PATHS))
def test_tool_call_when_asked(api: str, stream: bool, clock: VirtualClock) -> None:
    if api == "messages":
        tools: list[dict[str, Any]] = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]
    elif api == "responses":
        tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}]
    else:
        tools = [
            {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
        ]
    sim = Simulator("healthy", clock)
    plan = send(sim, api, stream=stream, prompt="Use get_weather for Paris", tools=tools)
    http = as_httpx(plan, api)
    resp = parse_stream(PATHS[api][0], http) if stream else parse_response(PATHS[api][0], http)
    assert resp.finish_reason == "tool_calls"
    assert len(resp.tool_calls) == 1
    call = resp.tool_calls[0]
    assert call.name == "get_weather"
    args = json.loads(call.arguments)
    assert isinstance(args["city"], str)
    assert isinstance(args["days"], int)
    # without a request for a tool, the model just answers
    plain = send(sim, api, prompt="Say hello", tools=tools)
    answer = parse_response(PATHS[api][0], as_httpx(plain, api))
    assert answer.tool_calls == ()
    assert answer.finish_reason == "stop"


def _two_tools(api: str) -> list[dict[str, Any]]:
    names = ("get_weather", "get_time")
    if api == "messages":
        return [{"name": n, "input_schema": WEATHER_SCHEMA} for n in names]
    if api == "responses":
        return [{"type": "function", "name": n, "parameters": WEATHER_SCHEMA} for n in names]
    return [
        {"type": "function", "function": {"name": n, "parameters": WEATHER_SCHEMA}} for n in names
    ]


# tool_choice in each wire format: (any tool, this tool, no tool)
_CHOICES: dict[str, tuple[Any, Any, Any]] = {
    "chat": ("required", {"type": "function", "function": {"name": "get_time"}}, "none"),
    "responses": ("required", {"type": "function", "name": "get_time"}, "none"),
    "messages": ({"type": "any"}, {"type": "tool", "name": "get_time"}, {"type": "none"}),
}


@pytest.mark.parametrize("api", list(PATHS))
def test_tool_choice_decides_without_a_trigger_word(api: str, clock: VirtualClock) -> None:
    sim = Simulator("healthy", clock)
    any_tool, this_tool, no_tool = _CHOICES["chat" if api == "openrouter" else api]
    provider = PATHS[api][0]

    def ask(choice: Any, prompt: str = "Say hello") -> Any:
        plan = send(sim, api, prompt=prompt, tools=_two_tools(api), tool_choice=choice)
        return parse_response(provider, as_httpx(plan, api))

    forced = ask(any_tool)
    assert forced.finish_reason == "tool_calls"
    assert [c.name for c in forced.tool_calls] == ["get_weather"]  # the first, none named
    assert [c.name for c in ask(this_tool).tool_calls] == ["get_time"]
    # a prompt asking for a tool gets none when tool_choice says none
    refused = ask(no_tool, prompt="Use get_weather for Paris")
    assert refused.tool_calls == ()
    assert refused.finish_reason == "stop"


# ----------------------------------------------------------------------------- auth and input


@pytest.mark.parametrize("api", list(PATHS))
def test_missing_auth_is_401_in_the_provider_shape(api: str, clock: VirtualClock) -> None:
    plan = send(Simulator("healthy", clock), api, headers={"anthropic-version": "2023-06-01"})
    assert plan.status == 401
    body = json.loads(plan.body)
    if api == "messages":
        assert body["type"] == "error"
        assert body["error"]["type"] == "authentication_error"
    elif api == "openrouter":
        assert body["error"]["code"] == 401
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}
    with pytest.raises(AuthError):
        parse_response(PATHS[api][0], as_httpx(plan, api))


def test_anthropic_accepts_x_api_key_and_requires_version(clock: VirtualClock) -> None:
    sim = Simulator("healthy", clock)
    assert send(sim, "messages", headers={"x-api-key": "k", "anthropic-version": "x"}).status == 200
    plan = send(sim, "messages", headers={"x-api-key": "k"})
    assert plan.status == 400
    assert "anthropic-version" in json.loads(plan.body)["error"]["message"]


def test_bad_requests(clock: VirtualClock) -> None:
    sim = Simulator("healthy", clock)
    bad_json = sim.handle("POST", "/v1/chat/completions", AUTH, b"{not json")
    assert bad_json.status == 400
    assert json.loads(bad_json.body)["error"]["type"] == "invalid_request_error"
    no_msgs = sim.handle("POST", "/v1/chat/completions", AUTH, b'{"model": "gpt-4o"}')
    assert json.loads(no_msgs.body)["error"]["param"] == "messages"
    no_max = sim.handle(
        "POST",
        "/v1/messages",
        AUTH,
        b'{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"x"}]}',
    )
    assert no_max.status == 400
    assert "max_tokens" in json.loads(no_max.body)["error"]["message"]
    with pytest.raises(BadRequestError):
        parse_response("openai", as_httpx(bad_json, "chat"))
    assert sim.handle("POST", "/v1/nope", AUTH, b"{}").status == 404
    assert sim.handle("GET", "/v1/chat/completions", AUTH, b"").status == 405


def test_too_long_prompt_is_a_natural_context_length_error(clock: VirtualClock) -> None:
    sim = Simulator("healthy", clock)
    plan = send(sim, "chat", prompt="word " * 110_000)  # ~137k tokens > 128k window
    assert plan.status == 400
    with pytest.raises(ContextLengthError):
        parse_response("openai", as_httpx(plan, "chat"))


# ----------------------------------------------------------------------------- rate limits


@pytest.mark.parametrize("api", list(PATHS))
def test_rate_limited_every_request(api: str, clock: VirtualClock) -> None:
    sim = Simulator("rate-limited", clock)
    for _ in range(3):
        plan = send(sim, api)
        assert plan.status == 429
        assert hdr(plan, "retry-after") == "2"
        with pytest.raises(RateLimitError) as info:
            parse_response(PATHS[api][0], as_httpx(plan, api))
        assert info.value.retry_after == 2.0
    body = json.loads(plan.body)
    if api == "messages":
        assert body["error"]["type"] == "rate_limit_error"
        assert body["request_id"] == hdr(plan, "request-id")
        assert hdr(plan, "x-should-retry") == "true"
    elif api == "openrouter":
        assert body["error"]["code"] == 429
        assert "metadata" in body["error"]
    else:
        assert body["error"]["code"] == "rate_limit_exceeded"
        assert hdr(plan, "retry-after-ms") == "2000"


def test_ratelimit_drain_is_honest(clock: VirtualClock) -> None:
    sim = Simulator("ratelimit-drain", clock)
    remaining = []
    for _ in range(5):
        plan = send(sim, "chat")
        assert plan.status == 200
        remaining.append(int(hdr(plan, "x-ratelimit-remaining-requests") or -1))
    assert remaining == [4, 3, 2, 1, 0]
    refused = send(sim, "chat")
    assert refused.status == 429
    wait = float(hdr(refused, "retry-after-ms") or 0) / 1000
    assert 11.9 < wait <= 12.0  # one request of 5/min refills in 12 s
    assert hdr(refused, "x-ratelimit-remaining-requests") == "0"
    assert hdr(refused, "x-ratelimit-reset-requests") == "1m0s"
    clock.advance(wait)
    assert send(sim, "chat").status == 200
    # limits are per provider: Anthropic has its own bucket
    assert send(sim, "messages").status == 200


def test_token_limit_refuses_big_requests() -> None:
    sc = Scenario(
        "tiny-tpm", "test", limits=RateLimits(requests_per_minute=1000, tokens_per_minute=500)
    )
    sim = Simulator(sc, VirtualClock())
    plan = send(sim, "chat", prompt="x" * 4000)  # 1000 input tokens > 500 ever available
    assert plan.status == 429
    assert "tokens per min" in json.loads(plan.body)["error"]["message"]
    assert hdr(plan, "retry-after") is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.12, "120ms"),
        (0.0004, "1ms"),
        (8.64, "8.64s"),
        (360, "6m0s"),
        (3723, "1h2m3s"),
        (90.5, "1m30.5s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


# ----------------------------------------------------------------------------- faults

ERRORS: list[tuple[str, str, int, type[LLMError]]] = [
    ("insufficient-quota", "chat", 429, QuotaExhaustedError),
    ("insufficient-quota", "openrouter", 402, QuotaExhaustedError),
    ("context-length", "chat", 400, ContextLengthError),
    ("context-length", "responses", 400, ContextLengthError),
    ("context-length", "messages", 400, ContextLengthError),
    ("context-length", "openrouter", 400, ContextLengthError),
    ("content-filter", "chat", 400, ContentFilterError),
    ("auth", "chat", 401, AuthError),
    ("auth", "messages", 401, AuthError),
    ("auth", "openrouter", 401, AuthError),
    ("overloaded-529", "messages", 529, OverloadedError),
    ("overloaded-529", "chat", 503, OverloadedError),
    ("midstream-error", "chat", 500, ServerError),
]


@pytest.mark.parametrize(("scenario", "api", "status", "error"), ERRORS)
def test_error_scenarios(
    scenario: str, api: str, status: int, error: type[LLMError], clock: VirtualClock
) -> None:
    plan = send(Simulator(scenario, clock), api)
    assert plan.status == status
    with pytest.raises(error):
        parse_response(PATHS[api][0], as_httpx(plan, api))


def test_insufficient_quota_openai_shape(clock: VirtualClock) -> None:
    err = json.loads(send(Simulator("insufficient-quota", clock), "chat").body)["error"]
    assert err["code"] == "insufficient_quota"
    assert err["type"] == "insufficient_quota"


def test_anthropic_529_shape(clock: VirtualClock) -> None:
    plan = send(Simulator("overloaded-529", clock), "messages")
    body = json.loads(plan.body)
    assert body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert body["request_id"].startswith("req_")
    assert hdr(plan, "x-should-retry") == "true"


def test_5xx_burst_then_ok(clock: VirtualClock) -> None:
    sim = Simulator("5xx-burst", clock)
    statuses = [send(sim, "chat").status for _ in range(6)]
    assert all(s in (500, 502, 503) for s in statuses[:3])
    assert statuses[3:] == [200, 200, 200]
    assert sim.outcomes["200"] == 3


def test_502_is_html_like_cloudflare(clock: VirtualClock) -> None:
    sc = Scenario("bg", "test", faults=(FaultRule(Fault.BAD_GATEWAY),))
    plan = send(Simulator(sc, clock), "chat")
    assert plan.status == 502
    assert plan.body.startswith(b"<html>")
    with pytest.raises(ServerError):
        parse_response("openai", as_httpx(plan, "chat"))


def test_retry_after_then_ok(clock: VirtualClock) -> None:
    sim = Simulator("retry-after-then-ok", clock)
    assert [send(sim, "messages").status for _ in range(4)] == [429, 429, 200, 200]


def test_flaky_is_about_30_percent() -> None:
    sim = Simulator("flaky", VirtualClock())
    n = 400
    failed = sum(1 for _ in range(n) if send(sim, "chat").status != 200)
    assert 0.22 * n < failed < 0.38 * n


def test_outage_window_uses_simulator_time(clock: VirtualClock) -> None:
    sim = Simulator("outage", clock)
    assert send(sim, "messages").status == 200
    clock.advance(60)
    assert send(sim, "messages").status == 529
    assert send(sim, "chat").status == 503
    clock.advance(59.9)
    assert send(sim, "messages").status == 529
    clock.advance(0.2)
    assert send(sim, "messages").status == 200


def test_rules_compose_in_order(clock: VirtualClock) -> None:
    sc = get_scenario("healthy").plus(
        FaultRule(Fault.UNAVAILABLE, requests=(0, 2), providers=frozenset({"openai"})),
        FaultRule(Fault.AUTH, requests=(1, 3)),
    )
    sim = Simulator(sc, clock)
    assert [send(sim, "chat").status for _ in range(4)] == [503, 503, 401, 200]
    sim2 = Simulator(sc, VirtualClock())
    assert [send(sim2, "messages").status for _ in range(4)] == [200, 401, 401, 200]


@pytest.mark.parametrize("api", list(PATHS))
def test_midstream_error_inside_200_stream(api: str, clock: VirtualClock) -> None:
    plan = send(Simulator("midstream-error", clock), api, stream=True)
    assert plan.status == 200
    with pytest.raises(LLMError) as info:
        parse_stream(PATHS[api][0], as_httpx(plan, api))
    assert not isinstance(info.value, InvalidResponseError)


@pytest.mark.parametrize("api", list(PATHS))
def test_truncated_stream_is_detected(api: str, clock: VirtualClock) -> None:
    sim = Simulator("truncated-stream", clock)
    plan = send(sim, api, stream=True)
    assert plan.status == 200
    assert plan.abort is None
    with pytest.raises(InvalidResponseError):
        parse_stream(PATHS[api][0], as_httpx(plan, api))
    plain = send(sim, api)
    with pytest.raises(InvalidResponseError):
        parse_response(PATHS[api][0], as_httpx(plain, api))


@pytest.mark.parametrize("api", list(PATHS))
def test_malformed_json(api: str, clock: VirtualClock) -> None:
    sim = Simulator("malformed-json", clock)
    plain = send(sim, api)
    assert plain.status == 200
    with pytest.raises(InvalidResponseError):
        parse_response(PATHS[api][0], as_httpx(plain, api))
    streamed = send(sim, api, stream=True)
    with pytest.raises(InvalidResponseError):
        parse_stream(PATHS[api][0], as_httpx(streamed, api))


def test_hang_reset_and_stall_plans(clock: VirtualClock) -> None:
    hang = send(Simulator("timeout-then-ok", clock), "chat")
    assert (hang.headers_sent, hang.abort, hang.hang_seconds) == (False, "hang", 600.0)
    reset = send(Simulator("reset-then-ok", clock), "chat")
    assert (reset.headers_sent, reset.abort) == (False, "reset")
    stall = send(Simulator("stalled-stream", clock), "chat", stream=True)
    assert (stall.status, stall.abort) == (200, "hang")
    assert b"[DONE]" not in stall.body
    cut = Scenario("cut", "t", faults=(FaultRule(Fault.RESET_MIDSTREAM, after_tokens=2),))
    mid = send(Simulator(cut, clock), "messages", stream=True)
    assert mid.abort == "reset"
    assert mid.body.count(b"text_delta") == 2


def test_registry_has_the_required_scenarios() -> None:
    required = {
        "healthy",
        "rate-limited",
        "flaky",
        "retry-after-then-ok",
        "5xx-burst",
        "overloaded-529",
        "insufficient-quota",
        "context-length",
        "content-filter",
        "auth",
        "timeout-then-ok",
        "midstream-error",
        "ratelimit-drain",
        "outage",
        "slow-tail",
    }
    assert required <= set(SCENARIOS)
    for name, sc in SCENARIOS.items():
        assert sc.name == name
        assert sc.description
        hash(sc)  # frozen, hashable values


def test_unknown_scenario_lists_known() -> None:
    with pytest.raises(ValueError, match=r"known: .*healthy"):
        Simulator("nope")


def test_bad_rules_are_rejected() -> None:
    with pytest.raises(ValueError, match="rate"):
        FaultRule(Fault.AUTH, rate=1.5)
    with pytest.raises(ValueError, match="window"):
        FaultRule(Fault.AUTH, window=(10, 5))
    with pytest.raises(ValueError, match="at least one fault"):
        FaultRule((), rate=0.5)
    with pytest.raises(ValueError, match="per minute"):
        RateLimits(requests_per_minute=0)
