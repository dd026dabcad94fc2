"""What llmkit costs per call, next to raw httpx and the official SDKs, on the served simulator.

    python benchmarks/overhead.py                 # everything, ~75 s on 2 cores
    python benchmarks/overhead.py --quick         # a short run (~25 s)
    python benchmarks/overhead.py --server thread # simulator in this process (shares the GIL)
    python benchmarks/overhead.py --only aiohttp --skip sync --skip import

The simulator (``llmkit sim serve``, scenario ``instant``: zero simulated latency, so what is
measured is client + loopback + server cost) runs in a separate process by default, so client
and server have a core each. Every contender sends the same chat request and reads the answer.
Contenders are measured in interleaved rounds (A, B, C, A, B, C, ... with the order rotated each
round) after a warm-up, so drift hits all of them alike; each figure is the median of the
per-round figures, and each ratio the median of per-round ratios against the baseline measured
in the same round.

- sync: one call at a time, µs per call, against raw ``httpx.Client`` (``.post`` + ``.json()``)
  on the same API path (OpenAI chat completions or Anthropic messages);
- async: ``--concurrency`` (50) calls in flight for ``--async-seconds`` per round, calls/s,
  against a plain ``httpx.AsyncClient()``;
- import: ``import llmkit`` in fresh interpreters (``benchmarks/import_time.py``).

Beside each figure: CPU µs per call of this (client) process and of the simulator's process
(from /proc, in 10 ms ticks, so coarse on short rounds). On a shared 2-core machine the wall
figures swing with other load; the CPU figures are the steadier evidence of where cost lies.

Targets (a FAIL line each, exit status 1 when any is missed): sync llmkit.Client at most 1.10x
raw httpx per call; llmkit.AsyncClient at least 3x plain httpx.AsyncClient's calls/s; ``import
llmkit`` under 200 ms. The official SDKs run with ``max_retries=0``; litellm is not installed in
this environment and is not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import importlib.util
import math
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_time

SYNC_TARGET = 1.10
"""llmkit.Client per call / raw httpx.Client per call, at most."""
ASYNC_TARGET = 3.0
"""llmkit.AsyncClient calls/s / plain httpx.AsyncClient calls/s at --concurrency, at least."""

KEY = "sk-bench-not-a-real-key"
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-3-5-haiku-latest"
MESSAGES = [{"role": "user", "content": "Say hello."}]
MAX_TOKENS = 16
OPENAI_BODY = {"model": OPENAI_MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
ANTHROPIC_BODY = {"model": ANTHROPIC_MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
ANTHROPIC_HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
OPENAI_HEADERS = {"authorization": f"Bearer {KEY}"}
TUNED = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=30)
"""Keep-alive for every connection in flight: httpx's default keeps 20 and re-dials the rest."""


# --------------------------------------------------------------------------- the simulator

ServerCPU = Callable[[], float] | None


def _cpu_of(pid: int) -> Callable[[], float]:
    """CPU seconds used so far by process ``pid`` (user + system, from /proc; Linux only)."""
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / tick

    return cpu


@contextlib.contextmanager
def simulator(mode: str, scenario: str, time_scale: float) -> Iterator[tuple[str, ServerCPU]]:
    """The served simulator's base URL and a reader of its CPU seconds (None when it runs in
    a thread of this process): in a child process (default) or a thread of this one."""
    if mode == "thread":
        from llmkit.sim.server import SimServer

        with SimServer(scenario, time_scale=time_scale) as url:
            yield url, None
        return
    cmd = [sys.executable, "-m", "llmkit", "sim", "serve", "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--scenario", scenario, "--time-scale", str(time_scale)]
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        timer = threading.Timer(30, proc.kill)  # a server that never says "serving" is killed
        timer.start()
        try:
            assert proc.stdout is not None
            url = None
            for line in proc.stdout:
                m = re.search(r"serving on (http://\S+)", line)
                if m:
                    url = m.group(1)
                    break
            timer.cancel()
            if url is None:
                err.seek(0)
                raise RuntimeError(f"the simulator did not start: {' '.join(cmd)}\n{err.read()}")
            yield url, _cpu_of(proc.pid)
        finally:
            timer.cancel()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --------------------------------------------------------------------------- contenders


@dataclass
class Contender:
    name: str
    call: Callable[[], Any]
    close: Callable[[], Any]
    baseline: bool = False
    """The raw-httpx contender the others of its ``path`` are divided by."""
    key: str = ""
    """Short id used by the targets ("llmkit", "httpx")."""
    path: str = "openai"
    """Which wire API it speaks ("openai" chat completions or "anthropic" messages)."""


