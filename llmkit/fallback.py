"""Fallback along an ordered chain of targets, and graceful degradation when all of them fail.

A :class:`Target` is a route to a model: a handler (usually another client's layer stack, or
``None`` for "the rest of this stack") plus the model to ask for. The chain is tried in order.
Which failures move on is a pure policy, :class:`FallbackPolicy`:

=====================  ==========================================================
failure                what happens
=====================  ==========================================================
retryable kinds        next target (the target's own retry layer already gave up)
``circuit open``       next target, without spending an attempt
``quota_exhausted``    next target on *another* provider
``context_length``     next target with a larger ``context_window``; none → raise
``content_filter``     the configured alternative target; none → raise
``auth``,              raised at once: a fallback must not mask a caller's bug
``bad_request``, ...
deadline exceeded      the chain stops (the deadline is shared by the whole chain)
=====================  ==========================================================

When the chain ends without an answer, either a :class:`DegradeStep` answers (a stale cache
entry, a canned reply, a smaller model) and the response says so in ``degraded``, or
:class:`AllTargetsFailedError` is raised.

Why :class:`AllTargetsFailedError` is both an ``ExceptionGroup`` and an ``LLMError``: as a group
it keeps every target's failure with its traceback (``except* RateLimitError`` works, as in
pydantic-ai's ``FallbackExceptionGroup``); as an ``LLMError`` it does not escape code that
already catches ``LLMError`` and reads ``kind``/``retryable``/``retry_after`` (they summarize
the group: kind and retryable of the failure that ended the chain, the soonest retry_after).

Telemetry: the layer reports a :class:`FallbackOutcome`: every target tried or passed over and
why (``steps``, read as ``path``: ``"a=overloaded>b=circuit_open>c=ok"``), the target that
answered (``degrade:<reason>`` for a degradation step) and its provider (the call record's
``provider``). Its columns: ``llmkit.target``, ``llmkit.fallback.path``,
``llmkit.fallback.skipped``, ``llmkit.degraded`` and ``gen_ai.provider.name``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from llmkit.errors import (
    AllTargetsFailedError,
    CircuitOpenError,
    DeadlineExceededError,
    ErrorKind,
    LLMError,
)
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.types import ChatRequest, ChatResponse

if TYPE_CHECKING:
    from llmkit.client import AsyncClient, Client

__all__ = [
    "MOVE_ON_KINDS",
    "Canned",
    "Decision",
    "DegradeStep",
    "FallbackLayer",
    "FallbackOutcome",
    "FallbackPolicy",
    "FallbackStep",
    "SmallerModel",
    "Target",
]

MOVE_ON_KINDS: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.RATE_LIMIT,
        ErrorKind.OVERLOADED,
        ErrorKind.SERVER_ERROR,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.INVALID_RESPONSE,
    }
)
"""Transient kinds: once a target's retries are spent, the next target may still answer."""

_ROUTED_KINDS = frozenset(
    {ErrorKind.QUOTA_EXHAUSTED, ErrorKind.CONTEXT_LENGTH, ErrorKind.CONTENT_FILTER}
)
"""Kinds that move on to a *chosen* target (see :meth:`FallbackPolicy.decide`)."""


