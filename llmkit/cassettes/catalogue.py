"""The committed cassette catalogue: which scenarios, for which provider, with which workload.

Each :class:`Entry` names a simulator scenario, a workload (when each call arrives and what it
asks) and the policy it is recorded through (how many attempts, which read timeout), and is
written to ``cassettes/<group>/<name>.yaml``. ``llmkit record --all`` (``make cassettes``)
re-records every entry over real HTTP to the served simulator on 127.0.0.1; the result is
byte-identical because the server runs on the recorder's :class:`~llmkit.clock.VirtualClock`
(virtual-time mode, :mod:`llmkit.sim.vtime`), every random draw is seeded, and the serializer
writes sorted, port-free, deterministic YAML. ``--in-process`` gives the same bytes without a
socket (only ``provenance.transport`` differs).

Groups: ``openai`` (Chat Completions), ``openai-responses``, ``anthropic``, ``openrouter``,
``gemini``, ``azure`` (a deployment URL with ``?api-version=``), ``mixed`` (the fallback
pair and the day of traffic, which use two providers) and ``openai-media`` (the Images API and
a create → poll → download generation job).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from llmkit.cassettes.workload import Arrival
from llmkit.sim import Fault, FaultRule, RateLimits, Scenario, get_scenario
from llmkit.sim.latency import DEFAULT_LATENCY
from llmkit.types import ChatRequest, Message

__all__ = ["CATALOGUE", "GROUPS", "PROVIDERS", "Entry", "Route", "entries", "find"]


@dataclass(frozen=True, slots=True)
class Route:
    """How one group reaches the simulator: provider, wire API, base URL and its two models."""

    provider: str
    api: str
    base_url: str
    fast: str
    slow: str


PROVIDERS: Final[dict[str, Route]] = {
    "openai": Route("openai", "chat", "http://127.0.0.1/v1", "gpt-4o-mini", "gpt-4o"),
    "openai-responses": Route(
        "openai", "responses", "http://127.0.0.1/v1", "gpt-4.1-mini", "gpt-4.1"
    ),
    "anthropic": Route(
        "anthropic", "messages", "http://127.0.0.1", "claude-haiku-4-5", "claude-sonnet-4-5"
    ),
    "openrouter": Route(
        "openrouter",
        "chat",
        "http://127.0.0.1/api/v1",
        "openai/gpt-4o-mini",
        "anthropic/claude-sonnet-4.5",
    ),
    "gemini": Route(
        "gemini", "chat", "http://127.0.0.1/v1beta", "gemini-2.0-flash", "gemini-2.5-pro"
    ),
    "azure": Route(
        "azure",
        "chat",
        "http://127.0.0.1/openai/deployments/gpt-4o-mini?api-version=2024-10-21",
        "gpt-4o-mini",
        "gpt-4o",
    ),
}
MEDIA: Final = Route("openai", "images", "http://127.0.0.1/v1", "gpt-image-1", "gpt-image-1")
"""The ``openai-media`` group: the Images API and the generation-job API."""
GROUPS: Final = (*PROVIDERS, "mixed", "openai-media")

Workload = Callable[[Route, random.Random], list[Arrival]]

_TOPICS = (
    "Summarise the incident report in two sentences.",
    "Write a haiku about retry budgets.",
    "Classify this ticket: 'my invoice is wrong'.",
    "Translate 'good morning' into French.",
    "List three causes of tail latency.",
    "Explain circuit breakers to a new engineer.",
    "Draft a polite reply declining the meeting.",
    "What is the capital of Australia?",
)


def _req(model: str, prompt: str, *, stream: bool = False, max_tokens: int = 64) -> ChatRequest:
    return ChatRequest(
        model=model, messages=(Message("user", prompt),), max_tokens=max_tokens, stream=stream
    )


def _one(stream: bool = False, *, slow: bool = False, prompt: str = _TOPICS[0]) -> Workload:
    def make(route: Route, rng: random.Random) -> list[Arrival]:
        model = route.slow if slow else route.fast
        return [Arrival(0.0, route.provider, _req(model, prompt, stream=stream), route.api)]

    return make


def _success(route: Route, rng: random.Random) -> list[Arrival]:
    return [
        Arrival(0.0, route.provider, _req(route.fast, _TOPICS[1]), route.api),
        Arrival(5.0, route.provider, _req(route.slow, _TOPICS[5], max_tokens=128), route.api),
    ]


def _every(gap: float, n: int, stream: bool = False) -> Workload:
    def make(route: Route, rng: random.Random) -> list[Arrival]:
        return [
            Arrival(
                i * gap,
                route.provider,
                _req(route.fast, _TOPICS[i % len(_TOPICS)], stream=stream),
                route.api,
            )
            for i in range(n)
        ]

    return make


def _repeated(route: Route, rng: random.Random) -> list[Arrival]:
    """24 calls over 4 distinct prompts: what a response cache is for."""
    prompts = _TOPICS[:4]
    t = 0.0
    out = []
    for _ in range(24):
        t += rng.expovariate(1 / 3.0)
        out.append(
            Arrival(round(t, 3), route.provider, _req(route.fast, rng.choice(prompts)), route.api)
        )
    return out


_DAY_MODELS: Final = (
    ("openai", "gpt-4o-mini", 0.45),
    ("openai", "gpt-4o", 0.2),
    ("anthropic", "claude-haiku-4-5", 0.25),
    ("anthropic", "claude-sonnet-4-5", 0.10),
)


def _day(route: Route, rng: random.Random) -> list[Arrival]:
    """300 calls over two simulated hours: mixed models and providers, some streamed."""
    t = 0.0
    out = []
    weights = [w for _, _, w in _DAY_MODELS]
    for i in range(300):
        t += rng.expovariate(1 / 24.0)
        provider, model, _ = rng.choices(_DAY_MODELS, weights)[0]
        api = "messages" if provider == "anthropic" else "chat"
        prompt = f"{rng.choice(_TOPICS)} (ticket {i})"
        req = _req(model, prompt, stream=rng.random() < 0.15, max_tokens=rng.choice((16, 32, 48)))
        out.append(Arrival(round(t, 3), provider, req, api))
    return out


def _fallback(route: Route, rng: random.Random) -> list[Arrival]:
    return [Arrival(i * 10.0, "openai", _req("gpt-4o-mini", _TOPICS[i]), "chat") for i in range(4)]


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    description: str
    scenario: Scenario
    workload: Workload
    groups: tuple[str, ...] = (
        "openai",
        "openai-responses",
        "anthropic",
        "openrouter",
        "gemini",
        "azure",
    )
    attempts: int = 3
    """Attempts per call while recording (1: no retry)."""
    timeout: float = 30.0
    """Read timeout while recording (a hang becomes a ``timeout`` fault after this long)."""
    seed: int = 7
    notes: dict[str, Any] = field(default_factory=dict)
    fallback: Route | None = None
    """Recorded as a fallback pair: a call that fails on its provider goes here next."""

    def path(self, root: Path, group: str) -> Path:
        return root / group / f"{self.name}.yaml"


def _sc(name: str) -> Scenario:
    return get_scenario(name)


# Every failure the simulator models is recorded for every provider it happens to, so each
# group (openai, openai-responses, anthropic, openrouter, gemini, azure) holds the same set of
# entries except:
# - ``overloaded-529`` is Anthropic's only: 529 is Anthropic's status (the others say 503).
# - ``overloaded-503`` is not Anthropic's: Anthropic signals overload with 529, and its 503
#   is a plain ``api_error`` "Service Unavailable", which ``5xx-burst`` already covers.
# - ``fallback-pair`` and ``day-of-traffic`` use two providers, so they live in ``mixed``.

_CHAT_ENTRIES: Final[tuple[Entry, ...]] = (
    Entry("success", "Two plain calls, a fast and a slow model.", _sc("healthy"), _success),
    Entry("stream-success", "One streamed call.", _sc("healthy"), _one(stream=True)),
    Entry(
        "retry-after",
        "429 with retry-after twice, then success.",
        _sc("retry-after-then-ok"),
        _one(),
    ),
    Entry(
        "5xx-burst",
        "Three 5xx answers (a seeded mix of 500, 502, 503), then success (4 attempts).",
        _sc("5xx-burst"),
        _one(),
        attempts=4,
    ),
    Entry(
        "overloaded-529",
        "Anthropic 529 overloaded twice, then success.",
        _sc("overloaded-529").with_(
            name="overloaded-529-then-ok", faults=(FaultRule(Fault.OVERLOADED, requests=(0, 2)),)
        ),
        _one(),
        groups=("anthropic",),
    ),
    Entry(
        "overloaded-503",
        "503 overloaded twice, then success (OpenAI 'overloaded or not ready yet', "
        "OpenRouter 'Provider returned error: Overloaded').",
        _sc("overloaded-529").with_(
            name="overloaded-503-then-ok",
            faults=(FaultRule(Fault.OVERLOADED, requests=(0, 2), retry_after=1.0),),
        ),
        _one(),
        groups=("openai", "openai-responses", "openrouter", "gemini", "azure"),
    ),
    Entry(
        "insufficient-quota",
        "Out of credit: OpenAI 429 insufficient_quota, OpenRouter 402, "
        "Anthropic 400 'credit balance is too low'.",
        _sc("insufficient-quota"),
        _one(),
    ),
    Entry(
        "billing-error",
        "Out of credit as Anthropic's billing_error type (400, x-should-retry: false).",
        _sc("billing-error"),
        _one(),
        groups=("anthropic",),
    ),
    Entry(
        "500-no-retry",
        "A 500 whose x-should-retry: false says not to retry it (as Anthropic sends at times).",
        _sc("500-no-retry"),
        _one(),
        groups=("anthropic",),
    ),
    Entry(
        "context-length",
        "The prompt does not fit the context window.",
        _sc("context-length"),
        _one(),
    ),
    Entry(
        "content-filter",
        "Rejected by the content filter (OpenRouter: its 403 moderation error).",
        _sc("content-filter"),
        _one(),
    ),
    Entry(
        "auth",
        "401: invalid API key.",
        _sc("auth"),
        _one(),
    ),
    Entry(
        "timeout-then-ok",
        "The first attempt hangs past the 10 s read timeout, then OK.",
        _sc("timeout-then-ok"),
        _one(),
        timeout=10.0,
    ),
    Entry(
        "midstream-error",
        "A 200 stream fails with an error event after 3 chunks, then the retried stream succeeds.",
        _sc("midstream-error").with_(
            name="midstream-error-then-ok",
            faults=(FaultRule(Fault.MIDSTREAM_ERROR, requests=(0, 1)),),
        ),
        _one(stream=True),
    ),
    Entry(
        "ratelimit-drain",
        "12 calls a second apart against 5 requests/min: the remaining "
        "headers drain to 0, then 429s wait for the reset (OpenRouter sends its "
        "x-ratelimit-* headers on the 429s only).",
        _sc("ratelimit-drain"),
        _every(1.0, 12),
    ),
    Entry(
        "repeated-prompt",
        "24 calls over 4 distinct prompts (for response caching).",
        _sc("healthy"),
        _repeated,
    ),
    Entry(
        "fallback-pair",
        "Primary (OpenAI) overloaded for every call; the secondary (Anthropic) answers.",
        Scenario(
            "primary-down",
            "OpenAI returns 503 overloaded; Anthropic is healthy.",
            faults=(FaultRule(Fault.OVERLOADED, providers=frozenset({"openai"})),),
        ),
        _fallback,
        groups=("mixed",),
        attempts=2,
        fallback=PROVIDERS["anthropic"],
        notes={
            "primary": {"provider": "openai", "api": "chat"},
            "secondary": {"provider": "anthropic", "api": "messages", "model": "claude-haiku-4-5"},
        },
    ),
    Entry(
        "day-of-traffic",
        "300 calls over two simulated hours: mixed models and providers, "
        "a slow tail, 6% transient faults and a 5-minute Anthropic incident.",
        Scenario(
            "day-of-traffic",
            "Mixed traffic with a slow tail, transient faults and an Anthropic incident.",
            latency=DEFAULT_LATENCY.with_tail(0.05, 6.0),
            limits=RateLimits(),
            faults=(
                FaultRule(
                    Fault.OVERLOADED,
                    window=(3000.0, 3300.0),
                    providers=frozenset({"anthropic"}),
                    retry_after=5.0,
                ),
                FaultRule(
                    (
                        Fault.RATE_LIMIT,
                        Fault.SERVER_ERROR,
                        Fault.UNAVAILABLE,
                        Fault.RESET,
                        Fault.HANG,
                    ),
                    rate=0.06,
                    retry_after=1.0,
                ),
            ),
        ),
        _day,
        groups=("mixed",),
        timeout=20.0,
    ),
)


def _images(route: Route, rng: random.Random) -> list[Arrival]:
    """An image, then a prompt the provider's moderation refuses."""

    def req(prompt: str) -> ChatRequest:
        extra = {"size": "256x256", "output_format": "png"}
        return ChatRequest(model="gpt-image-1", messages=(Message("user", prompt),), extra=extra)

    return [
        Arrival(0.0, route.provider, req("A lighthouse at dawn, paper cut-out style."), "images"),
        Arrival(5.0, route.provider, req("[refuse] A scene the moderation blocks."), "images"),
    ]