def _check(text: object, who: str) -> None:
    if not isinstance(text, str) or not text:
        raise RuntimeError(f"{who}: empty or missing answer text: {text!r}")


def sync_contenders(url: str, sdks: bool) -> list[Contender]:
    """Raw httpx, llmkit (OpenAI and Anthropic paths) and the SDKs, sharing one request."""
    from llmkit.client import Client

    out: list[Contender] = []

    http = httpx.Client()
    chat_url = url + "/v1/chat/completions"

    def raw_httpx() -> None:
        r = http.post(chat_url, json=OPENAI_BODY, headers=OPENAI_HEADERS)
        if r.status_code != 200:
            raise RuntimeError(f"raw httpx: HTTP {r.status_code}: {r.text[:200]}")
        _check(r.json()["choices"][0]["message"]["content"], "raw httpx")

    out.append(
        Contender("raw httpx.Client (openai)", raw_httpx, http.close, baseline=True, key="httpx")
    )

    lk = Client("openai", base_url=url + "/v1", api_key=KEY)

    def llmkit_chat() -> None:
        _check(lk.chat(model=OPENAI_MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS).text, "llmkit")

    out.append(Contender("llmkit.Client (openai)", llmkit_chat, lk.close, key="llmkit"))

    lka = Client("anthropic", base_url=url, api_key=KEY)

    def llmkit_anthropic() -> None:
        r = lka.chat(model=ANTHROPIC_MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        _check(r.text, "llmkit anthropic")

    out.append(
        Contender("llmkit.Client (anthropic)", llmkit_anthropic, lka.close, path="anthropic")
    )
    messages_url = url + "/v1/messages"

    def raw_anthropic() -> None:
        r = http.post(messages_url, json=ANTHROPIC_BODY, headers=ANTHROPIC_HEADERS)
        if r.status_code != 200:
            raise RuntimeError(f"raw httpx: HTTP {r.status_code}: {r.text[:200]}")
        _check(r.json()["content"][0]["text"], "raw httpx anthropic")

    out.append(
        Contender(
            "raw httpx.Client (anthropic)",
            raw_anthropic,
            lambda: None,
            baseline=True,
            path="anthropic",
        )
    )

    if sdks and importlib.util.find_spec("openai"):
        import openai

        oai = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)

        def openai_sdk() -> None:
            r = oai.chat.completions.create(
                model=OPENAI_MODEL,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
            )
            _check(r.choices[0].message.content, "openai sdk")

        out.append(Contender(f"openai {openai.__version__} SDK", openai_sdk, oai.close))

    if sdks and importlib.util.find_spec("anthropic"):
        import anthropic

        ant = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)

        def anthropic_sdk() -> None:
            r = ant.messages.create(
                model=ANTHROPIC_MODEL,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
            )
            _check(r.content[0].text, "anthropic sdk")  # type: ignore[union-attr]

        name = f"anthropic {anthropic.__version__} SDK"
        out.append(Contender(name, anthropic_sdk, ant.close, path="anthropic"))
    return out


def _raw_async(client: httpx.AsyncClient, url: str, who: str) -> Callable[[], Awaitable[None]]:
    chat_url = url + "/v1/chat/completions"

    async def call() -> None:
        r = await client.post(chat_url, json=OPENAI_BODY, headers=OPENAI_HEADERS)
        if r.status_code != 200:
            raise RuntimeError(f"{who}: HTTP {r.status_code}: {r.text[:200]}")
        _check(r.json()["choices"][0]["message"]["content"], who)

    return call


