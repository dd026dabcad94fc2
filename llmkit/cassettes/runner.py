"""Drive a workload through llmkit's Client: record a catalogue entry, replay a cassette.

Recording: the entry's calls arrive on a VirtualClock at their planned offsets and go through a
:class:`~llmkit.client.Client` with the entry's retry policy, whose transport is the recorder's.
Three ways (``via``), one file format:

``http``        (default) real HTTP to ``SimServer(virtual_time=True)`` on 127.0.0.1: vcrpy
                records the socket traffic; the server answers at once and reports the
                planned timing, which the recorder plays on the VirtualClock. Exact and
                byte-identical on every re-recording.
``in-process``  the simulator called directly through ``SimBridge`` (no socket): the same
                bytes, a little faster; kept for machines where binding a port is not allowed.
``real-time``   real HTTP to a server that really sleeps, ``time_scale`` times faster than
                the wall; timings are measured, so not byte-identical.

Replaying: the cassette's calls are sent again through a Client built for the chosen policy,
over the replay transport, with no key and no network; the result is a :class:`Summary`, and
the Client's telemetry goes to the ``telemetry`` sink given (``llmkit.charts.replay_frame``
charts it). Client options passed to :func:`replay_cassette` replace the policy's choices.

``naive``  one attempt per call, nothing else.
``retry``  the retry policy the cassette was recorded with (``notes.attempts``).
``full``   retry plus a circuit breaker per provider, plus the fallback target when the
           cassette was recorded as a fallback pair.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, Unpack

from llmkit.cassettes.catalogue import PROVIDERS, Entry, Route
from llmkit.cassettes.record import Recorder, SimBridge
from llmkit.cassettes.replay import Replayer
from llmkit.cassettes.timeline import Provenance, RecordedCall
from llmkit.cassettes.workload import request_from_data, request_to_data
from llmkit.clock import Clock, VirtualClock
from llmkit.errors import CassetteError, LLMError
from llmkit.types import ChatRequest, ChatResponse

if TYPE_CHECKING:
    from llmkit.budget import RetryBudget
    from llmkit.deadline import Timeouts
    from llmkit.layers import Layer
    from llmkit.retry import RetryPolicy
    from llmkit.telemetry import TelemetrySink

__all__ = [
    "BASE_URLS",
    "POLICIES",
    "SIM_KEY",
    "VIAS",
    "ReplayOptions",
    "Summary",
    "percentile",
    "record_entry",
    "replay_cassette",
]

POLICIES = ("naive", "retry", "full")
VIAS: Final = ("http", "in-process", "real-time")
Via = Literal["http", "in-process", "real-time"]
_RECORDED_VIA: Final = {
    "http": "served simulator over HTTP on 127.0.0.1, on virtual time (timings exact)",
    "in-process": "in-process simulator on a virtual clock (timings exact)",
}
BASE_URLS: Final = {
    "openai": "http://127.0.0.1/v1",
    "anthropic": "http://127.0.0.1",
    "openrouter": "http://127.0.0.1/api/v1",
    "gemini": "http://127.0.0.1/v1beta",
    "azure": "http://127.0.0.1/openai/deployments/gpt-4o-mini?api-version=2024-10-21",
}
"""Loopback base URLs for clients whose transport never leaves the process (replay, simulator)."""
SIM_KEY: Final = "sim-placeholder"
"""The simulator wants *a* key (it answers 401 without one); never a real one, never stored."""


class ReplayOptions(TypedDict, total=False):
    """The :class:`~llmkit.client.Client` options a replay lets a caller choose (the clock,
    transport, key and URL are the replay's own)."""

    retry: RetryPolicy | int | bool | None
    budget: RetryBudget | bool | None
    timeout: Timeouts | float | None
    deadline: float | None
    min_attempt: float
    seed: int | None
    layers: Sequence[Layer]
    attempt_layers: Sequence[Layer]


def _options(attempts: int, timeout: float, seed: int) -> ReplayOptions:
    """What a cassette's notes ask for: its attempts and timeout, no deadline."""
    return {
        "retry": attempts if attempts > 1 else False,
        "timeout": timeout,
        "deadline": None,
        "seed": seed,
    }


def _client(
    provider: str,
    api: str,
    *,
    transport: Any,
    clock: Clock,
    telemetry: TelemetrySink | None = None,
    api_key: str | None = SIM_KEY,
    base_url: str | None = None,
    **options: Unpack[ReplayOptions],
) -> Any:
    from llmkit.client import Client  # noqa: PLC0415 - the client pulls in every layer

    return Client(
        provider,
        api=api if api in ("responses", "images", "video-jobs") else None,
        transport=transport,
        clock=clock,
        api_key=api_key,
        base_url=base_url or BASE_URLS.get(provider),
        telemetry=telemetry,
        **options,
    )


# --------------------------------------------------------------------------- recording


def record_entry(
    entry: Entry,
    group: str,
    out: Path,
    *,
    seed: int | None = None,
    via: Via = "http",
    time_scale: float = 20.0,
) -> Path:
    """Record one catalogue entry for one group into ``out`` (atomically).

    ``via`` is ``http`` (default: the served simulator on virtual time, exact),
    ``in-process`` (no socket, same bytes) or ``real-time`` (the served simulator sleeping
    ``time_scale`` times faster than the wall clock; timings measured).
    """
    from llmkit import __version__  # noqa: PLC0415
    from llmkit.sim import SIM_VERSION, SimTransport  # noqa: PLC0415

    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(VIAS)}, got {via!r}")
    seed = entry.seed if seed is None else seed
    route = PROVIDERS.get(group, PROVIDERS["openai"])
    arrivals = entry.workload(route, random.Random(seed))
    prov = Provenance(
        "simulator",
        group,
        entry.scenario.name,
        __version__,
        simulator_version=SIM_VERSION,
        seed=seed,
        transport="in-process" if via == "in-process" else "http",
    )
    recorded_via = _RECORDED_VIA.get(
        via, f"served simulator over HTTP, time scale {time_scale:g} (timings measured)"
    )
    notes = {
        "entry": entry.name,
        "description": entry.description,
        "recorded_via": recorded_via,
        "attempts": entry.attempts,
        "timeout_s": entry.timeout,
        **entry.notes,
    }
    server: Any = None
    clock: Clock
    inner: Callable[[], Any]
    if via == "in-process":
        clock = VirtualClock()
        bridge = SimBridge(SimTransport(entry.scenario, clock, seed=seed), clock)
        base = dict(BASE_URLS)

        def inner() -> Any:
            return bridge

    else:
        from llmkit.cassettes.record import TappedHTTPTransport  # noqa: PLC0415
        from llmkit.sim.server import SimServer  # noqa: PLC0415 - aiohttp only when serving

        virtual = via == "http"
        server = SimServer(entry.scenario, seed=seed, time_scale=time_scale, virtual_time=virtual)
        server.start()
        clock = VirtualClock() if virtual else server.clock
        epoch = clock.now()  # the server's simulator started at the client's time zero
        base = {
            "openai": server.openai_base_url,
            "anthropic": server.anthropic_base_url,
            "openrouter": server.openrouter_base_url,
            "gemini": server.gemini_base_url,
            "azure": server.base_url + "/openai/deployments/gpt-4o-mini?api-version=2024-10-21",
        }

        def inner() -> Any:
            return TappedHTTPTransport(clock, sim_epoch=epoch if virtual else None)

    clients: dict[tuple[str, str], Any] = {}
    try:
        with Recorder(
            out,
            prov,
            clock=clock,
            notes=notes,
            time_scale=time_scale if via == "real-time" else 1.0,
        ) as rec:

            def client(provider: str, api: str) -> Any:
                if (provider, api) not in clients:
                    clients[provider, api] = _client(
                        provider,
                        api,
                        transport=rec.transport(inner()),
                        clock=clock,
                        base_url=base[provider],
                        **_options(entry.attempts, entry.timeout, seed),
                    )
                return clients[provider, api]

            for a in arrivals:  # build clients first: set-up time is not traffic
                client(a.provider, a.api)
            if entry.fallback is not None:
                client(entry.fallback.provider, entry.fallback.api)
            rec.origin = clock.now()
            for a in arrivals:
                wait = rec.origin + a.t_s - clock.now()
                if wait > 0:
                    clock.sleep(wait)
                with rec.call(a.provider, request_to_data(a.request), api=a.api, t_s=a.t_s):
                    _send(client, a.provider, a.api, a.request, entry.fallback)
    finally:
        for c in clients.values():
            c.close()
        if server is not None:
            server.stop()
    return out


