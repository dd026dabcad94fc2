"""The sans-IO simulator: a request in, a timed response plan out.

``Simulator(scenario, clock).handle(method, path, headers, body)`` decides everything about
one exchange -- status, headers, each body chunk with the simulated delay before it, or a
fault that ends the exchange (a hang, a reset) -- and returns it as a :class:`SimResponse`.
It never sleeps and never touches a socket; :mod:`llmkit.sim.transport` (in process, on any
clock) and :mod:`llmkit.sim.server` (real HTTP) play the plan out.

Determinism: request ``n`` (in arrival order) draws its latency and faults from
``Random(seed, n)``; the completion text depends only on the seed and the request itself,
so a retried request gets the same answer and a streamed one reassembles to the same text.
"""

from __future__ import annotations

import gzip as _gzip
import json
import random
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from llmkit.clock import Clock, system_clock
from llmkit.sim.faults import Fault
from llmkit.sim.gen import Call, complete, count_tokens
from llmkit.sim.latency import Timing
from llmkit.sim.media import Cut, MediaSim, is_media_path
from llmkit.sim.ratelimit import RateLimiter
from llmkit.sim.scenarios import Scenario, get_scenario
from llmkit.sim.wire import anthropic, gemini, meta, openai, openrouter
from llmkit.sim.wire.common import Ctx, Invalid, Reply

__all__ = ["SIM_VERSION", "Chunk", "SimResponse", "Simulator"]

SIM_VERSION = "1.1"
"""Bumped whenever the simulator's output for the same scenario, seed and request changes.

1.1: Gemini stream chunks before the last carry the prompt's ``usageMetadata`` (as the real API
does); a running video job's status carries ``openai-poll-after-ms``; Gemini ``:countTokens``
is served."""

Abort = Literal["hang", "reset"]


@dataclass(frozen=True, slots=True)
class Chunk:
    delay: float
    """Simulated seconds between the previous write (or the headers) and this one."""
    data: bytes


@dataclass(frozen=True, slots=True)
class SimResponse:
    status: int
    """0 when the exchange aborts before any response (``headers_sent`` False)."""
    headers: tuple[tuple[str, str], ...]
    chunks: tuple[Chunk, ...]
    delay: float = 0.0
    """Simulated seconds before the status line and headers."""
    abort: Abort | None = None
    """How the exchange ends instead of cleanly: ``hang`` (silence for ``hang_seconds``, then
    the connection closes) or ``reset`` (the connection closes at once)."""
    headers_sent: bool = True
    hang_seconds: float = 0.0
    stream: bool = False
    fault: Fault | None = None
    """The fault that shaped this response, for tests and telemetry."""

    @property
    def body(self) -> bytes:
        return b"".join(c.data for c in self.chunks)

    @property
    def duration(self) -> float:
        """Simulated seconds from request to the last byte (excluding a hang)."""
        return self.delay + sum(c.delay for c in self.chunks)


class _Wire:
    """One provider's renderers, looked up once per route."""

    __slots__ = (
        "error",
        "headers",
        "invalid",
        "json",
        "missing_auth",
        "new_ids",
        "not_found",
        "parse",
        "provider",
        "stream",
        "stream_error",
    )

    def __init__(
        self,
        provider: str,
        mod: Any,
        parse: Callable[[Any], tuple[Call, str]],
        json_: Callable[[Ctx], bytes],
        stream: Callable[[Ctx], list[tuple[int, bytes]]],
    ) -> None:
        self.provider = provider
        self.parse = parse
        self.json = json_
        self.stream = stream
        self.headers = mod.headers
        self.error = mod.error
        self.invalid = mod.invalid
        self.missing_auth = mod.missing_auth
        self.not_found = mod.not_found
        self.new_ids = mod.new_ids
        self.stream_error = mod.stream_error


_OPENAI_CHAT = _Wire("openai", openai, openai.parse_chat, openai.chat_json, openai.chat_stream)
_OPENAI_RESP = _Wire(
    "openai", openai, openai.parse_responses, openai.responses_json, openai.responses_stream
)
_ANTHROPIC = _Wire(
    "anthropic", anthropic, anthropic.parse, anthropic.message_json, anthropic.message_stream
)
_OPENROUTER = _Wire(
    "openrouter", openrouter, openrouter.parse, openrouter.chat_json, openrouter.chat_stream
)

