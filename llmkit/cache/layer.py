"""The cache as a layer: answer deterministic requests from a backend, store complete answers.

Only requests that :func:`~llmkit.cache.key.is_cacheable` (temperature 0, or opted in) are
looked up; only complete, successful answers are stored: finished (``stop`` or
``tool_calls``; not cut at ``length``, not ``content_filter``), no refusal, not degraded, not
itself from the cache. ``store_incomplete=True`` also stores truncated answers and refusals
(content-filtered ones never). A hit comes back with
``cached=True`` and the lookup's own latency. Entries stay readable ``stale_ttl`` seconds after
they go stale, for :class:`StaleCache` to serve when every provider fails.

A broken backend never breaks a call: its errors are logged (no content, no secrets), counted
in ``stats.errors`` and the call goes on uncached. A corrupt entry is logged, counted, deleted,
and replaced by the next answer.

A slow backend never holds a call past its deadline: a cache is an optimisation, so each
lookup gets at most ``timeout`` seconds and at most half the call's time left, each write at
most ``timeout`` and the time left. A lookup past its budget counts as a miss, a write past it
is skipped; both are counted in ``stats.timeouts`` and show in telemetry as
``llmkit.cache.status`` ``"timeout"`` / ``"write_timeout"``. A backend bounds a sync call
itself when its methods take ``timeout=`` (SQLite: its busy timeout; Redis: a worker thread).

Under an async client the event loop is never blocked: a backend with ``aget``/``aset``/
``adelete`` coroutines (Redis: ``redis.asyncio``) is awaited, any other blocking backend
(SQLite) runs in a worker thread, and only a backend that declares ``blocking = False``
(:class:`~llmkit.cache.memory.MemoryCache`) is called inline; each under ``asyncio.timeout``
of its budget.

A cache hit for ``Client.stream`` is delivered as a completed stream by the client; a miss
is stored when the delivered stream ends cleanly.

Telemetry: the layer reports a :class:`CacheOutcome`; its columns are ``llmkit.cache.status``
and ``llmkit.cache_hit`` (True on a hit, else None).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmkit.cache.entry import CacheBackend, Entry, decode_entry, encode_entry
from llmkit.cache.key import cache_key, is_cacheable
from llmkit.cache.stats import CacheStats, Pricer, StatsRecorder
from llmkit.clock import Clock, SystemClock
from llmkit.errors import CacheUnavailableError, CorruptEntryError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.types import ChatRequest, ChatResponse, StreamEvent

__all__ = ["CacheLayer", "CacheOutcome", "StaleCache", "replay_stream"]


@dataclass(frozen=True, slots=True)
class CacheOutcome:
    """What the cache did for one call: ``hit``, ``miss``, ``store`` (a miss whose answer was
    stored), ``skip`` (not cacheable), ``timeout`` (the lookup ran out of its budget: a miss)
    or ``write_timeout`` (the answer was not stored: the write ran out of its budget)."""

    status: str


register_columns(
    CacheOutcome,
    Column("cache_status", "llmkit.cache.status", call=lambda o: o.status),
    Column("cache_hit", "llmkit.cache_hit", call=lambda o: True if o.status == "hit" else None),
)

log = logging.getLogger("llmkit.cache")

_COMPLETE_FINISH = frozenset({"stop", "tool_calls"})
_NEVER_STORED_FINISH = frozenset({"content_filter"})
_TIMEOUT = object()
"""What a backend operation that ran out of its budget returns inside the layer."""


@dataclass(slots=True)
class CacheLayer:
    backend: CacheBackend
    ttl: float | None = 3600.0
    """Seconds an entry is fresh (None = forever)."""
    stale_ttl: float = 0.0
    """Seconds a stale entry is kept for degraded serving."""
    opt_in: bool = False
    """Cache non-deterministic requests too (otherwise only temperature 0 or tag cache=on)."""
    pricer: Pricer | None = None
    stats_recorder: StatsRecorder = field(default_factory=StatsRecorder)
    timeout: float = 1.0
    """Most seconds one backend operation may take (see the module docstring)."""
    store_incomplete: bool = False
    """Also store answers cut at ``length`` and refusals (off: a retry may well finish them)."""
    _timed: bool = field(default=False, init=False, repr=False)
    _pending: set[asyncio.Task[Any]] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout must be > 0")
        try:
            self._timed = "timeout" in inspect.signature(self.backend.get).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            self._timed = False
        if self.ttl is not None and self.ttl <= 0:
            raise ValueError("ttl must be > 0 or None")
        if self.stale_ttl < 0:
            raise ValueError("stale_ttl must be >= 0")
        if self.pricer is not None and self.stats_recorder.pricer is None:
            self.stats_recorder.pricer = self.pricer

    @property
    def stats(self) -> CacheStats:
        return self.stats_recorder.snapshot()

    # -- lookups usable outside a call (notebooks, degradation)

    def key(self, request: ChatRequest, provider: str, scope: str = "") -> str | None:
        """The key, or None when the request is not cacheable. ``scope`` is the caller's
        (``ctx.scope``: endpoint and credential hash), so no answer crosses tenants."""
        if not is_cacheable(request, opt_in=self.opt_in):
            return None
        try:
            return cache_key(request, provider, scope)
        except TypeError:
            return None

    def lookup(self, key: str, *, timeout: float | None = None) -> Entry | None:
        """The entry under ``key`` (fresh or stale), or None; corrupt entries are dropped.
        ``timeout``: seconds the backend may take (default ``self.timeout``); past it, None."""
        raw = self._run("read", "get", (key,), self._limit(timeout))
        return None if raw is _TIMEOUT else self._decode(key, raw)

    def store(
        self, key: str, response: ChatResponse, clock: Clock, *, timeout: float | None = None
    ) -> bool:
        """Store a complete answer; False when it is not one, or the write failed or timed out."""
        value = self._encode(key, response, clock)
        if value is None:
            return False
        return self._stored(
            self._run("write", "set", (key, value[0]), self._limit(timeout), ttl=value[1])
        )

    async def alookup(self, key: str, *, timeout: float | None = None) -> Entry | None:
        """As :meth:`lookup`, without blocking the event loop."""
        raw = await self._arun("read", "get", (key,), self._limit(timeout))
        return None if raw is _TIMEOUT else await self._adecode(key, raw)

    async def astore(
        self, key: str, response: ChatResponse, clock: Clock, *, timeout: float | None = None
    ) -> bool:
        """As :meth:`store`, without blocking the event loop."""
        value = self._encode(key, response, clock)
        if value is None:
            return False
        done = await self._arun("write", "set", (key, value[0]), self._limit(timeout), ttl=value[1])
        return self._stored(done)

    # -- backend calls, bounded

    def _limit(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    def _encode(
        self, key: str, response: ChatResponse, clock: Clock
    ) -> tuple[bytes, float | None] | None:
        if not _complete(response, incomplete_ok=self.store_incomplete):
            return None
        wall = clock.wall()
        fresh_until = None if self.ttl is None else wall + self.ttl
        keep = None if self.ttl is None else self.ttl + self.stale_ttl
        entry = Entry(key, response.with_(cached=False, degraded=None), wall, fresh_until)
        return encode_entry(entry), keep

    def _stored(self, done: object) -> bool:
        if done is _TIMEOUT or done is False:
            return False
        self.stats_recorder.store()
        return True

    def _decode(self, key: str, raw: object) -> Entry | None:
        if not isinstance(raw, bytes):
            return None
        try:
            return decode_entry(raw, key=key)
        except CorruptEntryError as exc:
            log.warning("ignoring corrupt cache entry %s… (%s)", key[:12], exc.message)
            self.stats_recorder.corrupt()
            self._run("delete", "delete", (key,), self.timeout)
            return None

    async def _adecode(self, key: str, raw: object) -> Entry | None:
        if not isinstance(raw, bytes):
            return None
        try:
            return decode_entry(raw, key=key)
        except CorruptEntryError as exc:
            log.warning("ignoring corrupt cache entry %s… (%s)", key[:12], exc.message)
            self.stats_recorder.corrupt()
            await self._arun("delete", "delete", (key,), self.timeout)
            return None

    def _run(self, what: str, op: str, args: tuple[Any, ...], budget: float, **kw: Any) -> Any:
        """``backend.<op>(*args)`` within ``budget`` seconds: its result, False when it
        failed, or ``_TIMEOUT``."""
        if budget <= 0:
            return self._timed_out(what, budget)
        if self._timed:
            kw["timeout"] = budget
        try:
            out = getattr(self.backend, op)(*args, **kw)
        except CacheUnavailableError as exc:
            if isinstance(exc.__cause__, TimeoutError):
                return self._timed_out(what, budget)
            self._backend_failed(what, exc)
            return False
        return True if out is None and op != "get" else out

    async def _arun(
        self, what: str, op: str, args: tuple[Any, ...], budget: float, **kw: Any
    ) -> Any:
        """As :meth:`_run`, never blocking the loop (see the module docstring)."""
        if budget <= 0:
            return self._timed_out(what, budget)
        backend = self.backend
        native: Callable[..., Awaitable[Any]] | None = getattr(backend, "a" + op, None)
        try:
            async with asyncio.timeout(budget):
                if native is not None:
                    out = await native(*args, **kw)
                elif getattr(backend, "blocking", True):
                    if self._timed:
                        kw["timeout"] = budget
                    out = await asyncio.to_thread(getattr(backend, op), *args, **kw)
                else:
                    out = getattr(backend, op)(*args, **kw)
        except TimeoutError:
            return self._timed_out(what, budget)
        except CacheUnavailableError as exc:
            if isinstance(exc.__cause__, TimeoutError):
                return self._timed_out(what, budget)
            self._backend_failed(what, exc)
            return False
        return True if out is None and op != "get" else out

    def _timed_out(self, what: str, budget: float) -> object:
        log.warning("cache %s took more than its %.3gs, continuing without it", what, budget)
        self.stats_recorder.timeout()
        return _TIMEOUT

    def _backend_failed(self, what: str, exc: CacheUnavailableError) -> None:
        log.warning("cache %s failed, continuing without cache: %s", what, exc.message)
        self.stats_recorder.error()

    # -- the layer

    def _budget(self, ctx: CallContext, *, read: bool) -> float:
        """A backend operation's seconds: ``timeout``, cut to the call's time left (half of
        it for a lookup, which the call still needs after). Virtual seconds are not the
        backend's, so on another clock only ``timeout`` applies."""
        remaining = ctx.remaining()
        if remaining is None or type(ctx.clock) is not SystemClock:
            return self.timeout
        return min(self.timeout, remaining / 2 if read else remaining)

    def _key(self, request: ChatRequest, ctx: CallContext) -> str | None:
        key = self.key(request, ctx.provider, ctx.scope)
        if key is None:
            self.stats_recorder.skip()
            ctx.report(CacheOutcome("skip"))
        return key

    def _found(
        self, key: str, raw: object, entry: Entry | None, ctx: CallContext, started: float
    ) -> ChatResponse | None:
        if raw is _TIMEOUT:
            self.stats_recorder.miss()
            ctx.report(CacheOutcome("timeout"))
            return None
        if entry is None or not entry.is_fresh(ctx.clock.wall()):
            self.stats_recorder.miss()
            ctx.report(CacheOutcome("miss"))
            return None
        self.stats_recorder.hit(entry.response, at=ctx.clock.wall())
        ctx.report(CacheOutcome("hit"))
        return entry.response.with_(cached=True, latency=ctx.clock.now() - started, ttft=None)

    def _before(
        self, request: ChatRequest, ctx: CallContext
    ) -> tuple[str | None, ChatResponse | None]:
        key = self._key(request, ctx)
        if key is None:
            return None, None
        started = ctx.clock.now()
        raw = self._run("read", "get", (key,), self._budget(ctx, read=True))
        entry = None if raw is _TIMEOUT else self._decode(key, raw)
        return key, self._found(key, raw, entry, ctx, started)

    async def _abefore(
        self, request: ChatRequest, ctx: CallContext
    ) -> tuple[str | None, ChatResponse | None]:
        key = self._key(request, ctx)
        if key is None:
            return None, None
        started = ctx.clock.now()
        raw = await self._arun("read", "get", (key,), self._budget(ctx, read=True))
        entry = None if raw is _TIMEOUT else await self._adecode(key, raw)
        return key, self._found(key, raw, entry, ctx, started)

    def _to_store(self, response: ChatResponse, ctx: CallContext, started: float) -> ChatResponse:
        if response.latency is None:  # the client sets it above the layers; measure here
            return response.with_(latency=ctx.clock.now() - started)
        return response

    def _stored_note(self, done: object, ctx: CallContext) -> None:
        if done is _TIMEOUT:
            ctx.report(CacheOutcome("write_timeout"))
        elif done is not False and ctx.outcome(CacheOutcome) == CacheOutcome("miss"):
            ctx.report(CacheOutcome("store"))

    def _write(self, key: str, response: ChatResponse, ctx: CallContext) -> None:
        value = self._encode(key, response, ctx.clock)
        if value is None:
            return
        budget = self._budget(ctx, read=False)
        done = self._run("write", "set", (key, value[0]), budget, ttl=value[1])
        if self._stored(done) or done is _TIMEOUT:
            self._stored_note(done, ctx)

    async def _awrite(self, key: str, response: ChatResponse, ctx: CallContext) -> None:
        value = self._encode(key, response, ctx.clock)
        if value is None:
            return
        budget = self._budget(ctx, read=False)
        done = await self._arun("write", "set", (key, value[0]), budget, ttl=value[1])
        if self._stored(done) or done is _TIMEOUT:
            self._stored_note(done, ctx)

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        key, hit = self._before(request, ctx)
        if hit is not None:
            return hit
        started = ctx.clock.now()
        response = next(request, ctx)
        if key is None:
            return response
        if ctx.stream is not None:
            # A delivered stream: the response is a placeholder; store the answer at its end.
            def at_end(final: ChatResponse | None, error: BaseException | None) -> None:
                if final is not None and error is None:
                    self._write(key, final, ctx)

            ctx.at_stream_end(at_end)
        else:
            self._write(key, self._to_store(response, ctx, started), ctx)
        return response

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        key, hit = await self._abefore(request, ctx)
        if hit is not None:
            return hit
        started = ctx.clock.now()
        response = await next(request, ctx)
        if key is None:
            return response
        if ctx.stream is not None:
            # The stream ends in a sync callback: the write runs as a task of its own.
            def at_end(final: ChatResponse | None, error: BaseException | None) -> None:
                if final is None or error is not None:
                    return
                if not getattr(self.backend, "blocking", True):
                    self._write(key, final, ctx)
                    return
                task = asyncio.get_running_loop().create_task(self._awrite(key, final, ctx))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

            ctx.at_stream_end(at_end)
        else:
            await self._awrite(key, self._to_store(response, ctx, started), ctx)
        return response

    async def drain(self) -> None:
        """Wait for the writes of async streams that have ended (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


def _complete(response: ChatResponse, *, incomplete_ok: bool = False) -> bool:
    finish = response.finish_reason
    if finish is None or finish in _NEVER_STORED_FINISH or response.degraded is not None:
        return False
    if response.cached:
        return False
    if incomplete_ok:
        return True
    return finish in _COMPLETE_FINISH and response.refusal is None


@dataclass(frozen=True, slots=True)
class StaleCache:
    """Degradation step: serve the cached answer even if stale (``degraded="stale_cache"``).

    Looks under the call's provider and model, then under each ``(provider, model)`` in
    ``also`` (the other targets of a fallback chain).
    """

    cache: CacheLayer
    also: Sequence[tuple[str, str]] = ()
    reason: str = "stale_cache"

    def find(self, request: ChatRequest, ctx: CallContext) -> ChatResponse | None:
        routes = [(ctx.provider, request.model), *self.also]
        for provider, model in routes:
            key = self.cache.key(request.with_(model=model), provider, ctx.scope)
            if key is None:
                continue
            entry = self.cache.lookup(key)
            if entry is not None:
                fresh = entry.is_fresh(ctx.clock.wall())
                self.cache.stats_recorder.hit(entry.response, stale=not fresh, at=ctx.clock.wall())
                return entry.response.with_(cached=True, latency=0.0, ttft=None)
        return None

    def degrade(
        self, request: ChatRequest, ctx: CallContext, failure: Exception
    ) -> ChatResponse | None:
        return self.find(request, ctx)

    async def adegrade(
        self, request: ChatRequest, ctx: CallContext, failure: Exception
    ) -> ChatResponse | None:
        return self.find(request, ctx)


def replay_stream(response: ChatResponse, *, chunk_chars: int = 64) -> Iterator[StreamEvent]:
    """A cached answer as the normalized stream a provider would have sent.

    ``meta`` first, then reasoning and text in ``chunk_chars`` pieces, tool calls, usage and
    finish: aggregating these events gives back the same response.
    """
    if chunk_chars < 1:
        raise ValueError("chunk_chars must be >= 1")
    yield StreamEvent("meta", id=response.id, model=response.model)
    for kind, text in (("reasoning", response.reasoning or ""), ("text", response.text)):
        for i in range(0, len(text), chunk_chars):
            yield StreamEvent(kind, text=text[i : i + chunk_chars])  # type: ignore[arg-type]
    for i, call in enumerate(response.tool_calls):
        yield StreamEvent("tool_call", text=call.arguments, index=i, id=call.id, name=call.name)
    yield StreamEvent("usage", usage=response.usage)
    yield StreamEvent("finish", finish_reason=response.finish_reason)