def _llmkit_async(client: Any, who: str) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        r = await client.chat(model=OPENAI_MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        _check(r.text, who)

    return call


def async_contenders(url: str, sdks: bool) -> list[Contender]:
    """Built inside the running loop (aiohttp sessions bind to it)."""
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    from llmkit.client import AsyncClient

    plain = httpx.AsyncClient()
    tuned = httpx.AsyncClient(limits=TUNED)
    via_aiohttp = httpx.AsyncClient(transport=AiohttpTransport())
    session = aiohttp.ClientSession()
    chat_url = url + "/v1/chat/completions"

    async def raw_aiohttp() -> None:
        async with session.post(chat_url, json=OPENAI_BODY, headers=OPENAI_HEADERS) as r:
            if r.status != 200:
                raise RuntimeError(f"raw aiohttp: HTTP {r.status}")
            data = await r.json()
        _check(data["choices"][0]["message"]["content"], "raw aiohttp")

    def llmkit(**kw: Any) -> Any:
        return AsyncClient("openai", base_url=url + "/v1", api_key=KEY, **kw)

    lk = llmkit()
    out = [
        Contender(
            "plain httpx.AsyncClient",
            _raw_async(plain, url, "plain httpx"),
            plain.aclose,
            baseline=True,
            key="httpx",
        ),
        Contender(
            "httpx.AsyncClient, keep-alive 100", _raw_async(tuned, url, "tuned"), tuned.aclose
        ),
        Contender(
            "httpx.AsyncClient + AiohttpTransport",
            _raw_async(via_aiohttp, url, "httpx+aiohttp"),
            via_aiohttp.aclose,
        ),
        Contender("raw aiohttp.ClientSession", raw_aiohttp, session.close),
        Contender(
            f"llmkit.AsyncClient (default: {_transport_name(lk)})",
            _llmkit_async(lk, "llmkit"),
            lk.aclose,
            key="llmkit",
        ),
        Contender(
            "llmkit.AsyncClient on plain httpx",
            _llmkit_async(llmkit(http_client=plain), "llmkit"),
            _noop,
        ),
        Contender(
            "llmkit.AsyncClient, httpx keep-alive 100",
            _llmkit_async(llmkit(http_client=tuned), "llmkit"),
            _noop,
        ),
        Contender(
            "llmkit.AsyncClient + AiohttpTransport",
            _llmkit_async(llmkit(http_client=via_aiohttp), "llmkit"),
            _noop,
        ),
    ]
    return out + (_async_sdks(url) if sdks else [])


def _transport_name(client: Any) -> str:
    return type(getattr(client.http, "_transport", None)).__name__


def _async_sdks(url: str) -> list[Contender]:
    out: list[Contender] = []
    if importlib.util.find_spec("openai"):
        import openai

        oai = openai.AsyncOpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)

        async def openai_sdk() -> None:
            r = await oai.chat.completions.create(
                model=OPENAI_MODEL,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
            )
            _check(r.choices[0].message.content, "openai sdk")

        out.append(Contender(f"openai {openai.__version__} AsyncOpenAI", openai_sdk, oai.close))
    if importlib.util.find_spec("anthropic"):
        import anthropic

        ant = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)

        async def anthropic_sdk() -> None:
            r = await ant.messages.create(
                model=ANTHROPIC_MODEL,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
            )
            _check(r.content[0].text, "anthropic sdk")  # type: ignore[union-attr]

        name = f"anthropic {anthropic.__version__} AsyncAnthropic"
        out.append(Contender(name, anthropic_sdk, ant.close))
    return out


async def _noop() -> None:
    return None


# --------------------------------------------------------------------------- measuring


@dataclass
class Series:
    """Per-round figures of one contender, and its per-round ratios to the baseline."""

    contender: Contender
    rounds: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """This (client) process's CPU µs per call, per round."""
    server_cpu: list[float] = field(default_factory=list)
    """The simulator process's CPU µs per call, per round (nan when not measurable)."""

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)


def _rotations(n: int, rounds: int) -> Iterator[list[int]]:
    for r in range(rounds):
        yield [(r + i) % n for i in range(n)]


def run_sync(
    contenders: list[Contender], args: argparse.Namespace, server_cpu: ServerCPU
) -> list[Series]:
    calls, rounds, warmup = args.calls, args.rounds, args.warmup
    series = [Series(c) for c in contenders]
    for c in contenders:
        for _ in range(warmup):
            c.call()
    base = {c.path: i for i, c in enumerate(contenders) if c.baseline}
    for order in _rotations(len(contenders), rounds):
        gc.collect()
        this_round: dict[int, float] = {}
        for i in order:
            call = contenders[i].call
            srv0 = server_cpu() if server_cpu else math.nan
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            for _ in range(calls):
                call()
            this_round[i] = (time.perf_counter() - t0) / calls * 1e6
            series[i].cpu.append((time.process_time() - cpu0) / calls * 1e6)
            srv = server_cpu() if server_cpu else math.nan
            series[i].server_cpu.append((srv - srv0) / calls * 1e6)
        for i, us in this_round.items():
            series[i].rounds.append(us)
            series[i].ratios.append(us / this_round[base[contenders[i].path]])
    return series


async def _burst(
    call: Callable[[], Awaitable[Any]],
    concurrency: int,
    seconds: float,
    server_cpu: ServerCPU = None,
) -> tuple[float, float, float]:
    """(calls/s, this process's and the server's CPU µs per call) with ``concurrency`` callers
    for ``seconds`` (calls in flight at the end are waited for and counted)."""
    done = 0
    srv0 = server_cpu() if server_cpu else math.nan
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    stop = t0 + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    srv = (server_cpu() if server_cpu else math.nan) - srv0
    n = max(done, 1)
    return done / wall, cpu / n * 1e6, srv / n * 1e6