@dataclass(frozen=True, slots=True)
class Target:
    """One route in the chain.

    ``handler``/``ahandler`` send the request to this target (the rest of the client's own
    stack when None). ``model`` replaces the request's model. ``provider`` and
    ``context_window`` let the policy pick the right next target for quota and context-length
    failures.
    """

    name: str
    model: str | None = None
    provider: str | None = None
    context_window: int | None = None
    handler: Handler | None = field(default=None, compare=False)
    ahandler: AsyncHandler | None = field(default=None, compare=False)

    def prepare(self, request: ChatRequest) -> ChatRequest:
        return request if self.model is None else request.with_(model=self.model)

    @classmethod
    def of_client(
        cls,
        client: Client | AsyncClient,
        *,
        name: str | None = None,
        model: str | None = None,
        context_window: int | None = None,
    ) -> Target:
        """A target served by another client's stack (its retries, breaker, transport), in
        the calling client's context: one deadline and one telemetry record for the call."""
        from llmkit.client import AsyncClient  # noqa: PLC0415 - the client imports layers

        provider, scope = client.provider, client.scope
        label = name or (f"{provider}:{model}" if model else provider)
        if isinstance(client, AsyncClient):
            ainner = client.inner_handler()

            async def acall(request: ChatRequest, ctx: CallContext) -> ChatResponse:
                outer = ctx.provider, ctx.scope
                ctx.provider, ctx.scope = provider, scope
                try:
                    return await ainner(request, ctx)
                finally:
                    ctx.provider, ctx.scope = outer

            return cls(label, model, provider, context_window, ahandler=acall)
        inner = client.inner_handler()

        def call(request: ChatRequest, ctx: CallContext) -> ChatResponse:
            outer = ctx.provider, ctx.scope
            ctx.provider, ctx.scope = provider, scope
            try:
                return inner(request, ctx)
            finally:
                ctx.provider, ctx.scope = outer

        return cls(label, model, provider, context_window, handler=call)

    def sync_handler(self, next: Handler) -> Handler:
        if self.handler is not None:
            return self.handler
        if self.ahandler is not None:
            raise TypeError(f"target {self.name!r} is async-only (built from an AsyncClient)")
        return next

    def async_handler(self, next: AsyncHandler) -> AsyncHandler:
        if self.ahandler is not None:
            return self.ahandler
        if self.handler is not None:
            raise TypeError(f"target {self.name!r} is sync-only (built from a Client)")
        return next


class Action(StrEnum):
    TRY = "try"
    RAISE = "raise"
    """Re-raise this error as is (not masked)."""
    STOP = "stop"
    """End the chain: degrade, or raise AllTargetsFailedError."""


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    index: int | None = None
    reason: str = ""
    passed_over: tuple[tuple[int, str], ...] = ()
    """Targets between the failed one and ``index`` that were skipped, with why."""


@dataclass(frozen=True, slots=True)
class FallbackPolicy:
    """Decides, from a failure, which target comes next (pure: no I/O, no clock)."""

    move_on_kinds: frozenset[ErrorKind] = MOVE_ON_KINDS
    content_filter_target: str | None = None
    """Name of the target to use when a response is blocked by a content filter."""

    def reason(self, error: BaseException) -> str | None:
        """Why this failure may move on (a telemetry word), or None if it must be raised."""
        if isinstance(error, CircuitOpenError):
            return "circuit_open"
        if isinstance(error, DeadlineExceededError):
            return "deadline"
        if not isinstance(error, LLMError):
            return None  # a bug or a cancellation is never masked
        if error.kind in _ROUTED_KINDS or error.kind in self.move_on_kinds:
            return str(error.kind)
        return None

    def decide(
        self, error: BaseException, targets: Sequence[Target], failed: int, tried: set[int]
    ) -> Decision:
        reason = self.reason(error)
        if reason is None:
            return Decision(Action.RAISE, reason="not masked")
        if reason == "deadline":
            return Decision(Action.STOP, reason="deadline")
        if reason == "content_filter":
            for i, t in enumerate(targets):
                if t.name == self.content_filter_target and i not in tried:
                    return Decision(Action.TRY, i, reason)
            return Decision(Action.RAISE, reason="no content-filter alternative")
        passed: list[tuple[int, str]] = []
        here = targets[failed]
        for i in range(failed + 1, len(targets)):
            if i in tried:
                continue
            why_not = self._unfit(reason, here, targets[i])
            if why_not is None:
                return Decision(Action.TRY, i, reason, tuple(passed))
            passed.append((i, why_not))
        if reason == "context_length":
            return Decision(
                Action.RAISE, reason="no larger-context target", passed_over=tuple(passed)
            )
        return Decision(Action.STOP, reason=reason, passed_over=tuple(passed))

    @staticmethod
    def _unfit(reason: str, failed: Target, candidate: Target) -> str | None:
        if reason == "quota_exhausted" and (
            failed.provider is not None and candidate.provider == failed.provider
        ):
            return f"same provider {candidate.provider} (quota exhausted)"
        if reason == "context_length":
            have = candidate.context_window
            need = failed.context_window
            if have is None or (need is not None and have <= need):
                return f"context window {have} not larger than {need}"
        return None


