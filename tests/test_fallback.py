"""Fallback chain: policy decisions (pure), then the layer with fake target handlers."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable

import pytest

from llmkit.breaker import BreakerConfig, BreakerLayer, CircuitBreaker
from llmkit.cache import CacheLayer, MemoryCache, StaleCache
from llmkit.clock import VirtualClock
from llmkit.errors import (
    AllTargetsFailedError,
    AuthError,
    BadRequestError,
    CircuitOpenError,
    ContentFilterError,
    ContextLengthError,
    DeadlineExceededError,
    ErrorKind,
    LLMError,
    OverloadedError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
)
from llmkit.fallback import (
    Action,
    Canned,
    FallbackLayer,
    FallbackOutcome,
    FallbackPolicy,
    FallbackStep,
    SmallerModel,
    Target,
)
from llmkit.layers import CallContext, Handler
from llmkit.types import ChatRequest, ChatResponse, Message

REQ = ChatRequest(model="default", messages=(Message("user", "hi"),), temperature=0)


def answer(name: str) -> ChatResponse:
    return ChatResponse(text=f"from {name}", model=name, provider=name, finish_reason="stop")


class Fake:
    """A target handler that fails with the given errors, then answers."""

    def __init__(self, name: str, *errors: Exception, latency: float = 0.0) -> None:
        self.name = name
        self.errors = list(errors)
        self.latency = latency
        self.requests: list[ChatRequest] = []

    def __call__(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        self.requests.append(request)
        ctx.clock.sleep(self.latency)
        if self.errors:
            raise self.errors.pop(0)
        return answer(self.name)

    async def acall(self, request: ChatRequest, ctx: CallContext) -> ChatResponse:
        self.requests.append(request)
        await ctx.clock.asleep(self.latency)
        if self.errors:
            raise self.errors.pop(0)
        return answer(self.name)


def target(fake: Fake, **kw: object) -> Target:
    return Target(fake.name, handler=fake, ahandler=fake.acall, **kw)  # type: ignore[arg-type]


def never(request: ChatRequest, ctx: CallContext) -> ChatResponse:
    raise AssertionError("the inner stack should not be called")


def ctx(clock: VirtualClock | None = None, deadline: float | None = None) -> CallContext:
    return CallContext("openai", clock=clock or VirtualClock(), deadline=deadline)


# ------------------------------------------------------------------------- policy (pure)

T = [
    Target("a", provider="openai", context_window=8_000),
    Target("b", provider="openai", context_window=128_000),
    Target("c", provider="anthropic", context_window=200_000),
    Target("safe", provider="anthropic"),
]


@pytest.mark.parametrize(
    ("error", "action", "index"),
    [
        (ServerError("x"), Action.TRY, 1),
        (RateLimitError("x"), Action.TRY, 1),
        (CircuitOpenError("a"), Action.TRY, 1),
        (QuotaExhaustedError("x"), Action.TRY, 2),  # b is the same provider
        (ContextLengthError("x"), Action.TRY, 1),  # b has the larger window
        (ContentFilterError("x"), Action.TRY, 3),
        (AuthError("x"), Action.RAISE, None),
        (BadRequestError("x"), Action.RAISE, None),
        (DeadlineExceededError("x"), Action.STOP, None),
        (KeyError("bug"), Action.RAISE, None),
    ],
)
def test_policy_decisions(error: BaseException, action: Action, index: int | None) -> None:
    policy = FallbackPolicy(content_filter_target="safe")
    d = policy.decide(error, T, 0, {0})
    assert (d.action, d.index) == (action, index)


def test_policy_explains_passed_over_targets() -> None:
    d = FallbackPolicy().decide(QuotaExhaustedError("x"), T, 0, {0})
    assert d.passed_over == ((1, "same provider openai (quota exhausted)"),)


def test_context_length_with_no_larger_model_is_raised() -> None:
    d = FallbackPolicy().decide(ContextLengthError("x"), T, 2, {0, 1, 2})
    assert d.action is Action.RAISE


def test_content_filter_without_alternative_is_raised() -> None:
    assert FallbackPolicy().decide(ContentFilterError("x"), T, 0, {0}).action is Action.RAISE


def test_retryable_at_end_of_chain_stops() -> None:
    assert FallbackPolicy().decide(ServerError("x"), T, 3, {0, 1, 2, 3}).action is Action.STOP


# ------------------------------------------------------------------------- the layer


def test_moves_on_after_transient_failure_and_notes_who_served() -> None:
    a, b = Fake("a", OverloadedError("busy", status=529)), Fake("b")
    layer = FallbackLayer([target(a), target(b, model="gpt-small")])
    c = ctx()
    r = layer.handle(REQ, c, never)
    assert r.text == "from b"
    assert b.requests[0].model == "gpt-small"
    out = c.outcome(FallbackOutcome)
    assert out is not None
    assert (out.target, out.served_by) == ("b", "b")  # b answers as provider "b"
    assert out.steps == (FallbackStep("a", "overloaded"), FallbackStep("b", "ok"))
    assert (out.path, out.skipped) == ("a=overloaded>b=ok", 1)


def test_none_handler_means_rest_of_the_stack() -> None:
    seen: list[str] = []

    def inner(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        seen.append(request.model)
        return answer("inner")

    layer = FallbackLayer([Target("x", handler=Fake("x", ServerError("x"))), Target("self")])
    assert layer.handle(REQ, ctx(), inner).text == "from inner"
    assert seen == ["default"]


@pytest.mark.parametrize("error", [AuthError("bad key", status=401), BadRequestError("bad")])
def test_caller_bugs_are_not_masked(error: LLMError) -> None:
    a, b = Fake("a", error), Fake("b")
    with pytest.raises(type(error)):
        FallbackLayer([target(a), target(b)]).handle(REQ, ctx(), never)
    assert b.requests == []


def test_quota_goes_to_another_provider() -> None:
    a = Fake("a", QuotaExhaustedError("no credit", status=429))
    b, c = Fake("b"), Fake("c")
    layer = FallbackLayer(
        [
            target(a, provider="openai"),
            target(b, provider="openai"),
            target(c, provider="anthropic"),
        ]
    )
    cx = ctx()
    assert layer.handle(REQ, cx, never).text == "from c"
    assert b.requests == []
    out = cx.outcome(FallbackOutcome)
    assert out is not None
    assert FallbackStep("b", "passed_over", "same provider openai (quota exhausted)") in out.steps


def test_context_length_goes_to_larger_model() -> None:
    a = Fake("a", ContextLengthError("too long"))
    b, c = Fake("b"), Fake("c")
    layer = FallbackLayer(
        [
            target(a, context_window=8000),
            target(b, context_window=4000),
            target(c, context_window=200_000),
        ]
    )
    assert layer.handle(REQ, ctx(), never).text == "from c"
    assert b.requests == []


def test_content_filter_goes_to_configured_alternative() -> None:
    a = Fake("a", ContentFilterError("blocked"))
    b, alt = Fake("b"), Fake("alt")
    layer = FallbackLayer(
        [target(a), target(b), target(alt)], FallbackPolicy(content_filter_target="alt")
    )
    assert layer.handle(REQ, ctx(), never).text == "from alt"
    assert b.requests == []


def test_all_failed_is_one_group_that_is_also_an_llm_error() -> None:
    a = Fake("a", ServerError("down", provider="a", status=500))
    b = Fake("b", RateLimitError("slow", provider="b", status=429, retry_after=7.0))
    with pytest.raises(AllTargetsFailedError) as info:
        FallbackLayer([target(a), target(b)]).handle(REQ, ctx(), never)
    err = info.value
    assert isinstance(err, ExceptionGroup)
    assert isinstance(err, LLMError)
    assert [type(e) for e in err.exceptions] == [ServerError, RateLimitError]
    assert err.targets == ("a", "b")
    assert err.kind is ErrorKind.RATE_LIMIT  # the failure that ended the chain
    assert err.retryable
    assert err.retry_after == 7.0
    assert "a: server_error; b: rate_limit" in str(err)
    clone = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert isinstance(clone, AllTargetsFailedError)
    assert [type(e) for e in clone.exceptions] == [ServerError, RateLimitError]


def test_except_star_sees_each_failure() -> None:
    a, b = Fake("a", ServerError("x")), Fake("b", RateLimitError("y"))
    caught: list[type[BaseException]] = []
    try:
        FallbackLayer([target(a), target(b)]).handle(REQ, ctx(), never)
    except* RateLimitError as group:
        caught += [type(e) for e in group.exceptions]
    except* ServerError as group:
        caught += [type(e) for e in group.exceptions]
    assert sorted(t.__name__ for t in caught) == ["RateLimitError", "ServerError"]


def test_open_circuit_is_skipped_without_calling_the_target() -> None:
    clock = VirtualClock()
    breaker = CircuitBreaker("a", BreakerConfig(min_requests=1, cooldown=60), clock=clock)
    a = Fake("a", ServerError("x"))
    guarded: Handler = lambda r, c: BreakerLayer(breaker).handle(r, c, a)  # noqa: E731
    b = Fake("b", ServerError("y"), ServerError("z"))
    layer = FallbackLayer([Target("a", handler=guarded), target(b)])
    with pytest.raises(AllTargetsFailedError):
        layer.handle(REQ, ctx(clock), never)  # opens a's circuit
    cx = ctx(clock)
    with pytest.raises(AllTargetsFailedError) as info:
        layer.handle(REQ, cx, never)
    assert len(a.requests) == 1
    assert isinstance(info.value.exceptions[0], CircuitOpenError)
    out = cx.outcome(FallbackOutcome)
    assert out is not None
    assert out.steps[0] == FallbackStep("a", "circuit_open")


def test_deadline_is_shared_by_the_chain() -> None:
    clock = VirtualClock()
    a = Fake("a", ServerError("slow failure"), latency=6.0)
    b = Fake("b", ServerError("slow failure"), latency=6.0)
    c = Fake("c")
    with pytest.raises(AllTargetsFailedError) as info:
        FallbackLayer([target(a), target(b), target(c)]).handle(REQ, ctx(clock, 10.0), never)
    assert c.requests == []
    assert isinstance(info.value.exceptions[-1], DeadlineExceededError)
    assert info.value.targets == ("a", "b", "c")
    assert clock.now() == 12.0


def test_canned_degradation_is_marked() -> None:
    a = Fake("a", ServerError("x"))
    layer = FallbackLayer([target(a)], degrade=[Canned("Busy, try again soon.")])
    cx = ctx()
    r = layer.handle(REQ, cx, never)
    assert (r.text, r.degraded) == ("Busy, try again soon.", "canned")
    out = cx.outcome(FallbackOutcome)
    assert out is not None
    assert (out.degraded, out.target, out.served_by) == ("canned", "degrade:canned", "canned")


def test_smaller_model_then_canned() -> None:
    small = Fake("small", ServerError("also down"))
    layer = FallbackLayer(
        [target(Fake("a", ServerError("x")))],
        degrade=[SmallerModel(target(small, model="tiny")), Canned("sorry")],
    )
    r = layer.handle(REQ, ctx(), never)
    assert r.degraded == "canned"
    assert small.requests[0].model == "tiny"
    small2 = Fake("small")
    layer2 = FallbackLayer(
        [target(Fake("a", ServerError("x")))], degrade=[SmallerModel(target(small2))]
    )
    assert layer2.handle(REQ, ctx(), never).degraded == "smaller_model"


def test_stale_cache_degradation() -> None:
    clock = VirtualClock()
    cache = CacheLayer(MemoryCache(clock=clock), ttl=60, stale_ttl=3600)
    good: Callable[[ChatRequest, CallContext], ChatResponse] = lambda r, c: answer("a")  # noqa: E731
    cache.handle(REQ, ctx(clock), good)  # fills the cache
    clock.advance(120)  # now stale
    layer = FallbackLayer([target(Fake("a", ServerError("x")))], degrade=[StaleCache(cache)])
    cx = ctx(clock)
    r = layer.handle(REQ, cx, never)
    assert (r.text, r.degraded, r.cached) == ("from a", "stale_cache", True)
    assert cache.stats.stale_served == 1


def test_async_chain() -> None:
    a, b = Fake("a", ServerError("x"), latency=1.0), Fake("b", latency=2.0)
    layer = FallbackLayer([target(a), target(b)], degrade=[Canned("x")])
    clock = VirtualClock()
    cx = ctx(clock)

    async def never_async(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        raise AssertionError

    r = asyncio.run(layer.ahandle(REQ, cx, never_async))
    assert r.text == "from b"
    assert r.degraded is None
    assert clock.now() == 3.0


def test_layer_validates_its_configuration() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FallbackLayer([])
    with pytest.raises(ValueError, match="unique"):
        FallbackLayer([Target("a"), Target("a")])
    with pytest.raises(ValueError, match="content_filter_target"):
        FallbackLayer([Target("a")], FallbackPolicy(content_filter_target="zzz"))


# ------------------------------------------------------------------ through llmkit.Client

MSG = [{"role": "user", "content": "Say hi."}]


def test_client_falls_back_to_another_provider_in_one_call() -> None:
    from llmkit import AsyncClient, Client
    from llmkit.sim import AsyncSimTransport, SimTransport, Simulator
    from llmkit.telemetry import MemorySink

    clock = VirtualClock()
    down = Simulator("overloaded-529", clock)
    up = Simulator("healthy", clock)
    backup = Client(
        "anthropic", api_key="sk-ant-test", transport=SimTransport(up), clock=clock, retry=1
    )
    sink = MemorySink()
    primary = Client(
        "openai",
        api_key="sk-test-123",
        transport=SimTransport(down),
        clock=clock,
        retry=3,  # attempts
        deadline=60.0,
        telemetry=sink,
        layers=[
            FallbackLayer([Target("primary"), Target.of_client(backup, model="claude-haiku-4-5")])
        ],
    )
    r = primary.chat(model="gpt-4o-mini", messages=MSG)
    assert r.provider == "anthropic"
    assert r.text
    assert down.requests == 3  # the primary's own retries ran first
    assert up.requests == 1
    (call,) = sink.calls()
    assert call.provider == "anthropic"  # served_by
    assert [a.provider for a in sink.attempts()] == ["openai"] * 3 + ["anthropic"]
    assert [a.status for a in sink.attempts()] == [503, 503, 503, 200]
    with pytest.raises(TypeError, match="sync-only"):
        asyncio.run(
            FallbackLayer([Target.of_client(backup)]).ahandle(
                REQ,
                ctx(clock),
                lambda r, c: None,  # type: ignore[arg-type,return-value]
            )
        )
    primary.close()
    backup.close()

    async def run_async() -> ChatResponse:
        abackup = AsyncClient(
            "anthropic", api_key="sk-ant-test", transport=AsyncSimTransport(up), clock=clock
        )
        aprimary = AsyncClient(
            "openai",
            api_key="sk-test-123",
            transport=AsyncSimTransport(down),
            clock=clock,
            retry=False,
            layers=[
                FallbackLayer(
                    [Target("primary"), Target.of_client(abackup, model="claude-haiku-4-5")]
                )
            ],
        )
        try:
            return await aprimary.chat(model="gpt-4o-mini", messages=MSG)
        finally:
            await aprimary.aclose()
            await abackup.aclose()

    assert asyncio.run(run_async()).provider == "anthropic"


def test_client_breaker_skips_a_dead_primary_without_sending() -> None:
    from llmkit import Client
    from llmkit.sim import SimTransport, Simulator

    clock = VirtualClock()
    down = Simulator("overloaded-529", clock)
    up = Simulator("healthy", clock)
    breaker = CircuitBreaker("primary", BreakerConfig(min_requests=3, cooldown=30), clock=clock)
    backup = Client("anthropic", api_key="sk-ant-test", transport=SimTransport(up), clock=clock)
    primary = Client(
        "openai",
        api_key="sk-test-123",
        transport=SimTransport(down),
        clock=clock,
        retry=False,
        layers=[
            FallbackLayer([Target("primary"), Target.of_client(backup, model="claude-haiku-4-5")])
        ],
        attempt_layers=[BreakerLayer(breaker)],
    )
    for _ in range(6):
        assert primary.chat(model="gpt-4o-mini", messages=MSG).provider == "anthropic"
    assert down.requests == 3  # the breaker opened after 3 failures; 3 calls never sent
    assert up.requests == 6
    clock.advance(30)
    primary.chat(model="gpt-4o-mini", messages=MSG)
    assert down.requests == 4  # one half-open probe
    primary.close()
    backup.close()


def test_client_degrades_to_canned_when_everything_is_down() -> None:
    from llmkit import Client
    from llmkit.sim import SimTransport
    from llmkit.telemetry import MemorySink

    clock = VirtualClock()
    sink = MemorySink()
    client = Client(
        "openai",
        api_key="sk-test-123",
        transport=SimTransport("overloaded-529", clock),
        clock=clock,
        retry=False,
        telemetry=sink,
        layers=[FallbackLayer([Target("primary")], degrade=[Canned("We are busy.")])],
    )
    r = client.chat(model="gpt-4o-mini", messages=MSG)
    assert (r.text, r.degraded) == ("We are busy.", "canned")
    assert sink.calls()[0].degraded == "canned"
    client.close()
