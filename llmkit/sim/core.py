"""The sans-IO simulator: a request in, a timed response plan out.

``Simulator(scenario, clock).handle(method, path, headers, body)`` decides everything about
one exchange -- status, headers, each body chunk with the simulated delay before it, or a
fault that ends the exchange (a hang, a reset) -- and returns it as a :class:`SimResponse`.
It never sleeps and never touches a socket; :mod:`llmkit.sim.transport` (in process, on any
clock) and :mod:`llmkit.sim.server` (real HTTP) play the plan out.

This module is the dispatcher: it numbers each request, sends it to the right handler and
keeps the tally. The parts it calls each do one thing:

- :mod:`llmkit.sim.routing` -- which provider's wire a path speaks, and whether it is authorized;
- :mod:`llmkit.sim.verdict` -- which fault a request meets (rules, context window, rate limits);
- :mod:`llmkit.sim.promptcache` -- how many prompt tokens the provider's cache would serve;
- :mod:`llmkit.sim.plan` -- the response plan, shaped by the fault, gzipped if asked;
- :mod:`llmkit.sim.media` and :mod:`llmkit.sim.wire.meta` -- images, jobs, model lists, counts.

Determinism: request ``n`` (in arrival order) draws its latency and faults from
``Random(seed, n)``; the completion text depends only on the seed and the request itself,
so a retried request gets the same answer and a streamed one reassembles to the same text.
"""

from __future__ import annotations

import json
import random
import threading
import zlib
from collections import Counter
from collections.abc import Mapping

from llmkit.clock import Clock, system_clock
from llmkit.sim.faults import Fault
from llmkit.sim.gen import Call, complete, count_tokens
from llmkit.sim.media import Cut, MediaSim, is_media_path
from llmkit.sim.plan import Chunk as Chunk  # noqa: PLC0414 - re-exported, was defined here
from llmkit.sim.plan import SimResponse as SimResponse  # noqa: PLC0414 - re-exported, ditto
from llmkit.sim.plan import (
    failure_plan,
    gzipped,
    json_plan,
    reply_plan,
    stream_plan,
)
from llmkit.sim.promptcache import PromptCache
from llmkit.sim.routing import (
    ANTHROPIC,
    META_PATHS,
    OPENAI_CHAT,
    Wire,
    accepts_gzip,
    authorized,
    header,
    meta_wire,
    not_found_wire,
    resolve,
)
from llmkit.sim.scenarios import Scenario, get_scenario
from llmkit.sim.verdict import Gate, first_fault
from llmkit.sim.wire import gemini, meta
from llmkit.sim.wire.common import Ctx, Invalid, Reply

__all__ = ["SIM_VERSION", "Simulator"]

SIM_VERSION = "1.1"
"""Bumped whenever the simulator's output for the same scenario, seed and request changes.

1.1: Gemini stream chunks before the last carry the prompt's ``usageMetadata`` (as the real API
does); a running video job's status carries ``openai-poll-after-ms``; Gemini ``:countTokens``
is served."""