class DegradeStep(Protocol):
    """A last resort when every target failed; returns None when it has nothing to offer."""

    @property
    def reason(self) -> str:
        """Telemetry word for the degradation (read-only, so frozen dataclasses fit)."""
        ...

    def degrade(
        self, request: ChatRequest, ctx: CallContext, failure: AllTargetsFailedError
    ) -> ChatResponse | None: ...

    async def adegrade(
        self, request: ChatRequest, ctx: CallContext, failure: AllTargetsFailedError
    ) -> ChatResponse | None: ...


@dataclass(frozen=True, slots=True)
class Canned:
    """Answer with a fixed text (\"The assistant is busy, try again shortly.\")."""

    text: str
    reason: str = "canned"
    provider: str = "canned"

    def degrade(
        self, request: ChatRequest, ctx: CallContext, failure: AllTargetsFailedError
    ) -> ChatResponse:
        return ChatResponse(
            text=self.text, model=None, provider=self.provider, finish_reason="stop"
        )

    async def adegrade(
        self, request: ChatRequest, ctx: CallContext, failure: AllTargetsFailedError
    ) -> ChatResponse:
        return self.degrade(request, ctx, failure)


@dataclass(frozen=True, slots=True)
class SmallerModel:
    """Ask a smaller (cheaper, less loaded) model; None if it fails too."""

    target: Target
    reason: str = "smaller_model"

    def degrade(
        self, request: ChatRequest, ctx: CallContext, failure: AllTargetsFailedError
    ) -> ChatResponse | None:
        if self.target.handler is None:
            raise ValueError(f"degrade target {self.target.name!r} needs a handler")
        try:
            return self.target.handler(self.target.prepare(request), ctx)
        except LLMError:
            return None

    async def adegrade(
        self, request: ChatRequest, ctx: CallContext, failure: AllTargetsFailedError
    ) -> ChatResponse | None:
        if self.target.ahandler is None:
            raise ValueError(f"degrade target {self.target.name!r} needs an ahandler")
        try:
            return await self.target.ahandler(self.target.prepare(request), ctx)
        except LLMError:
            return None


@dataclass(frozen=True, slots=True)
class FallbackStep:
    """One target in the walk: its name, what happened there, and why it was passed over."""

    target: str
    word: str
    """``ok`` (answered), an error kind (failed there), ``circuit_open`` (skipped, nothing
    sent), ``deadline`` (skipped, no time left), ``passed_over`` (unfit for that failure, e.g.
    same provider after a quota error)."""
    why: str | None = None


@dataclass(frozen=True, slots=True)
class FallbackOutcome:
    """The walk along the chain in one call (``ctx.outcome(FallbackOutcome)``)."""

    steps: tuple[FallbackStep, ...] = ()
    """Every target tried or passed over, in order; a degradation step that answered last."""
    target: str | None = None
    """The target that answered; ``degrade:<reason>`` for a degradation step."""
    served_by: str | None = None
    """The provider that answered."""
    degraded: str | None = None
    """The degradation step's reason, when one answered."""

    @property
    def path(self) -> str:
        """``"a=overloaded>b=circuit_open>c=ok"``."""
        return ">".join(f"{s.target}={s.word}" for s in self.steps)

    @property
    def skipped(self) -> int:
        """Targets that did not answer."""
        return sum(s.word != "ok" for s in self.steps if not s.target.startswith("degrade:"))


register_columns(
    FallbackOutcome,
    Column("target", "llmkit.target", call=lambda o: o.target),
    Column("fallback_path", "llmkit.fallback.path", call=lambda o: o.path),
    Column("fallback_skipped", "llmkit.fallback.skipped", call=lambda o: o.skipped),
    Column("degraded", "llmkit.degraded", call=lambda o: o.degraded),
    Column("provider", "gen_ai.provider.name", call=lambda o: o.served_by),
)


