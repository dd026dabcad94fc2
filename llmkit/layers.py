"""The client is a provider plus a stack of layers, each wrapping the next.

In the spirit of tower's Layer/Service and httpx transports: a layer gets the neutral request,
the per-call context and the next handler, and decides what to do around it (retry it, time it,
record it, answer from cache, send it elsewhere). The innermost handler is the transport, which
sends one attempt over HTTP through the provider adapter.

Each layer has a sync ``handle`` and an async ``ahandle``. Both are thin drivers over the same
pure policy object (no I/O: given state and an outcome, decide), so no pattern is written twice.

Order is documented where a stack is built (``llmkit.client.default_layers``); the first layer
in the list is the outermost.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar, runtime_checkable

from llmkit.clock import Clock, system_clock
from llmkit.outcomes import AttemptOutcome, Event
from llmkit.types import ChatRequest, ChatResponse

__all__ = ["AsyncHandler", "CallContext", "Handler", "Layer", "compose", "compose_async"]

T = TypeVar("T")


@dataclass(slots=True)
class CallContext:
    """Mutable state of one logical call, shared by every layer and attempt in it."""

    provider: str
    clock: Clock = system_clock
    deadline: float | None = None
    """Absolute ``clock.now()`` by which the whole call must end, or None."""
    attempt: int = 0
    """Attempts started so far in this call (the transport increments it)."""
    call_id: str = ""
    scope: str = ""
    """Who is asking where: the endpoint (credentials masked) and a keyed hash of the
    credentials (``llmkit.cache.key.credential_scope``), so no cached answer crosses tenants."""
    started: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    outcomes: dict[type[Any], Any] = field(default_factory=dict)
    """Each layer's typed outcome, by type (``report`` / ``outcome``; see ``llmkit.outcomes``)."""
    attempts: list[AttemptOutcome] = field(default_factory=list)
    """Every attempt of this call as the transport saw it, in order."""
    events: list[Event] | None = None
    """Event rows layers asked for (``event``); telemetry emits them."""
    min_attempt: float = 0.0
    """No attempt starts with less than this many seconds left (set by the deadline layer)."""
    deliver_stream: bool = False
    """``Client.stream``: the transport returns as soon as the first content event has
    arrived and leaves the open stream in ``stream`` (retries and fallbacks happen only
    before that)."""
    stream: Any = None
    """The open ``llmkit.transport.ChatStream`` when ``deliver_stream`` is set; the response
    returned through the layers is then a placeholder with empty text."""
    on_stream_end: list[Callable[[ChatResponse | None, BaseException | None], None]] | None = None
    """Callbacks run when a delivered stream ends (layers that need the final answer)."""
    stream_result: tuple[ChatResponse | None, BaseException | None] | None = None
    """``(response, error)`` once the delivered stream has ended."""

    def at_stream_end(
        self, callback: Callable[[ChatResponse | None, BaseException | None], None]
    ) -> None:
        """Run ``callback(response, error)`` when the delivered stream ends (now if it has)."""
        if self.stream_result is not None:
            callback(*self.stream_result)
            return
        if self.on_stream_end is None:
            self.on_stream_end = []
        self.on_stream_end.append(callback)

    def report(self, outcome: object) -> None:
        """Attach a layer's outcome (replacing an earlier one of the same type)."""
        self.outcomes[type(outcome)] = outcome

    def outcome(self, kind: type[T]) -> T | None:
        """The outcome of type ``kind`` reported in this call, or None."""
        found: T | None = self.outcomes.get(kind)
        return found

    def event(self, event: str, *, target: str, reason: str, **attributes: Any) -> None:
        """Ask telemetry for an event row (``llmkit.outcomes.Event``) about this call."""
        if self.events is None:
            self.events = []
        self.events.append(Event(event, target, reason, self.clock.now(), attributes))

    def branch(self) -> CallContext:
        """A context for a concurrent second attempt (a hedge): its own outcomes and attempt
        count; the deadline, clock, attempt list, events and stream-end callbacks are shared."""
        if self.on_stream_end is None:
            self.on_stream_end = []
        if self.events is None:
            self.events = []
        return replace(self, outcomes={})

    def adopt(self, branch: CallContext) -> None:
        """Make ``branch``'s outcomes this call's (the branch whose answer was used)."""
        self.outcomes.update(branch.outcomes)
        self.attempt = max(self.attempt, branch.attempt)
        self.stream = branch.stream

    def remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative), or None without a deadline."""
        if self.deadline is None:
            return None
        return self.deadline - self.clock.now()


Handler = Callable[[ChatRequest, CallContext], ChatResponse]
AsyncHandler = Callable[[ChatRequest, CallContext], Awaitable[ChatResponse]]


@runtime_checkable
class Layer(Protocol):
    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse: ...

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse: ...


def compose(layers: Sequence[Layer], inner: Handler) -> Handler:
    """Wrap ``inner`` so that ``layers[0]`` is outermost."""
    handler = inner
    for layer in reversed(layers):
        handler = _bind(layer, handler)
    return handler


def compose_async(layers: Sequence[Layer], inner: AsyncHandler) -> AsyncHandler:
    handler = inner
    for layer in reversed(layers):
        handler = _abind(layer, handler)
    return handler


def _bind(layer: Layer, nxt: Handler) -> Handler:
    def call(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        return layer.handle(request, ctx, nxt)

    return call


def _abind(layer: Layer, nxt: AsyncHandler) -> AsyncHandler:
    async def call(request: ChatRequest, ctx: CallContext) -> ChatResponse:
        return await layer.ahandle(request, ctx, nxt)

    return call