def _send(
    client: Callable[[str, str], Any],
    provider: str,
    api: str,
    request: ChatRequest,
    fallback: Route | None,
) -> None:
    try:
        client(provider, api).send(request)
    except LLMError:
        if fallback is not None:
            with contextlib.suppress(LLMError):
                client(fallback.provider, fallback.api).send(request.with_(model=fallback.fast))


# --------------------------------------------------------------------------- replaying


@dataclass(slots=True)
class Summary:
    """What a replay did, in virtual time. Latencies are per call, in seconds."""

    cassette: str
    source: str
    scenario: str
    policy: str
    calls: int = 0
    attempts: int = 0
    successes: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    ttft_p50_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    virtual_s: float = 0.0
    recorded_s: float = 0.0
    wall_s: float = 0.0
    unplayed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        def ms(x: float | None) -> str:
            return "-" if x is None else f"{x * 1000:.0f} ms"

        errs = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"
        return [
            f"{self.cassette}  ({self.source}: {self.scenario}; policy {self.policy})",
            f"  calls {self.calls}  attempts {self.attempts}  successes {self.successes}  "
            f"errors: {errs}",
            f"  latency p50 {ms(self.p50_s)}  p95 {ms(self.p95_s)}  p99 {ms(self.p99_s)}  "
            f"ttft p50 {ms(self.ttft_p50_s)}",
            f"  tokens in {self.input_tokens}  out {self.output_tokens}",
            f"  virtual time {self.virtual_s:.2f} s (recorded {self.recorded_s:.2f} s), "
            f"wall {self.wall_s:.3f} s, unplayed recordings {self.unplayed}",
        ]