def _video_job(route: Route, rng: random.Random) -> list[Arrival]:
    """create → poll until completed → download, one generation job (its id comes from the
    idempotency key, so the workload can name it before it exists)."""
    from llmkit.providers.video_jobs import VideoJobsAdapter  # noqa: PLC0415

    key = "shot-0001.generate"
    prompt = "A paper boat drifting past a lighthouse."
    job_id = "vid_" + hashlib.sha256(key.encode()).hexdigest()[:24]

    def req(op: str, **kw: Any) -> ChatRequest:
        return VideoJobsAdapter.request(op, model="grok-imagine-video", prompt=prompt, **kw)

    calls = [
        Arrival(
            0.0, route.provider, req("create", idempotency_key=key, size="128x96"), "video-jobs"
        )
    ]
    for t in (0.5, 1.5, 2.5):
        calls.append(Arrival(t, route.provider, req("retrieve", job_id=job_id), "video-jobs"))
    calls.append(Arrival(3.0, route.provider, req("content", job_id=job_id), "video-jobs"))
    return calls


_MEDIA_ENTRIES = (
    Entry(
        "image-generation",
        "OpenAI Images API: one image (b64_json, usage) and one moderation refusal.",
        _sc("healthy"),
        _images,
        groups=("openai-media",),
    ),
    Entry(
        "video-job",
        "A generation job: create (idempotency key), poll queued → in_progress → completed, "
        "download the animated GIF.",
        _sc("healthy"),
        _video_job,
        groups=("openai-media",),
    ),
)
CATALOGUE: Final[tuple[Entry, ...]] = (*_CHAT_ENTRIES, *_MEDIA_ENTRIES)


def entries(group: str | None = None) -> Iterator[tuple[Entry, str]]:
    """Every (entry, group) pair of the catalogue, optionally for one group."""
    for e in CATALOGUE:
        for g in e.groups:
            if group is None or g == group:
                yield e, g


def find(name: str, group: str | None = None) -> list[tuple[Entry, str]]:
    return [(e, g) for e, g in entries(group) if e.name == name]
