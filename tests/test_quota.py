"""Quotas: reserve then settle, per tag and window, on memory, SQLite and Redis stores."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import llmkit
from llmkit.clock import VirtualClock
from llmkit.errors import ErrorKind, OverQuotaError, QuotaUnavailableError
from llmkit.prices import ModelRates, PriceBook
from llmkit.quota import (
    Charge,
    MemoryQuotaStore,
    QuotaLayer,
    QuotaLimit,
    QuotaStore,
    RedisQuotaStore,
    SQLiteQuotaStore,
    window_bounds,
)
from llmkit.telemetry import MemorySink
from llmkit.testing import Scripted, ScriptedTransport

JAN_2026 = 1_767_225_600.0


def _ok(input_tokens: int = 30, output_tokens: int = 10) -> dict[str, object]:
    return {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens},
    }  # fmt: skip


def _client(layer: QuotaLayer, steps: list[Scripted] | None = None, **kw: object) -> llmkit.Client:
    clock = VirtualClock(start=JAN_2026)
    transport = ScriptedTransport(clock, steps or [Scripted(json=_ok())])
    return llmkit.Client("openai", api_key="k", transport=transport, clock=clock,
                         layers=[layer], retry=False, **kw)  # type: ignore[arg-type]  # fmt: skip


def _call(client: llmkit.Client, job: str = "j1", account: str = "acme") -> llmkit.ChatResponse:
    return client.chat(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=50,
                       tags={"job": job, "account": account})  # fmt: skip


# --------------------------------------------------------------------------- windows, limits


def test_windows_are_calendar_windows_in_utc() -> None:
    assert window_bounds("minute", JAN_2026 + 61.5) == (int(JAN_2026) + 60, JAN_2026 + 120)
    assert window_bounds("day", JAN_2026 + 3600) == (int(JAN_2026), JAN_2026 + 86400)
    start, end = window_bounds("month", JAN_2026 + 86400 * 40)  # 2026-02-10
    assert end is not None
    assert end - start == 28 * 86400
    assert window_bounds("lifetime", JAN_2026) == (0, None)


def test_limit_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="needs requests"):
        QuotaLimit("account")
    with pytest.raises(ValueError, match="unknown window"):
        QuotaLimit("account", "week", tokens=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative"):
        QuotaLimit("account", tokens=-1)


# --------------------------------------------------------------------------- the layer


def test_reserve_then_settle_charges_what_was_used() -> None:
    store = MemoryQuotaStore()
    layer = QuotaLayer([QuotaLimit("job", "lifetime", tokens=10_000)], store)
    client = _client(layer)
    _call(client)
    (key,) = store._data
    assert store.used(key, now=JAN_2026) == 40  # 30 in + 10 out, not the 50-token reservation


def test_refused_call_names_the_limit_usage_and_when_it_frees() -> None:
    store = MemoryQuotaStore()
    layer = QuotaLayer([QuotaLimit("account", "day", requests=2)], store)
    client = _client(layer)
    _call(client)
    _call(client)
    with pytest.raises(OverQuotaError) as info:
        _call(client)
    err = info.value
    assert err.kind is ErrorKind.OVER_QUOTA
    assert not err.retryable
    assert err.code == "account=acme:requests/day"
    assert (err.used, err.limit) == (2, 2)
    assert err.retry_after == pytest.approx(86400, abs=1)
    assert "2 of 2 requests used" in str(err)
    _call(client, account="other")  # another account has its own counter


def test_several_limits_at_once_and_only_matching_tags() -> None:
    store = MemoryQuotaStore()
    limits = [QuotaLimit("job", "lifetime", tokens=100), QuotaLimit("account", "day", tokens=10**6)]
    client = _client(QuotaLayer(limits, store))
    _call(client, job="runaway")
    _call(client, job="runaway")
    with pytest.raises(OverQuotaError, match="job=runaway:tokens/lifetime"):
        _call(client, job="runaway")  # 80 used + up to ~60 > 100
    # The refused call reserved nothing anywhere (all-or-nothing across limits).
    acct = next(k for k in store._data if k.startswith("account="))
    assert store.used(acct, now=JAN_2026) == 80
    untagged = client.chat(model="m", messages=[{"role": "user", "content": "hi"}])
    assert untagged.text == "ok"  # no tag, no limit applies


def test_failed_call_gives_the_reservation_back() -> None:
    store = MemoryQuotaStore()
    layer = QuotaLayer([QuotaLimit("job", "lifetime", requests=5, tokens=1000)], store)
    client = _client(layer, [Scripted(status=500, json={"error": {"message": "boom"}})])
    with pytest.raises(llmkit.ServerError):
        _call(client)
    assert all(store.used(k, now=JAN_2026) == 0 for k in store._data)


def test_dollar_quota_reserves_the_priced_worst_case() -> None:
    store = MemoryQuotaStore()
    book = PriceBook({"m": ModelRates(input=Decimal(1000), output=Decimal(1000))})
    layer = QuotaLayer([QuotaLimit("account", "month", dollars=Decimal("0.1"))], store,
                       prices=book)  # fmt: skip
    client = _client(layer, prices=book)
    reply = _call(client)
    assert reply.cost == Decimal("0.04")  # 40 tokens at $1000/M
    (key,) = store._data
    assert store.used(key, now=JAN_2026) == 40_000_000  # nano-dollars: the actual cost
    _call(client)
    with pytest.raises(OverQuotaError, match=r"\$0.080000 of \$0.100000"):
        _call(client)


def test_store_down_fails_closed_by_default_and_open_on_request(tmp_path: Path) -> None:
    class Down:
        def reserve(self, charges: object, *, now: float) -> None:
            raise QuotaUnavailableError("store down")

        adjust = reserve

        def used(self, key: str, *, now: float) -> int:
            raise QuotaUnavailableError("store down")

    limits = [QuotaLimit("account", tokens=10)]
    sink = MemorySink()
    closed = _client(QuotaLayer(limits, Down()), telemetry=sink)
    with pytest.raises(QuotaUnavailableError) as info:
        _call(closed)
    assert not info.value.retryable
    assert sink.calls()[0].as_dict()["llmkit.quota.decision"] == "store_unavailable"
    sink.clear()
    opened = _client(QuotaLayer(limits, Down(), fail_open=True), telemetry=sink)
    assert _call(opened).text == "ok"
    assert [e.event for e in sink.events()] == ["quota.store_unavailable"]
    assert sink.calls()[0].as_dict()["llmkit.quota.decision"] == "fail_open"


def test_telemetry_columns_and_async_driver() -> None:
    store = MemoryQuotaStore()
    layer = QuotaLayer([QuotaLimit("job", "lifetime", tokens=1000)], store)
    clock = VirtualClock(start=JAN_2026)
    transport = ScriptedTransport(clock, [Scripted(json=_ok())])
    sink = MemorySink()

    async def run() -> None:
        async with llmkit.AsyncClient("openai", api_key="k", transport=transport, clock=clock,
                                      layers=[layer], telemetry=sink) as client:  # fmt: skip
            await client.chat(model="m", messages=[{"role": "user", "content": "hi"}],
                              max_tokens=50, tags={"job": "a"})  # fmt: skip

    asyncio.run(run())
    row = sink.calls()[0].as_dict()
    assert row["llmkit.quota.decision"] == "admitted"
    assert row["llmkit.quota.charged_tokens"] == 40
    assert row["llmkit.quota.reserved_tokens"] > 50


def test_delivered_stream_settles_at_its_end() -> None:
    events = [
        {"choices": [{"index": 0, "delta": {"content": "hi"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}},
    ]
    chunks = [f"data: {json.dumps({'id': 'c', 'model': 'm', **e})}\n\n".encode() for e in events]
    chunks.append(b"data: [DONE]\n\n")
    store = MemoryQuotaStore()
    client = _client(QuotaLayer([QuotaLimit("job", "lifetime", tokens=1000)], store),
                     [Scripted(chunks=chunks)])  # fmt: skip
    with client.stream(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=50,
                       tags={"job": "s"}) as stream:  # fmt: skip
        (key,) = store._data
        assert store.used(key, now=JAN_2026) > 50  # reserved while the stream runs
        list(stream)
    assert store.used(key, now=JAN_2026) == 10


def _anthropic_sse(*events: dict[str, object]) -> list[bytes]:
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


START = {"type": "message_start", "message": {"id": "m1", "type": "message", "role": "assistant",
         "model": "claude-3-5-haiku-latest", "content": [],
         "usage": {"input_tokens": 120, "output_tokens": 1}}}  # fmt: skip
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def _words(n: int) -> list[dict[str, object]]:
    head = [{"type": "content_block_start", "index": 0,
             "content_block": {"type": "text", "text": ""}}]  # fmt: skip
    return head + [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " w"}}
        for _ in range(n)
    ]


def test_a_retried_stream_is_charged_for_both_attempts() -> None:
    # Attempt 1: the provider reports 120 input tokens, then fails before any content; the
    # retry answers. Both were billed: the quota and the call's cost count both.
    done = [{"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
             "usage": {"output_tokens": 5}},
            {"type": "message_stop"}]  # fmt: skip
    steps = [Scripted(chunks=_anthropic_sse(START, OVERLOADED)),
             Scripted(chunks=_anthropic_sse(START, *_words(5), *done))]  # fmt: skip
    clock = VirtualClock(start=JAN_2026)
    store, sink = MemoryQuotaStore(), MemorySink()
    prices = PriceBook({"claude-3-5-haiku-latest": ModelRates(input=Decimal(1), output=Decimal(5))})
    client = llmkit.Client("anthropic", api_key="k", transport=ScriptedTransport(clock, steps),
                           clock=clock, telemetry=sink, prices=prices,
                           layers=[QuotaLayer([QuotaLimit("job", "lifetime", tokens=10_000)],
                                              store, prices=prices)])  # fmt: skip
    with client.stream(model="claude-3-5-haiku-latest", max_tokens=50, tags={"job": "r"},
                       messages=[{"role": "user", "content": "hi"}]) as stream:  # fmt: skip
        answer = stream.get_final_response()
    assert answer.usage.total_tokens == 125
    (key,) = store._data
    assert store.used(key, now=JAN_2026) == 121 + 125  # the failed attempt's reported usage too
    first, second = sink.attempts()
    assert (first.error_type, first.input_tokens, first.usage_source) == ("overloaded", 120,
                                                                          "partial")  # fmt: skip
    assert second.usage_source == "answer"
    (call,) = sink.calls()
    assert first.cost is not None
    assert second.cost is not None
    assert call.cost == pytest.approx(first.cost + second.cost)
    assert call.input_tokens == 120  # the call's counts are its answer's


def test_events_before_a_failure_reach_the_reader_then_the_error() -> None:
    # The second network chunk holds 4 more words and the error event: the reader gets all 7
    # words first. (Had the error come before any content, the attempt would be retried.)
    events = _anthropic_sse(START, *_words(7), OVERLOADED)
    body = [b"".join(events[:4]), b"".join(events[4:])]
    clock = VirtualClock(start=JAN_2026)
    transport = ScriptedTransport(clock, [Scripted(chunks=body)])
    client = llmkit.Client("anthropic", api_key="k", clock=clock, retry=False, transport=transport)
    seen: list[str] = []
    stream = client.stream(model="claude-3-5-haiku-latest", max_tokens=50,
                           messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    with pytest.raises(llmkit.LLMError) as caught:
        seen.extend(ev.text or "" for ev in stream if ev.type == "text")
    assert caught.value.kind is ErrorKind.OVERLOADED
    assert "".join(seen) == " w" * 7
    assert stream.partial is not None
    assert stream.partial.usage.input_tokens == 120
    assert stream.partial.usage.output_tokens == 7


def test_a_cache_hit_below_the_quota_costs_nothing() -> None:
    store = MemoryQuotaStore()
    quota = QuotaLayer([QuotaLimit("job", "lifetime", tokens=1000, requests=10)], store)
    clock = VirtualClock(start=JAN_2026)
    cache = llmkit.CacheLayer(llmkit.MemoryCache(clock=clock))
    transport = ScriptedTransport(clock, [Scripted(json=_ok(30, 10))])
    client = llmkit.Client("openai", api_key="k", clock=clock, retry=False, layers=[quota, cache],
                           transport=transport)  # fmt: skip

    def ask() -> llmkit.ChatResponse:
        return client.chat(model="m", messages=[{"role": "user", "content": "hi"}],
                           max_tokens=50, temperature=0, tags={"job": "c"})  # fmt: skip

    ask()
    keys = sorted(store._data)
    assert [store.used(k, now=JAN_2026) for k in keys] == [1, 40]  # requests, tokens
    hit = ask()
    assert hit.cached
    assert [store.used(k, now=JAN_2026) for k in keys] == [1, 40]  # nothing asked of the provider


# --------------------------------------------------------------------------- stores, concurrency


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteQuotaStore]:
    store = SQLiteQuotaStore(tmp_path / "quota.db")
    yield store
    store.close()


@pytest.fixture
def redis_store(redis_url: str, request: pytest.FixtureRequest) -> Iterator[RedisQuotaStore]:
    store = RedisQuotaStore(redis_url, prefix=f"llmkit-test:quota:{request.node.name}:")
    for k in store.client.scan_iter(match=store.prefix + "*"):
        store.client.delete(k)
    yield store
    for k in store.client.scan_iter(match=store.prefix + "*"):
        store.client.delete(k)
    store.close()


def _contract(store: QuotaStore) -> None:
    now = JAN_2026
    a, b = Charge("a", 6, 10, now + 60), Charge("b", 6, 8, now + 60)
    assert store.reserve([a, b], now=now) is None
    refused = store.reserve([a, b], now=now)
    assert refused is not None
    assert (refused.index, refused.used) == (0, 6)
    assert store.used("a", now=now) == 6  # all or nothing
    assert store.used("b", now=now) == 6
    store.adjust([Charge("a", -4, 10, now + 60)], now=now)
    assert store.used("a", now=now) == 2


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_store_contract(kind: str, tmp_path: Path) -> None:
    store: QuotaStore = (
        MemoryQuotaStore() if kind == "memory" else SQLiteQuotaStore(tmp_path / "q.db")
    )
    _contract(store)


@pytest.mark.redis
def test_redis_store_contract(redis_store: RedisQuotaStore) -> None:
    _contract(redis_store)


def _hammer(store: QuotaStore, workers: int, per_worker: int, limit: int) -> int:
    admitted = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal admitted
        for _ in range(per_worker):
            if store.reserve([Charge("race", 7, limit, None)], now=JAN_2026) is None:
                with lock:
                    admitted += 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return admitted


def test_sqlite_threads_never_overshoot(sqlite_store: SQLiteQuotaStore) -> None:
    admitted = _hammer(sqlite_store, workers=16, per_worker=20, limit=700)  # 3x over
    assert admitted == 100
    assert sqlite_store.used("race", now=JAN_2026) == 700


def _process_worker(path: str, n: int) -> None:
    store = SQLiteQuotaStore(path)
    for _ in range(n):
        store.reserve([Charge("race", 7, 700, None)], now=JAN_2026)
    store.close()


def test_sqlite_processes_never_overshoot(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    SQLiteQuotaStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_worker, args=(path, 80)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert SQLiteQuotaStore(path).used("race", now=JAN_2026) == 700


@pytest.mark.redis
def test_redis_threads_never_overshoot(redis_store: RedisQuotaStore) -> None:
    admitted = _hammer(redis_store, workers=16, per_worker=20, limit=700)
    assert admitted == 100
    assert redis_store.used("race", now=JAN_2026) == 700


@pytest.mark.redis
def test_redis_unreachable_is_typed_and_keeps_the_password_out() -> None:
    dead = RedisQuotaStore("redis://:hunter2@127.0.0.1:1/0", socket_timeout=0.2)
    with pytest.raises(QuotaUnavailableError) as info:
        dead.reserve([Charge("k", 1, 1, None)], now=JAN_2026)
    assert "hunter2" not in str(info.value)


def test_quota_race_benchmark_small_run() -> None:
    """The benchmark in a small mode (figures printed, not judged here; zero overshoot is)."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "quota_race.py"
    cmd = [sys.executable, str(script), "--calls", "2", "--workers", "8", "--processes", "2",
           "--store", "sqlite", "--check-calls", "20"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)  # noqa: S603
    assert out.returncode == 0, out.stdout + out.stderr
    safe = next(ln for ln in out.stdout.splitlines() if "reserve/settle" in ln)
    assert "overshoot 0 tokens, $0.0000" in safe
    assert "check-then-act (naive)" in out.stdout
    assert "µs per call" in out.stdout