_GEMINI = _Wire(
    "gemini",
    gemini,
    lambda data: gemini.parse(data, "", False),  # the real parse needs the path: see _handle
    gemini.json_body,
    gemini.stream,
)

_AZURE = _Wire("azure", openai, openai.parse_chat, openai.chat_json, openai.chat_stream)
"""Azure OpenAI's deployment (``/openai/deployments/{d}/chat/completions``) and v1
(``/openai/v1/chat/completions``) routes: OpenAI's wire behind Azure's ``api-key`` header."""

ROUTES: dict[str, _Wire] = {
    "/v1/chat/completions": _OPENAI_CHAT,
    "/v1/responses": _OPENAI_RESP,
    "/v1/messages": _ANTHROPIC,
    "/api/v1/chat/completions": _OPENROUTER,
}
"""Path -> wire. One simulator answers every provider's paths (and Gemini's
``/v1beta/models/{model}:generateContent`` family, matched by :func:`gemini.route`)."""

_META_PATHS = frozenset({"/v1/models", "/v1/messages/count_tokens", "/v1/responses/input_tokens"})
"""Served by ``llmkit.sim.wire.meta``: model lists and exact token counts (with Gemini's
``/v1beta/models/{model}:countTokens``, matched by :func:`gemini.count_route`)."""

_ERROR_FAULTS = frozenset(
    {
        Fault.RATE_LIMIT,
        Fault.INSUFFICIENT_QUOTA,
        Fault.BILLING,
        Fault.SERVER_ERROR,
        Fault.SERVER_ERROR_FINAL,
        Fault.BAD_GATEWAY,
        Fault.UNAVAILABLE,
        Fault.OVERLOADED,
        Fault.CONTEXT_LENGTH,
        Fault.CONTENT_FILTER,
        Fault.AUTH,
    }
)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    v = headers.get(name)
    if v is not None:
        return v
    for k, val in headers.items():
        if k.lower() == name:
            return val
    return None


def _authorized(wire: _Wire, headers: Mapping[str, str]) -> bool:
    auth = _header(headers, "authorization") or ""
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return True
    if wire.provider == "azure":
        return bool((_header(headers, "api-key") or "").strip())
    return wire.provider == "anthropic" and bool((_header(headers, "x-api-key") or "").strip())


def _cut(events: list[tuple[int, bytes]], after_tokens: int) -> int:
    """Index just past the ``after_tokens``-th token-carrying event, never past the last
    event but one (so the terminal event is always among the cut-off ones)."""
    seen = 0
    for i, (tokens, _) in enumerate(events):
        if tokens and seen >= after_tokens:
            return i
        if tokens:
            seen += 1
    return max(0, len(events) - 2)


_CACHE_MIN = 1024
"""Prompt tokens below which no provider caches."""
_CACHE_STEP = 128
"""OpenAI caches in 128-token steps past 1024 (a real 1220-token prompt read 1152)."""
_CACHE_SLOTS = 100_000
"""Prefixes remembered per simulator; the oldest are forgotten first (deterministic)."""


def _accepts_gzip(headers: Mapping[str, str]) -> bool:
    for part in (_header(headers, "accept-encoding") or "").lower().split(","):
        name, _, q = part.strip().partition(";")
        if name.strip() == "gzip" and q.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


def _gzipped(plan: SimResponse) -> SimResponse:
    """The same plan with a gzip body: each chunk sync-flushed so a stream stays incremental,
    and the gzip trailer only when the body ends cleanly. A ``content-length`` (reset
    mid-body) keeps its plain size, still more than is sent."""
    if not plan.headers_sent or not plan.chunks:
        return plan
    if len(plan.chunks) == 1 and plan.abort is None:
        only = plan.chunks[0]
        chunks = [Chunk(only.delay, _gzip.compress(only.data, 6, mtime=0))]
    else:
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        chunks = [
            Chunk(c.delay, z.compress(c.data) + z.flush(zlib.Z_SYNC_FLUSH)) for c in plan.chunks
        ]
        if plan.abort is None:
            chunks[-1] = Chunk(chunks[-1].delay, chunks[-1].data + z.flush(zlib.Z_FINISH))
    headers = (*plan.headers, ("content-encoding", "gzip"))
    return replace(plan, headers=headers, chunks=tuple(chunks))


