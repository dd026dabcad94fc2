"""Timeouts per attempt and one total deadline per call.

Why both: the SDKs default to a 600 s read timeout *per attempt*, so ``timeout=30,
max_retries=2`` can take 91 s (openai-python #3828). Here each phase of an attempt has its own
short timeout (:class:`Timeouts`), and the whole call -- every attempt and every backoff sleep
together -- is bounded by a deadline:

* no attempt starts with less than ``min_attempt`` seconds left (DeadlineExceededError);
* each attempt's timeouts shrink to the time left, so the call never overruns its deadline
  by more than scheduling noise; a timeout that fired because of that shrinking is reported
  as DeadlineExceededError (not retryable), not as an ordinary TimeoutError;
* the retry layer does not sleep past the deadline (see ``llmkit.retry``).

The effective per-attempt timeouts travel in ``request.extensions["timeout"]``, httpx's own
way, so any transport -- real, fake or simulated on a virtual clock -- can honour them.

httpx's read timeout bounds each socket read, not the whole body: for a stream it is the idle
timeout between chunks (``Timeouts.stream_idle``), and the stream reader also checks the
deadline after every chunk. On the system clock a read in flight at the deadline is cut too:
by ``asyncio.timeout`` (async) or by :mod:`llmkit.watchdog` shutting the socket down (sync,
once the response headers are in).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmkit.errors import DeadlineExceededError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.types import ChatRequest, ChatResponse

__all__ = ["AttemptTimeouts", "Deadline", "DeadlineLayer", "Timeouts"]

_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt timeouts in seconds. Defaults are short on purpose (not the SDKs' 600 s)."""

    connect: float = 5.0
    read: float = 60.0
    """Longest wait for one read of a non-streaming body."""
    write: float = 10.0
    pool: float = 5.0
    """Longest wait for a free connection from the pool."""
    stream_idle: float = 30.0
    """Longest silence between two chunks of a stream (the read timeout of stream requests)."""

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool", "stream_idle"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"Timeouts.{name} must be a positive number, got {value!r}")

    @classmethod
    def of(cls, value: Timeouts | float | None) -> Timeouts:
        """``None`` -> defaults; a number sets ``read`` and ``stream_idle`` and caps the rest."""
        if value is None:
            return cls()
        if isinstance(value, Timeouts):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"timeout must be Timeouts, a number or None, not {value!r}")
        v = float(value)
        d = cls()
        return cls(min(d.connect, v), v, min(d.write, v), min(d.pool, v), v)

    def for_attempt(self, remaining: float | None, *, stream: bool) -> AttemptTimeouts:
        """The timeouts of one attempt started with ``remaining`` seconds before the deadline."""
        read = self.stream_idle if stream else self.read
        if remaining is None:
            return AttemptTimeouts(self.connect, read, self.write, self.pool, _NONE)
        rem = max(remaining, 0.0)
        if rem >= self.connect and rem >= read and rem >= self.write and rem >= self.pool:
            return AttemptTimeouts(self.connect, read, self.write, self.pool, _NONE)  # fast path
        shrunk = frozenset(
            name
            for name, value in (
                ("connect", self.connect),
                ("read", read),
                ("write", self.write),
                ("pool", self.pool),
            )
            if rem < value
        )
        return AttemptTimeouts(
            min(self.connect, rem),
            min(read, rem),
            min(self.write, rem),
            min(self.pool, rem),
            shrunk,
        )


@dataclass(frozen=True, slots=True)
class AttemptTimeouts:
    """Effective timeouts of one attempt; ``shrunk`` names the phases the deadline cut."""

    connect: float
    read: float
    write: float
    pool: float
    shrunk: frozenset[str]

    def as_extension(self) -> dict[str, float]:
        """The ``request.extensions["timeout"]`` value httpx transports read."""
        return {"connect": self.connect, "read": self.read, "write": self.write, "pool": self.pool}


@dataclass(frozen=True, slots=True)
class Deadline:
    """Pure deadline policy: the default total per call and the minimum useful attempt time."""

    total: float | None = 120.0
    """Seconds for the whole call (all attempts and sleeps), or None for no deadline."""
    min_attempt: float = 0.25
    """An attempt with less time than this left is not started."""

    def __post_init__(self) -> None:
        if self.total is not None and self.total <= 0:
            raise ValueError("deadline must be positive seconds or None")
        if self.min_attempt < 0:
            raise ValueError("min_attempt must be >= 0")

    def apply(self, ctx: CallContext) -> None:
        """Give the call its deadline (unless the caller already set one) and check it."""
        if ctx.deadline is None and self.total is not None:
            ctx.deadline = ctx.clock.now() + self.total
        ctx.min_attempt = max(ctx.min_attempt, self.min_attempt)
        check_can_start(ctx)


def check_can_start(ctx: CallContext) -> None:
    """Raise DeadlineExceededError when too little time is left to start an attempt."""
    remaining = ctx.remaining()
    if remaining is not None and remaining < max(ctx.min_attempt, 1e-9):
        raise DeadlineExceededError(
            f"call deadline exceeded: {max(remaining, 0.0):.3f}s left, an attempt needs "
            f"at least {ctx.min_attempt:.3f}s",
            provider=ctx.provider,
        )


class DeadlineLayer:
    """Sets the call's deadline; the transport and the retry layer enforce it."""

    __slots__ = ("policy",)

    def __init__(self, policy: Deadline | None = None) -> None:
        self.policy = policy or Deadline()

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        self.policy.apply(ctx)
        return next(request, ctx)

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        self.policy.apply(ctx)
        return await next(request, ctx)

    def __repr__(self) -> str:
        return f"DeadlineLayer({self.policy!r})"