def percentile(values: Iterable[float], q: float) -> float | None:
    """The linear-interpolated ``q`` quantile (0..1) of ``values``; None when empty."""
    s = sorted(values)
    if not s:
        return None
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _layers_for(
    policy: str,
    call: RecordedCall,
    notes: dict[str, Any],
    build: Callable[..., Any],
    clock: Clock,
) -> tuple[list[Any], list[Any]]:
    if policy != "full":
        return [], []
    from llmkit.breaker import BreakerLayer, CircuitBreaker  # noqa: PLC0415

    attempt_layers = [BreakerLayer(CircuitBreaker(call.provider, clock=clock))]
    layers: list[Any] = []
    second = notes.get("secondary")
    if isinstance(second, dict) and second.get("provider") != call.provider:
        from llmkit.fallback import FallbackLayer, Target  # noqa: PLC0415

        backup = build(str(second["provider"]), str(second.get("api", "chat")))
        model = second.get("model")

        def via_backup(request: ChatRequest, ctx: Any) -> ChatResponse:
            response: ChatResponse = backup.send(request)
            return response

        layers.append(
            FallbackLayer(
                [
                    Target("primary", provider=call.provider),
                    Target(
                        "secondary",
                        model=None if model is None else str(model),
                        provider=str(second["provider"]),
                        handler=via_backup,
                    ),
                ]
            )
        )
    return layers, attempt_layers