def _only(contenders: list[Contender], only: list[str]) -> list[Contender]:
    """The baselines and what the targets compare, and those whose name contains one of
    ``only`` (all if ``only`` is empty)."""
    if not only:
        return contenders
    return [
        c
        for c in contenders
        if c.key or c.baseline or any(o.lower() in c.name.lower() for o in only)
    ]


async def run_async(url: str, args: argparse.Namespace, server_cpu: ServerCPU) -> list[Series]:
    concurrency, seconds = args.concurrency, args.async_seconds
    contenders = _only(async_contenders(url, not args.no_sdks), args.only)
    try:
        series = [Series(c) for c in contenders]
        for c in contenders:
            await _burst(c.call, concurrency, args.async_warmup)
        base = next(i for i, c in enumerate(contenders) if c.baseline)
        for order in _rotations(len(contenders), args.async_rounds):
            gc.collect()
            this_round = {
                i: await _burst(contenders[i].call, concurrency, seconds, server_cpu) for i in order
            }
            for i, (cps, cpu_us, srv_us) in this_round.items():
                series[i].rounds.append(cps)
                series[i].cpu.append(cpu_us)
                series[i].server_cpu.append(srv_us)
                series[i].ratios.append(cps / this_round[base][0])
        return series
    finally:
        for c in contenders:
            await c.close()


# --------------------------------------------------------------------------- reporting


def _med(xs: list[float]) -> str:
    """The median as a whole number, or "n/a" (the server's CPU when it runs in-process)."""
    m = statistics.median(xs) if xs else math.nan
    return "n/a" if math.isnan(m) else f"{m:.0f}"


def print_sync(series: list[Series], calls: int, rounds: int) -> None:
    print(f"\nsync, one call at a time: median of {rounds} rounds x {calls} calls each")
    print(
        f"  {'contender':<34}{'µs/call':>9}{'calls/s':>9}{'vs raw httpx':>14}"
        f"{'CPU µs/call: client':>21}{'server':>8}  rounds µs min-max"
    )
    for s in series:
        lo, hi = min(s.rounds), max(s.rounds)
        print(
            f"  {s.contender.name:<34}{s.median:>9.0f}{1e6 / s.median:>9.0f}"
            f"{s.ratio:>13.2f}x{_med(s.cpu):>21}{_med(s.server_cpu):>8}  {lo:.0f}-{hi:.0f}"
        )
    print("  (ratios: median of per-round ratios against raw httpx on the same API path)")


def print_async(series: list[Series], concurrency: int, seconds: float, rounds: int) -> None:
    print(f"\nasync, {concurrency} calls in flight: median of {rounds} rounds x {seconds:g} s each")
    print(
        f"  {'contender':<48}{'calls/s':>9}{'vs plain httpx':>16}"
        f"{'CPU µs/call: client':>21}{'server':>8}  rounds calls/s min-max"
    )
    for s in series:
        lo, hi = min(s.rounds), max(s.rounds)
        print(
            f"  {s.contender.name:<48}{s.median:>9.0f}{s.ratio:>15.2f}x"
            f"{_med(s.cpu):>21}{_med(s.server_cpu):>8}  {lo:.0f}-{hi:.0f}"
        )


def profile_sync(url: str, calls: int, top: int = 25) -> None:
    """cProfile of llmkit.Client's sync path (tottime), to find the hot spots."""
    from llmkit.client import Client

    with Client("openai", base_url=url + "/v1", api_key=KEY) as lk:
        for _ in range(50):
            lk.chat(model=OPENAI_MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(calls):
            lk.chat(model=OPENAI_MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
        prof.disable()
    print(f"\ncProfile of {calls} llmkit.Client.chat calls (top {top} by own time)")
    pstats.Stats(prof).strip_dirs().sort_stats("tottime").print_stats(top)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=200, help="sync calls per contender per round")
    p.add_argument("--rounds", type=int, default=7, help="sync rounds (7)")
    p.add_argument("--warmup", type=int, default=50, help="sync warm-up calls per contender")
    p.add_argument("--concurrency", type=int, default=50, help="async calls in flight (50)")
    p.add_argument("--async-seconds", type=float, default=0.8, help="seconds per async round")
    p.add_argument("--async-rounds", type=int, default=6, help="async rounds (6)")
    p.add_argument("--async-warmup", type=float, default=0.3, help="warm-up seconds per contender")
    p.add_argument("--import-runs", type=int, default=7, help="fresh interpreters per import")
    p.add_argument(
        "--server",
        choices=("process", "thread"),
        default="process",
        help="simulator in a child process (default) or in a thread of this one",
    )
    p.add_argument("--scenario", default="instant", help="simulator scenario (instant)")
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulator time scale (instant has no latency and no rate limits to scale)",
    )
    p.add_argument("--no-sdks", action="store_true", help="leave the official SDKs out")
    p.add_argument("--skip", action="append", default=[], choices=("sync", "async", "import"))
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="measure only contenders whose name contains TEXT (and the baseline); repeatable",
    )
    p.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile N sync calls")
    p.add_argument("--quick", action="store_true", help="a short smoke run (fewer rounds)")
    args = p.parse_args(argv)
    if args.quick:
        args.calls, args.rounds, args.warmup = 100, 3, 30
        args.async_seconds, args.async_rounds, args.async_warmup = 0.5, 3, 0.2
        args.import_runs = 3
    return args