class _Chain:
    """One call's walk along the targets: the shared bookkeeping of both drivers."""

    def __init__(self, layer: FallbackLayer, ctx: CallContext) -> None:
        self.layer = layer
        self.ctx = ctx
        self.index: int | None = 0
        self.tried: set[int] = set()
        self.failures: list[Exception] = []
        self.names: list[str] = []
        self.steps: list[FallbackStep] = []
        self._report()

    def _report(self, **answered: str | None) -> None:
        self.ctx.report(FallbackOutcome(tuple(self.steps), **answered))

    def _step(self, target: str, word: str, why: str | None = None) -> None:
        self.steps.append(FallbackStep(target, word, why))
        self._report()

    def target(self) -> Target | None:
        """The next target to call, or None when the chain is over."""
        if self.index is None:
            return None
        remaining = self.ctx.remaining()
        if remaining is not None and remaining <= 0:
            t = self.layer.targets[self.index]
            self._fail(t, DeadlineExceededError("the call's deadline ran out before this target"))
            self._step(t.name, "deadline")
            return None
        self.tried.add(self.index)
        return self.layer.targets[self.index]

    def success(self, target: Target, response: ChatResponse) -> ChatResponse:
        self.steps.append(FallbackStep(target.name, "ok"))
        served_by = target.provider or response.provider or self.ctx.provider
        self._report(target=target.name, served_by=served_by)
        return response

    def failure(self, target: Target, error: BaseException) -> None:
        """Record the failure and move on, or re-raise it when it must not be masked."""
        assert self.index is not None
        decision = self.layer.policy.decide(error, self.layer.targets, self.index, self.tried)
        if decision.action is Action.RAISE or not isinstance(error, Exception):
            self._step(target.name, _kind(error))
            raise error
        self._fail(target, error)
        circuit_open = isinstance(error, CircuitOpenError)
        self._step(target.name, "circuit_open" if circuit_open else _kind(error))
        for i, why in decision.passed_over:
            self._step(self.layer.targets[i].name, "passed_over", why)
        self.index = decision.index if decision.action is Action.TRY else None

    def _fail(self, target: Target, error: Exception) -> None:
        self.failures.append(error)
        self.names.append(target.name)

    def group(self) -> AllTargetsFailedError:
        n = len(self.layer.targets)
        return AllTargetsFailedError(f"all {n} fallback targets failed", self.failures, self.names)

    def degraded(self, step: DegradeStep, response: ChatResponse) -> ChatResponse:
        name = f"degrade:{step.reason}"
        self.steps.append(FallbackStep(name, "ok"))
        self._report(target=name, served_by=response.provider, degraded=step.reason)
        return response.with_(degraded=step.reason)


def _kind(error: BaseException) -> str:
    return str(error.kind) if isinstance(error, LLMError) else type(error).__name__


@dataclass(slots=True)
class FallbackLayer:
    """Tries ``targets`` in order under ``policy``; degrades through ``degrade`` at the end.

    A target whose handler is None is served by the rest of this stack (``next``), so the
    usual set-up is ``[Target("primary"), Target("backup", handler=other_client_stack)]``.
    The call context (and so its deadline) is shared by every target.
    """

    targets: Sequence[Target]
    policy: FallbackPolicy = field(default_factory=FallbackPolicy)
    degrade: Sequence[DegradeStep] = ()

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("a fallback chain needs at least one target")
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"target names must be unique, got {names}")
        cf = self.policy.content_filter_target
        if cf is not None and cf not in names:
            raise ValueError(f"content_filter_target {cf!r} is not a target name")

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        chain = _Chain(self, ctx)
        while (target := chain.target()) is not None:
            handler = target.sync_handler(next)
            try:
                response = handler(target.prepare(request), ctx)
            except BaseException as exc:
                chain.failure(target, exc)
                continue
            return chain.success(target, response)
        group = chain.group()
        for step in self.degrade:
            answer = step.degrade(request, ctx, group)
            if answer is not None:
                return chain.degraded(step, answer)
        raise group

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        chain = _Chain(self, ctx)
        while (target := chain.target()) is not None:
            handler = target.async_handler(next)
            try:
                response = await handler(target.prepare(request), ctx)
            except BaseException as exc:
                chain.failure(target, exc)
                continue
            return chain.success(target, response)
        group = chain.group()
        for step in self.degrade:
            answer = await step.adegrade(request, ctx, group)
            if answer is not None:
                return chain.degraded(step, answer)
        raise group