def _corrupt(event: bytes) -> bytes:
    """The same SSE event with its JSON cut in half (still a complete event)."""
    head, sep, data = event.rstrip(b"\n").rpartition(b"data: ")
    return head + sep + data[: max(1, len(data) // 2)] + b"\n\n"


class Simulator:
    """Deterministic fake of the OpenAI, Anthropic, OpenRouter and Gemini HTTP APIs.

    Thread-safe: request numbering and rate-limit buckets are guarded by a lock; rendering
    happens outside it.
    """

    def __init__(
        self,
        scenario: Scenario | str = "healthy",
        clock: Clock | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        sc = get_scenario(scenario) if isinstance(scenario, str) else scenario
        self.scenario = sc if seed is None else sc.with_(seed=seed)
        self.clock: Clock = clock if clock is not None else system_clock
        self._t0 = self.clock.now()
        self._n = 0
        self._lock = threading.Lock()
        self._limiters: dict[str, RateLimiter] = {}
        self._prefixes: dict[tuple[str, str, int, int], None] = {}
        """Prompt prefixes seen (provider, model, length, crc32): the prompt cache."""
        self.media = MediaSim(self.scenario.seed)
        """Images API and generation jobs: their state (jobs, idempotency keys) lives here."""
        self.outcomes: Counter[str] = Counter()
        """How many responses of each kind: ``"200"``, ``"429"``, ``"hang"``, ..."""

    @property
    def requests(self) -> int:
        return self._n

    def elapsed(self) -> float:
        """Simulator time: seconds since it started, on its clock (fault windows use this)."""
        return self.clock.now() - self._t0

    # ------------------------------------------------------------------------- entry point

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> SimResponse:
        plan = self._handle(method, path, headers, body)
        if self.scenario.gzip and _accepts_gzip(headers):
            return _gzipped(plan)
        return plan

    def _handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> SimResponse:
        path, _, query = path.partition("?")
        if path in _META_PATHS or gemini.count_route(path) is not None:
            return self._meta(method, path, headers, body, query)
        wire = ROUTES.get(path)
        google = gemini.route(path) if wire is None else None
        if google is not None:
            wire = _GEMINI
        elif wire is None and path.startswith("/openai/") and path.endswith("/chat/completions"):
            wire = _AZURE
        with self._lock:
            n = self._n
            self._n += 1
        t = self.clock.now() - self._t0
        if wire is None and is_media_path(path):
            return self._media(method, path, headers, body, n=n, t=t)
        sc = self.scenario
        rng = random.Random(sc.seed * 1_000_003 + n)
        if wire is None:
            wire = _OPENROUTER if path.startswith("/api/") else _OPENAI_CHAT
            ctx = Ctx(wire.provider, rng, self.clock.wall())
            wire.new_ids(ctx)
            return self._reply(wire.not_found(ctx, method, path))
        ctx = Ctx(wire.provider, rng, self.clock.wall())
        wire.new_ids(ctx)
        if method.upper() != "POST":
            r = wire.not_found(ctx, method, path)
            return self._reply(Reply(405, r.body, r.headers))
        if google is not None:
            if not gemini.authorized(_header(headers, "x-goog-api-key"), query):
                return self._reply(wire.missing_auth(ctx))
        elif not _authorized(wire, headers):
            return self._reply(wire.missing_auth(ctx))
        try:
            if wire.provider == "anthropic" and not _header(headers, "anthropic-version"):
                raise Invalid("anthropic-version: header is required")
            try:
                data = json.loads(body)
            except ValueError:
                raise Invalid(
                    "We could not parse the JSON body of your request. (HINT: This likely "
                    "means you aren't using your HTTP library correctly. The API expects a "
                    "JSON payload, but what was sent was not valid JSON.)"
                ) from None
            if google is not None:
                call, last_user = gemini.parse(data, *google)
            else:
                call, last_user = wire.parse(data)
        except Invalid as exc:
            return self._reply(wire.invalid(ctx, exc))
        ctx.call = call
        ctx.model = call.model
        if call.api == "responses":
            wire.new_ids(ctx)
        return self._respond(wire, ctx, call, last_user=last_user, n=n, t=t)

    def _meta(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, query: str
    ) -> SimResponse:
        """Model lists and token counts (``llmkit.sim.wire.meta``): no faults, no latency."""
        with self._lock:
            n = self._n
            self._n += 1
        google = gemini.count_route(path)
        wire = _ANTHROPIC if path == "/v1/messages/count_tokens" else _OPENAI_CHAT
        if path == "/v1/models" and _header(headers, "anthropic-version"):
            wire = _ANTHROPIC
        if google is not None:
            wire = _GEMINI
        ctx = Ctx(wire.provider, random.Random(self.scenario.seed * 1_000_003 + n),
                  self.clock.wall())  # fmt: skip
        wire.new_ids(ctx)
        want = "GET" if path == "/v1/models" else "POST"
        if method.upper() != want:
            r = wire.not_found(ctx, method, path)
            return self._reply(Reply(405, r.body, r.headers))
        if google is not None:
            allowed = gemini.authorized(_header(headers, "x-goog-api-key"), query)
        else:
            allowed = _authorized(wire, headers)
        if not allowed:
            return self._reply(wire.missing_auth(ctx))
        if path == "/v1/models":
            return self._reply(meta.models_reply(ctx, anthropic_shape=wire is _ANTHROPIC))
        try:
            data = json.loads(body)
        except ValueError:
            return self._reply(wire.invalid(ctx, Invalid("the body is not valid JSON")))
        if google is not None:
            return self._reply(meta.gemini_count_reply(ctx, google, data))
        if path == "/v1/messages/count_tokens":
            return self._reply(meta.count_tokens_reply(ctx, data))
        return self._reply(meta.input_tokens_reply(ctx, data))

    # ------------------------------------------------------------------------- internals

    def _media(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, *, n: int, t: float
    ) -> SimResponse:
        """Images and generation jobs (:mod:`llmkit.sim.media`), under the same fault rules."""
        sc = self.scenario
        rng = random.Random(sc.seed * 1_000_003 + n)
        ctx = Ctx("openai", rng, self.clock.wall())
        if not _authorized(_OPENAI_CHAT, headers):
            _OPENAI_CHAT.new_ids(ctx)
            return self._reply(_OPENAI_CHAT.missing_auth(ctx))
        rule = next((r for r in sc.faults if r.fires(n=n, t=t, provider="openai", rng=rng)), None)
        fault = rule.pick(rng) if rule is not None else None
        out = self.media.handle(
            ctx,
            method,
            path,
            headers,
            body,
            t=t,
            fault=fault,
            retry_after=rule.retry_after if rule is not None else None,
        )
        delay = 0.02 + 0.08 * rng.random()
        if isinstance(out, Reply):
            return self._reply(out, delay, fault)
        if isinstance(out, Cut):
            self._count("cut")
            r = out.reply
            head = (*r.headers, ("content-length", str(len(r.body))))
            half = (Chunk(0.0, r.body[: len(r.body) // 2]),)
            return SimResponse(
                r.status, head, half, delay=delay, abort="reset", fault=Fault.TRUNCATE
            )
        self._count(str(out))
        hang = rule.hang_seconds if rule is not None else 600.0
        return SimResponse(
            0,
            (),
            (),
            delay=delay,
            abort="hang" if out is Fault.HANG else "reset",
            headers_sent=False,
            hang_seconds=hang,
            fault=out,
        )

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def _reply(self, r: Reply, delay: float = 0.0, fault: Fault | None = None) -> SimResponse:
        self._count(str(r.status))
        return SimResponse(r.status, r.headers, (Chunk(0.0, r.body),), delay=delay, fault=fault)

    def _respond(
        self, wire: _Wire, ctx: Ctx, call: Call, *, last_user: str, n: int, t: float
    ) -> SimResponse:
        sc = self.scenario
        rng = ctx.rng
        prof = sc.latency.profile(call.model)
        input_tokens = count_tokens(call.prompt)
        key = zlib.crc32(f"{call.model}\0{call.max_tokens}\0{call.prompt}".encode())
        comp = complete(
            call,
            random.Random(sc.seed * 4_294_967_311 + key),
            median_tokens=prof.output_tokens,
            last_user=last_user,
            input_tokens=input_tokens,
            fail_rate=sc.failure_rate(call.model),
        )
        ctx.comp = comp
        fault: Fault | None = None
        rule = None
        for r in sc.faults:
            if r.fires(n=n, t=t, provider=wire.provider, rng=rng):
                fault, rule = r.pick(rng), r
                break
        if fault is None and input_tokens > prof.context_window:
            fault = Fault.CONTEXT_LENGTH
        with self._lock:
            lim = self._limiters.get(wire.provider)
            if lim is None:
                lim = self._limiters[wire.provider] = RateLimiter(sc.limits, t)
            adm = lim.admit(input_tokens + comp.billed_output, t)
        ctx.adm = adm
        timing = sc.latency.sample(rng, prof)
        if not adm.allowed:
            fault, rule = Fault.RATE_LIMIT, None
            ctx.retry_after = adm.retry_after if adm.retry_after != float("inf") else None
        elif rule is not None:
            ctx.retry_after = rule.retry_after
            if fault is Fault.RATE_LIMIT:
                # An injected 429 must not contradict its own headers: the request bucket
                # reads empty until the retry-after has passed.
                ctx.adm = replace(
                    adm,
                    remaining_requests=0,
                    reset_requests=max(adm.reset_requests, rule.retry_after or 0.0),
                    exhausted="requests",
                )
        after = rule.after_tokens if rule is not None else 3
        hang = rule.hang_seconds if rule is not None else 600.0
        if fault in _ERROR_FAULTS:
            assert fault is not None
            ctx.processing_ms = round(timing.ttft * 50)
            r = wire.error(ctx, fault, tokens=input_tokens)
            delay = timing.ttft if r.status >= 500 else timing.ttft * 0.05
            return self._reply(r, delay, fault)
        if fault is Fault.HANG or (fault is Fault.STALL and not call.stream):
            self._count("hang")
            return SimResponse(
                0,
                (),
                (),
                abort="hang",
                headers_sent=False,
                hang_seconds=hang,
                stream=call.stream,
                fault=fault,
            )
        if fault is Fault.RESET:
            self._count("reset")
            return SimResponse(
                0,
                (),
                (),
                delay=timing.ttft,
                abort="reset",
                headers_sent=False,
                stream=call.stream,
                fault=fault,
            )
        if fault is Fault.MIDSTREAM_ERROR and not call.stream:
            return self._reply(wire.error(ctx, Fault.SERVER_ERROR), timing.ttft, fault)
        ctx.cache_read, ctx.cache_write = self._cache(wire.provider, call, input_tokens)
        if call.stream:
            opts = call.raw.get("stream_options")
            asked = opts.get("include_obfuscation") if isinstance(opts, dict) else None
            ctx.obfuscate = sc.obfuscation if asked is None else bool(asked)
            return self._stream(wire, ctx, timing, fault=fault, after=after, hang=hang)
        return self._json(wire, ctx, timing, fault)

    def _cache(self, provider: str, call: Call, input_tokens: int) -> tuple[int, int]:
        """(read, written) prompt-cache tokens for this request, remembering its prefixes.

        OpenAI and OpenRouter cache any repeated prefix of 1024+ tokens by themselves, in
        128-token steps; Anthropic caches only up to the last ``cache_control`` mark, and
        reports the first sight of it as a cache write."""
        prompt = call.prompt
        if call.cache_prefix is None:
            if provider == "anthropic" or input_tokens < _CACHE_MIN:
                return 0, 0
            keys, crc, done = [], 0, 0
            for n in range(_CACHE_MIN, len(prompt) // 4 + 1, _CACHE_STEP):
                crc = zlib.crc32(prompt[done : n * 4].encode(), crc)  # running: O(prompt)
                done = n * 4
                keys.append((provider, call.model, n, crc))
            with self._lock:
                read = max((k[2] for k in keys if k in self._prefixes), default=0)
                self._remember(keys)
            return read, 0
        prefix = prompt[: call.cache_prefix]
        tokens = count_tokens(prefix)
        if tokens < _CACHE_MIN:
            return 0, 0
        key = (provider, call.model, tokens, zlib.crc32(prefix.encode()))
        with self._lock:
            seen = key in self._prefixes
            self._remember([key])
        return (tokens, 0) if seen else (0, tokens)

    def _remember(self, keys: list[tuple[str, str, int, int]]) -> None:
        for k in keys:
            self._prefixes.pop(k, None)
            self._prefixes[k] = None
        while len(self._prefixes) > _CACHE_SLOTS:
            del self._prefixes[next(iter(self._prefixes))]

    def _json(self, wire: _Wire, ctx: Ctx, timing: Timing, fault: Fault | None) -> SimResponse:
        assert ctx.comp is not None
        total = timing.ttft + ctx.comp.billed_output * timing.per_token
        ctx.processing_ms = round(total * 1000)
        body = wire.json(ctx)
        headers = wire.headers(ctx)
        abort: Abort | None = None
        if fault is Fault.TRUNCATE:
            body = body[: len(body) // 2]
        elif fault is Fault.MALFORMED_JSON:
            body = body.replace(b'":', b'"=', 1)
        elif fault is Fault.RESET_MIDSTREAM:
            headers.append(("content-length", str(len(body))))
            body, abort = body[: len(body) // 2], "reset"
        self._count(abort or "200")
        if wire.provider == "openrouter" and total > 0 and abort is None:
            # OpenRouter commits the 200 early and pads with blank lines while it waits.
            chunks = (Chunk(0.0, b"\n"), Chunk(total / 2, body))
            return SimResponse(200, tuple(headers), chunks, delay=total / 2, fault=fault)
        return SimResponse(
            200, tuple(headers), (Chunk(0.0, body),), delay=total, abort=abort, fault=fault
        )

    def _stream(
        self,
        wire: _Wire,
        ctx: Ctx,
        timing: Timing,
        *,
        fault: Fault | None,
        after: int,
        hang: float,
    ) -> SimResponse:
        ttft, per_token = timing.ttft, timing.per_token
        ctx.processing_ms = round(ttft * 1000)
        events = wire.stream(ctx)
        abort: Abort | None = None
        tail: list[bytes] = []
        if fault is not None:
            cut = _cut(events, after)
            if fault is Fault.MALFORMED_JSON:
                events[cut] = (events[cut][0], _corrupt(events[cut][1]))
            else:
                nxt = events[cut][1]
                events = events[:cut]
                if fault is Fault.MIDSTREAM_ERROR:
                    tail = wire.stream_error(ctx)
                elif fault is Fault.TRUNCATE:
                    tail = [nxt[: len(nxt) // 2]]
                elif fault is Fault.STALL:
                    abort = "hang"
                elif fault is Fault.RESET_MIDSTREAM:
                    abort = "reset"
        chunks = [Chunk(tokens * per_token, data) for tokens, data in events]
        chunks += [Chunk(0.0, data) for data in tail]
        delay = ttft
        if wire.provider == "openrouter":
            delay = ttft / 2
            chunks.insert(0, Chunk(0.0, openrouter.KEEPALIVE))
            if len(chunks) > 1:
                chunks[1] = Chunk(chunks[1].delay + ttft / 2, chunks[1].data)
        self._count(abort or "200")
        return SimResponse(
            200,
            tuple(wire.headers(ctx, stream=True)),
            tuple(chunks),
            delay=delay,
            abort=abort,
            hang_seconds=hang,
            stream=True,
            fault=fault,
        )