Verdict = tuple[bool, str]


def sync_part(url: str, args: argparse.Namespace, server_cpu: ServerCPU) -> Verdict:
    contenders = _only(sync_contenders(url, not args.no_sdks), args.only)
    try:
        series = run_sync(contenders, args, server_cpu)
    finally:
        for c in contenders:
            c.close()
    print_sync(series, args.calls, args.rounds)
    lk = next(s for s in series if s.contender.key == "llmkit")
    base = next(s for s in series if s.contender.baseline)
    return (
        lk.ratio <= SYNC_TARGET,
        f"sync: llmkit.Client costs {lk.ratio:.2f}x raw httpx.Client per call, median of "
        f"per-round ratios (medians {lk.median:.0f} vs {base.median:.0f} µs; target <= "
        f"{SYNC_TARGET:.2f}x)",
    )


def async_part(url: str, args: argparse.Namespace, server_cpu: ServerCPU) -> Verdict:
    series = asyncio.run(run_async(url, args, server_cpu))
    print_async(series, args.concurrency, args.async_seconds, args.async_rounds)
    lk = next(s for s in series if s.contender.key == "llmkit")
    base = next(s for s in series if s.contender.baseline)
    aio = next((s for s in series if s.contender.name.startswith("raw aiohttp")), None)
    if aio is not None and len(aio.rounds) == len(lk.rounds):
        vs_aio = statistics.median(x / y for x, y in zip(lk.rounds, aio.rounds, strict=True))
        print(
            f"  llmkit.AsyncClient does {vs_aio:.2f}x raw aiohttp.ClientSession's calls/s, median "
            f"of per-round ratios (a stretch goal, not a target: >= 0.7x)"
        )
    return (
        lk.ratio >= ASYNC_TARGET,
        f"async@{args.concurrency}: llmkit.AsyncClient does {lk.ratio:.2f}x plain "
        f"httpx.AsyncClient's calls/s, median of per-round ratios (medians {lk.median:.0f} "
        f"vs {base.median:.0f}/s; target >= {ASYNC_TARGET:g}x)",
    )


def import_part(args: argparse.Namespace) -> Verdict:
    print()
    modules = ("llmkit", "llmkit.client", "httpx")
    figures = [import_time.measure(m, args.import_runs) for m in modules]
    ok = import_time.report(figures)
    return (
        ok,
        f"import llmkit: {figures[0].median_ms:.0f} ms, median of {args.import_runs} fresh "
        f"interpreters (httpx alone {figures[2].median_ms:.0f} ms; target < "
        f"{import_time.TARGET_MS:.0f} ms)",
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    print(
        f"llmkit overhead benchmark: python {sys.version.split()[0]}, httpx {httpx.__version__}, "
        f"{_cores()} cores; simulator in a {args.server} (scenario {args.scenario!r})"
    )
    print("litellm: not installed in this environment, not measured")
    verdicts: list[Verdict] = []
    with simulator(args.server, args.scenario, args.time_scale) as (url, server_cpu):
        print(f"simulator: {url}")
        if "sync" not in args.skip:
            verdicts.append(sync_part(url, args, server_cpu))
        if args.profile:
            profile_sync(url, args.profile)
        if "async" not in args.skip:
            verdicts.append(async_part(url, args, server_cpu))
    if "import" not in args.skip:
        verdicts.append(import_part(args))
    print("\ntargets")
    for ok, line in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {line}")
    missed = sum(not ok for ok, _ in verdicts)
    if missed:
        print(f"FAILED: {missed} of {len(verdicts)} targets missed")
        return 1
    print(f"OK: all {len(verdicts)} targets met")
    return 0


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