def replay_cassette(
    path: str | Path,
    *,
    policy: str = "retry",
    progress: Callable[[int], None] | None = None,
    strict: bool = False,
    clock: VirtualClock | None = None,
    telemetry: TelemetrySink | None = None,
    **client_options: Unpack[ReplayOptions],
) -> Summary:
    """Replay every recorded call through ``policy``; typed CassetteErrors for bad files.

    ``progress(n)`` is called after each call (for a progress bar). ``strict`` makes leftover
    recordings an error instead of a count in the summary. ``telemetry`` receives every
    attempt and call record (a :class:`~llmkit.telemetry.MemorySink` to chart them).
    ``client_options`` replace what ``policy`` chooses on every client the replay builds
    (``retry``, ``budget``, ``timeout``, ``seed``, ``layers``...): a replay cannot invent
    attempts that were never recorded, so more retries than recorded raise
    :class:`~llmkit.errors.CassetteMismatchError` when the recording ran out of them.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    clock = clock or VirtualClock()
    replayer = Replayer(path, clock=clock, strict=strict)  # reads the file once, typed errors
    meta = replayer.loaded.meta
    notes = dict(meta.notes)
    attempts = int(notes.get("attempts", 3)) if policy != "naive" else 1
    timeout = float(notes.get("timeout_s", 30.0))
    seed = meta.provenance.seed or 0
    summary = Summary(
        replayer.path.name,
        meta.provenance.source,
        meta.provenance.scenario,
        policy,
        recorded_s=round(meta.duration_s, 4),
    )
    latencies: list[float] = []
    ttfts: list[float] = []
    errors: Counter[str] = Counter()
    started = time.perf_counter()
    t0 = clock.now()
    with replayer as rep:
        clients: dict[tuple[str, str], Any] = {}

        def build(provider: str, api: str, *, plain: bool = True) -> Any:
            key = (provider, api) if plain else (provider, api + "+layers")
            if key not in clients:
                layers: tuple[list[Any], list[Any]] = ([], [])
                if not plain:
                    layers = _layers_for(
                        policy, RecordedCall(0, provider, {}, api), notes, build, clock
                    )
                options = _options(attempts, timeout, seed)
                options["layers"], options["attempt_layers"] = layers
                options.update(client_options)
                clients[key] = _client(
                    provider,
                    api,
                    transport=rep.transport(),
                    clock=clock,
                    telemetry=telemetry,
                    api_key=None,
                    **options,
                )
            return clients[key]

        try:
            for call in meta.calls:
                clock.set(t0 + call.t_s)
                client = build(call.provider, call.api, plain=policy != "full")
                _one_call(
                    client,
                    call,
                    clock=clock,
                    summary=summary,
                    latencies=latencies,
                    ttfts=ttfts,
                    errors=errors,
                )
                if progress is not None:
                    progress(1)
        finally:
            for c in clients.values():
                c.close()
        summary.attempts = rep.played
        summary.unplayed = len(rep.unplayed())
    summary.errors = dict(errors)
    summary.p50_s, summary.p95_s, summary.p99_s = (
        _r(percentile(latencies, q)) for q in (0.5, 0.95, 0.99)
    )
    summary.ttft_p50_s = _r(percentile(ttfts, 0.5))
    summary.virtual_s = round(clock.now() - t0, 4)
    summary.wall_s = time.perf_counter() - started
    return summary


def _one_call(
    client: Any,
    call: RecordedCall,
    *,
    clock: Clock,
    summary: Summary,
    latencies: list[float],
    ttfts: list[float],
    errors: Counter[str],
) -> None:
    request = request_from_data(call.request)
    begin = clock.now()
    try:
        response = client.send(request)
    except CassetteError:
        raise
    except LLMError as exc:
        errors[str(exc.kind)] += 1
    else:
        summary.successes += 1
        if response.ttft is not None:
            ttfts.append(response.ttft)
        summary.input_tokens += response.usage.input_tokens or 0
        summary.output_tokens += response.usage.output_tokens or 0
    latencies.append(clock.now() - begin)
    summary.calls += 1


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