class Simulator:
    """Deterministic fake of the OpenAI, Anthropic, OpenRouter and Gemini HTTP APIs.

    Thread-safe: request numbering, rate-limit buckets and the prompt cache are each guarded
    by a lock; rendering happens outside them.
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
        self._gate = Gate(self.scenario.faults, self.scenario.limits)
        """The scenario's fault rules and the per-provider rate limiters."""
        self._prompt_cache = PromptCache()
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
        if self.scenario.gzip and accepts_gzip(headers):
            return gzipped(plan)
        return plan

    def _handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> SimResponse:
        path, _, query = path.partition("?")
        if path in META_PATHS or gemini.count_route(path) is not None:
            return self._meta(method, path, headers, body, query)
        wire, google = resolve(path)
        n = self._next()
        t = self.clock.now() - self._t0
        if wire is None and is_media_path(path):
            return self._media(method, path, headers, body, n=n, t=t)
        rng = self._rng(n)
        if wire is None:
            wire = not_found_wire(path)
            ctx = Ctx(wire.provider, rng, self.clock.wall())
            wire.new_ids(ctx)
            return self._reply(wire.not_found(ctx, method, path))
        ctx = Ctx(wire.provider, rng, self.clock.wall())
        wire.new_ids(ctx)
        if method.upper() != "POST":
            r = wire.not_found(ctx, method, path)
            return self._reply(Reply(405, r.body, r.headers))
        if not authorized(wire, headers, query):
            return self._reply(wire.missing_auth(ctx))
        try:
            if wire.provider == "anthropic" and not header(headers, "anthropic-version"):
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
        n = self._next()
        google = gemini.count_route(path)
        wire = meta_wire(path, headers)
        ctx = Ctx(wire.provider, self._rng(n), self.clock.wall())
        wire.new_ids(ctx)
        want = "GET" if path == "/v1/models" else "POST"
        if method.upper() != want:
            r = wire.not_found(ctx, method, path)
            return self._reply(Reply(405, r.body, r.headers))
        if not authorized(wire, headers, query):
            return self._reply(wire.missing_auth(ctx))
        if path == "/v1/models":
            return self._reply(meta.models_reply(ctx, anthropic_shape=wire is ANTHROPIC))
        try:
            data = json.loads(body)
        except ValueError:
            return self._reply(wire.invalid(ctx, Invalid("the body is not valid JSON")))
        if google is not None:
            return self._reply(meta.gemini_count_reply(ctx, google, data))
        if path == "/v1/messages/count_tokens":
            return self._reply(meta.count_tokens_reply(ctx, data))
        return self._reply(meta.input_tokens_reply(ctx, data))

    def _media(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, *, n: int, t: float
    ) -> SimResponse:
        """Images and generation jobs (:mod:`llmkit.sim.media`), under the same fault rules."""
        rng = self._rng(n)
        ctx = Ctx("openai", rng, self.clock.wall())
        if not authorized(OPENAI_CHAT, headers):
            OPENAI_CHAT.new_ids(ctx)
            return self._reply(OPENAI_CHAT.missing_auth(ctx))
        fault, rule = first_fault(self.scenario.faults, n=n, t=t, provider="openai", rng=rng)
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

    def _respond(
        self, wire: Wire, ctx: Ctx, call: Call, *, last_user: str, n: int, t: float
    ) -> SimResponse:
        """A parsed completion request: generate the answer, judge its fault, plan the reply."""
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
        v = self._gate.judge(
            n=n,
            t=t,
            provider=wire.provider,
            rng=rng,
            input_tokens=input_tokens,
            cost=input_tokens + comp.billed_output,
            context_window=prof.context_window,
        )
        ctx.adm, ctx.retry_after = v.adm, v.retry_after
        timing = sc.latency.sample(rng, prof)
        failed = failure_plan(
            wire, ctx, call, timing, v.fault, input_tokens=input_tokens, hang=v.hang_seconds
        )
        if failed is not None:
            return self._done(failed)
        ctx.cache_read, ctx.cache_write = self._prompt_cache.lookup(
            wire.provider, call, input_tokens
        )
        if call.stream:
            opts = call.raw.get("stream_options")
            asked = opts.get("include_obfuscation") if isinstance(opts, dict) else None
            ctx.obfuscate = sc.obfuscation if asked is None else bool(asked)
            return self._done(
                stream_plan(
                    wire, ctx, timing, fault=v.fault, after=v.after_tokens, hang=v.hang_seconds
                )
            )
        return self._done(json_plan(wire, ctx, timing, v.fault))

    # ------------------------------------------------------------------------- bookkeeping

    def _next(self) -> int:
        """The next request number (arrival order, from 0)."""
        with self._lock:
            n = self._n
            self._n += 1
        return n

    def _rng(self, n: int) -> random.Random:
        """Request ``n``'s own random stream: latency, faults, ids."""
        return random.Random(self.scenario.seed * 1_000_003 + n)

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def _done(self, plan: SimResponse) -> SimResponse:
        """Tally ``plan`` by how it ends (``"hang"``, ``"reset"``) or else by its status."""
        self._count(plan.abort or str(plan.status))
        return plan

    def _reply(self, r: Reply, delay: float = 0.0, fault: Fault | None = None) -> SimResponse:
        return self._done(reply_plan(r, delay, fault))
