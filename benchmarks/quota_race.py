"""Quota races: 50 workers in 4 processes against one store, reserve/settle vs check-then-act.

Each worker (half threads, half asyncio tasks, spread over 4 processes) makes calls tagged
with one account until it is refused; a call reserves its worst case (input estimate + output
cap, and that priced in dollars), "runs" for a moment, then settles the usage it reports (a
random share of the cap). The account's limits are a third of what the workers offer, so most
calls must be refused. Printed per store (SQLite file, then Redis when LLMKIT_REDIS_URL is set or
redis-server is on the PATH):

- overshoot: tokens and dollars used beyond the limit (must be 0 and $0), calls admitted;
- the naive check-then-act version (read the counter, call, then add) and its overshoot;
- the quota check's cost per call (reserve + settle, one worker, µs) beside a raw Redis
  ``INCR`` round trip measured in the same run.

Exits 1 when reserve/settle overshoots. ``--calls`` sets each worker's offered calls.

    python benchmarks/quota_race.py [--calls 12] [--workers 50] [--processes 4] [--store all]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmkit.errors import OverQuotaError
from llmkit.prices import ModelRates, PriceBook
from llmkit.quota import QuotaLayer, QuotaLimit, QuotaStore, RedisQuotaStore, SQLiteQuotaStore
from llmkit.quota.layer import NANO
from llmkit.quota.stores import Charge
from llmkit.types import ChatRequest, ChatResponse, Message, Usage

MODEL = "bench-model"
BOOK = PriceBook({MODEL: ModelRates(input=Decimal("2.50"), output=Decimal("10.00"))})
MAX_TOKENS = 200
PROMPT = "Summarise the incident report in three bullet points. " * 4
WALL = 1_767_225_600.0  # every worker agrees on the window


def _request(i: int) -> ChatRequest:
    return ChatRequest(
        model=MODEL,
        messages=(Message("user", f"{PROMPT} #{i}"),),
        max_tokens=MAX_TOKENS,
        tags={"account": "acme"},
    )


def _store(spec: str) -> QuotaStore:
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        return SQLiteQuotaStore(where)
    return RedisQuotaStore(where, prefix="llmkit-bench:quota:")


def _layer(spec: str, limits: list[QuotaLimit]) -> QuotaLayer:
    return QuotaLayer(limits, _store(spec), prices=BOOK)


def _actual(rng: random.Random, ticket_tokens: int) -> ChatResponse:
    """What the provider reports: the whole input, a random share of the output cap."""
    inp = ticket_tokens - MAX_TOKENS
    out = rng.randint(MAX_TOKENS // 4, MAX_TOKENS)
    cost = (inp * Decimal("2.50") + out * Decimal("10.00")) / Decimal(1_000_000)
    return ChatResponse("ok", MODEL, "openai", usage=Usage(inp, out), cost=cost)


def _safe_call(layer: QuotaLayer, rng: random.Random, i: int) -> bool:
    try:
        ticket = layer.reserve(_request(i), "openai", WALL)
    except OverQuotaError:
        return False
    time.sleep(rng.uniform(0.0005, 0.002))  # the call in flight
    layer.settle(ticket, _actual(rng, ticket.tokens), WALL)
    return True


def _naive_call(layer: QuotaLayer, rng: random.Random, i: int) -> bool:
    """Check-then-act: read every counter, send if there is room, add the usage afterwards."""
    charges, _, _, tokens, _ = layer.charges(_request(i), "openai", WALL)
    if any(layer.store.used(c.key, now=WALL) + c.amount > c.limit for c in charges):
        return False
    time.sleep(rng.uniform(0.0005, 0.002))
    response = _actual(rng, tokens)
    assert response.cost is not None
    used = {
        "requests": 1,
        "tokens": (response.usage.input_tokens or 0) + (response.usage.output_tokens or 0),
        "dollars": int(response.cost * NANO),
    }
    layer.store.adjust(
        [Charge(c.key, used[c.key.split(":")[1]], c.limit, c.expires_at) for c in charges],
        now=WALL,
    )
    return True


def _process(job: dict[str, Any], out: Any) -> None:
    """One process: ``job["threads"]`` threads and ``job["tasks"]`` asyncio tasks."""
    spec, limits, calls, seed = job["spec"], job["limits"], job["calls"], job["seed"]
    threads, tasks, naive = job["threads"], job["tasks"], job["naive"]
    layer = _layer(spec, limits)
    call = _naive_call if naive else _safe_call
    admitted = 0
    lock = threading.Lock()

    def worker(w: int) -> None:
        nonlocal admitted
        rng = random.Random(seed * 1000 + w)
        for i in range(calls):
            if call(layer, rng, i):
                with lock:
                    admitted += 1

    async def task(w: int) -> None:
        nonlocal admitted
        rng = random.Random(seed * 1000 + 500 + w)
        for i in range(calls):
            if await asyncio.to_thread(call, layer, rng, i):
                admitted += 1

    async def run_tasks() -> None:
        await asyncio.gather(*(task(w) for w in range(tasks)))

    pool = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    asyncio.run(run_tasks())
    for t in pool:
        t.join()
    out.put(admitted)


def race(spec: str, *, workers: int, processes: int, calls: int, naive: bool) -> dict[str, Any]:
    offered_tokens = workers * calls * _worst_tokens()
    limit_tokens = offered_tokens // 3
    worst_nano = int(_worst_cost() * NANO) + 1
    limit_dollars = Decimal(workers * calls * worst_nano // 3) / NANO
    limits = [
        QuotaLimit("account", "day", tokens=limit_tokens),
        QuotaLimit("account", "month", dollars=limit_dollars),
    ]
    _clear(spec)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    job = {"spec": spec, "limits": limits, "calls": calls, "naive": naive}
    split = [workers // processes + (1 if p < workers % processes else 0) for p in range(processes)]
    procs = []
    for p, n in enumerate(split):
        mine = job | {"threads": n - n // 2, "tasks": n // 2, "seed": p}
        procs.append(ctx.Process(target=_process, args=(mine, queue)))
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    admitted = sum(queue.get(timeout=600) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    elapsed = time.perf_counter() - t0
    layer = _layer(spec, limits)
    charges, metrics, *_ = layer.charges(_request(0), "openai", WALL)
    used = {m: layer.store.used(c.key, now=WALL) for c, m in zip(charges, metrics, strict=True)}
    return {
        "admitted": admitted,
        "offered": workers * calls,
        "tokens_used": used["tokens"],
        "tokens_limit": limit_tokens,
        "dollars_used": Decimal(used["dollars"]) / NANO,
        "dollars_limit": limit_dollars,
        "overshoot_tokens": max(0, used["tokens"] - limit_tokens),
        "overshoot_dollars": max(Decimal(0), Decimal(used["dollars"]) / NANO - limit_dollars),
        "seconds": elapsed,
    }


def _worst_tokens() -> int:
    layer = QuotaLayer([QuotaLimit("account", tokens=1)], SQLiteQuotaStore(":memory:"))
    return layer.charges(_request(0), "openai", WALL)[3]


def _worst_cost() -> Decimal:
    tokens = _worst_tokens()
    return ((tokens - MAX_TOKENS) * Decimal("2.50") + MAX_TOKENS * Decimal("10.00")) / Decimal(
        1_000_000
    )


def _clear(spec: str) -> None:
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(where + suffix).unlink(missing_ok=True)
        SQLiteQuotaStore(where).close()
    else:
        import redis

        client = redis.Redis.from_url(where)
        for k in client.scan_iter(match="llmkit-bench:quota:*"):
            client.delete(k)
        client.close()


def per_check_us(spec: str, n: int) -> float:
    """One worker: reserve + settle per call, µs (no limit is reached)."""
    _clear(spec)
    layer = _layer(spec, [QuotaLimit("account", "day", tokens=10**12)])
    rng = random.Random(0)
    request = _request(0)
    t0 = time.perf_counter()
    for _ in range(n):
        ticket = layer.reserve(request, "openai", WALL)
        layer.settle(ticket, _actual(rng, ticket.tokens), WALL)
    return (time.perf_counter() - t0) / n * 1e6


def incr_us(url: str, n: int) -> float:
    import redis

    client = redis.Redis.from_url(url)
    t0 = time.perf_counter()
    for _ in range(n):
        client.incr("llmkit-bench:incr")
    client.delete("llmkit-bench:incr")
    client.close()
    return (time.perf_counter() - t0) / n * 1e6


def _redis_url() -> tuple[str | None, subprocess.Popen[bytes] | None]:
    url = os.environ.get("LLMKIT_REDIS_URL")
    if url:
        return url, None
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    for _ in range(200):
        try:
            redis.Redis(port=port).ping()
            return f"redis://127.0.0.1:{port}/0", proc
        except redis.ConnectionError:
            time.sleep(0.025)
    proc.terminate()
    return None, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=12, help="calls offered per worker")
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--store", choices=["all", "sqlite", "redis"], default="all")
    ap.add_argument("--check-calls", type=int, default=2000, help="calls timed per store")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmkit-quota-race-"))
    stores: list[tuple[str, str]] = []
    if args.store in ("all", "sqlite"):
        stores.append(("SQLite", f"sqlite:{tmp / 'quota.db'}"))
    url, proc = (None, None)
    if args.store in ("all", "redis"):
        url, proc = _redis_url()
        if url is None:
            print("Redis: skipped (no LLMKIT_REDIS_URL and no redis-server on the PATH)")
        else:
            stores.append(("Redis", f"redis:{url}"))
    print(
        f"{args.workers} workers (half threads, half asyncio tasks) in {args.processes} "
        f"processes, {args.calls} calls offered each; limits = 1/3 of the offered load"
    )
    ok = True
    try:
        for name, spec in stores:
            for naive in (False, True):
                r = race(
                    spec,
                    workers=args.workers,
                    processes=args.processes,
                    calls=args.calls,
                    naive=naive,
                )
                label = "check-then-act (naive)" if naive else "reserve/settle"
                print(
                    f"  {name:6s} {label:23s} admitted {r['admitted']:4d} of {r['offered']}  "
                    f"tokens {r['tokens_used']:>8,} / {r['tokens_limit']:,}  "
                    f"dollars ${r['dollars_used']:.4f} / ${r['dollars_limit']:.4f}  "
                    f"overshoot {r['overshoot_tokens']} tokens, ${r['overshoot_dollars']:.4f}  "
                    f"({r['seconds']:.1f} s)"
                )
                if not naive and (r["overshoot_tokens"] or r["overshoot_dollars"]):
                    ok = False
        for name, spec in stores:
            us = per_check_us(spec, args.check_calls)
            print(f"  quota check (reserve + settle) on {name}: {us:.0f} µs per call")
        if url is not None:
            print(f"  raw Redis INCR round trip, same run: {incr_us(url, args.check_calls):.0f} µs")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS: zero overshoot" if ok else "FAIL: reserve/settle overshot")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
