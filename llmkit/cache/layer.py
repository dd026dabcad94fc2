"""The cache as a layer: answer deterministic requests from a backend, store complete answers.

Only requests that :func:`~llmkit.cache.key.is_cacheable` (temperature 0, or opted in) are
looked up; only complete, successful answers are stored (a finish reason other than
``content_filter``, not degraded, not itself from the cache). A hit comes back with
``cached=True`` and the lookup's own latency. Entries stay readable ``stale_ttl`` seconds after
they go stale, for :class:`StaleCache` to serve when every provider fails.

A broken backend never breaks a call: its errors are logged (no content, no secrets), counted
in ``stats.errors`` and the call goes on uncached. A corrupt entry is logged, counted, deleted,
and replaced by the next answer.

A cache hit for ``Client.stream`` is delivered as a completed stream by the client; a miss
is stored when the delivered stream ends cleanly.

Backends are sync; under an async client the layer calls them inline (a local SQLite read or
a loopback Redis round trip is far shorter than any LLM call).

Telemetry: the layer reports a :class:`CacheOutcome`; its columns are ``llmkit.cache.status``
and ``llmkit.cache_hit`` (True on a hit, else None).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from llmkit.cache.entry import CacheBackend, Entry, decode_entry, encode_entry
from llmkit.cache.key import cache_key, is_cacheable
from llmkit.cache.stats import CacheStats, Pricer, StatsRecorder
from llmkit.clock import Clock
from llmkit.errors import CacheUnavailableError, CorruptEntryError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.types import ChatRequest, ChatResponse, StreamEvent

__all__ = ["CacheLayer", "CacheOutcome", "StaleCache", "replay_stream"]


@dataclass(frozen=True, slots=True)
class CacheOutcome:
    """What the cache did for one call: ``hit``, ``miss``, ``store`` (a miss whose answer was
    stored) or ``skip`` (not cacheable)."""

    status: str


register_columns(
    CacheOutcome,
    Column("cache_status", "llmkit.cache.status", call=lambda o: o.status),
    Column("cache_hit", "llmkit.cache_hit", call=lambda o: True if o.status == "hit" else None),
)

log = logging.getLogger("llmkit.cache")

_UNCACHEABLE_FINISH = frozenset({"content_filter"})


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

    def __post_init__(self) -> None:
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

    def lookup(self, key: str) -> Entry | None:
        """The entry under ``key`` (fresh or stale), or None; corrupt entries are dropped."""
        try:
            raw = self.backend.get(key)
        except CacheUnavailableError as exc:
            self._backend_failed("read", exc)
            return None
        if raw is None:
            return None
        try:
            return decode_entry(raw, key=key)
        except CorruptEntryError as exc:
            log.warning("ignoring corrupt cache entry %s… (%s)", key[:12], exc.message)
            self.stats_recorder.corrupt()
            try:
                self.backend.delete(key)
            except CacheUnavailableError as del_exc:
                self._backend_failed("delete", del_exc)
            return None

    def store(self, key: str, response: ChatResponse, clock: Clock) -> bool:
        if not _complete(response):
            return False
        wall = clock.wall()
        fresh_until = None if self.ttl is None else wall + self.ttl
        keep = None if self.ttl is None else self.ttl + self.stale_ttl
        entry = Entry(key, response.with_(cached=False, degraded=None), wall, fresh_until)
        try:
            self.backend.set(key, encode_entry(entry), ttl=keep)
        except CacheUnavailableError as exc:
            self._backend_failed("write", exc)
            return False
        self.stats_recorder.store()
        return True

    def _backend_failed(self, what: str, exc: CacheUnavailableError) -> None:
        log.warning("cache %s failed, continuing without cache: %s", what, exc.message)
        self.stats_recorder.error()

    # -- the layer

    def _before(
        self, request: ChatRequest, ctx: CallContext
    ) -> tuple[str | None, ChatResponse | None]:
        key = self.key(request, ctx.provider, ctx.scope)
        if key is None:
            self.stats_recorder.skip()
            ctx.report(CacheOutcome("skip"))
            return None, None
        started = ctx.clock.now()
        entry = self.lookup(key)
        if entry is None or not entry.is_fresh(ctx.clock.wall()):
            self.stats_recorder.miss()
            ctx.report(CacheOutcome("miss"))
            return key, None
        self.stats_recorder.hit(entry.response)
        ctx.report(CacheOutcome("hit"))
        return key, entry.response.with_(cached=True, latency=ctx.clock.now() - started, ttft=None)

    def _after(
        self, key: str | None, response: ChatResponse, ctx: CallContext, started: float
    ) -> ChatResponse:
        if key is None:
            return response
        if ctx.stream is not None:
            # A delivered stream: the response is a placeholder; store the answer at its end.
            clock = ctx.clock

            def at_end(final: ChatResponse | None, error: BaseException | None) -> None:
                if final is not None and error is None:
                    self.store(key, final, clock)

            ctx.at_stream_end(at_end)
        else:
            stored = response
            if stored.latency is None:  # the client sets it above the layers; measure here
                stored = stored.with_(latency=ctx.clock.now() - started)
            if self.store(key, stored, ctx.clock):
                ctx.report(CacheOutcome("store"))
        return response

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        key, hit = self._before(request, ctx)
        if hit is not None:
            return hit
        started = ctx.clock.now()
        return self._after(key, next(request, ctx), ctx, started)

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        key, hit = self._before(request, ctx)
        if hit is not None:
            return hit
        started = ctx.clock.now()
        return self._after(key, await next(request, ctx), ctx, started)


def _complete(response: ChatResponse) -> bool:
    return (
        response.finish_reason is not None
        and response.finish_reason not in _UNCACHEABLE_FINISH
        and response.degraded is None
        and not response.cached
    )


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
                self.cache.stats_recorder.hit(entry.response, stale=not fresh)
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
