"""The committed catalogue in cassettes/: provenance, no secrets, offline replay through
llmkit.Client on a virtual clock, and byte-identical re-recording."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmkit.cassettes import FaultStep, Replayer, ResponseStep, load_cassette
from llmkit.cassettes.catalogue import CATALOGUE, entries, find
from llmkit.cassettes.runner import record_entry, replay_cassette
from llmkit.cassettes.workload import request_from_data
from llmkit.clock import VirtualClock

ROOT = Path(__file__).resolve().parents[1] / "cassettes"
FILES = sorted(ROOT.rglob("*.yaml"))
IDS = [str(p.relative_to(ROOT)) for p in FILES]

KEY_LIKE = re.compile(
    r"sk-(?:proj-|ant-|or-v1-|svcacct-)?[A-Za-z0-9_\-]{8,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}"
    r"|(?i:x-api-key|api-key|authorization)\s*:\s*\S"
    r"|sim-placeholder"
)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No keys in the environment, and no connection beyond loopback."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    real_connect = socket.socket.connect
    real_create = socket.create_connection

    def loopback(host: Any) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"network access to {host!r} during a cassette test")

    def connect(sock: socket.socket, address: Any) -> Any:
        loopback(address[0] if isinstance(address, tuple) else address)
        return real_connect(sock, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        loopback(address[0])
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)


def test_catalogue_is_complete_and_committed() -> None:
    expected = {(g, e.name) for e, g in entries()}
    committed = {(p.parent.name, p.stem) for p in FILES}
    assert expected == committed
    names = {e.name for e in CATALOGUE}
    for required in (
        "success",
        "stream-success",
        "retry-after",
        "5xx-burst",
        "overloaded-529",
        "overloaded-503",
        "insufficient-quota",
        "context-length",
        "content-filter",
        "auth",
        "timeout-then-ok",
        "midstream-error",
        "ratelimit-drain",
        "fallback-pair",
        "repeated-prompt",
        "day-of-traffic",
    ):
        assert required in names
    groups = {g for _, g in entries()}
    assert groups == {*PROVIDER_GROUPS, "mixed", "openai-media"}
    # every provider holds every failure the simulator models for it; the only gaps are the
    # overload status each provider does not use (see the comment in catalogue.py) and the two
    # Anthropic-only wire facts (its billing_error type, a 500 marked x-should-retry: false)
    per = {g: {e.name for e, gg in entries(g)} for g in PROVIDER_GROUPS}
    anthropic_only = {"billing-error", "500-no-retry"}
    common = set(PROMISED) - {"overloaded-529", "overloaded-503"} - anthropic_only
    for g, names in per.items():
        assert common <= names, f"{g} lacks {sorted(common - names)}"
        assert ("overloaded-529" in names) == (g == "anthropic")
        assert ("overloaded-503" in names) == (g != "anthropic")
        assert (anthropic_only <= names) == (g == "anthropic")


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_committed_cassette_has_honest_provenance_and_no_secrets(path: Path) -> None:
    text = path.read_text()
    hit = KEY_LIKE.search(text)
    assert hit is None, f"key-like text in {path.name}: {hit.group(0)[:12]}..."
    loaded = load_cassette(path)
    prov = loaded.meta.provenance
    assert prov.source in ("simulator", "live")
    doc = yaml.safe_load(text)
    assert doc["llmkit"]["provenance"]["source"] == prov.source
    if prov.source == "simulator":
        assert prov.simulator_version
        assert prov.seed is not None
        assert not prov.is_live
        assert "recorded_on" not in doc["llmkit"]["provenance"]
        assert prov.transport == "http"  # make cassettes records over a real socket
        assert "llmkit-sim" not in text  # the virtual-time protocol's headers never leak
        # a simulator recording never points at a real provider host
        for item in doc["interactions"]:
            assert item["request"]["uri"].startswith("http://127.0.0.1/")
    else:
        assert prov.recorded_on


def _timeline(path: Path) -> tuple[ResponseStep | FaultStep, ...]:
    return load_cassette(path).meta.timeline


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_replays_offline_through_the_client_on_the_recorded_timeline(path: Path) -> None:
    meta = load_cassette(path).meta
    policy = "full" if "secondary" in meta.notes else "retry"
    clock = VirtualClock()
    summary = replay_cassette(path, policy=policy, strict=True, clock=clock)
    assert summary.calls == len(meta.calls)
    assert summary.attempts == len(meta.timeline)  # every recorded attempt, and no other
    assert summary.unplayed == 0
    assert summary.virtual_s == pytest.approx(meta.duration_s, rel=0.01, abs=0.01)
    assert clock.now() >= meta.duration_s - 0.01  # the recorded waits passed on the virtual clock
    assert summary.successes + sum(summary.errors.values()) == summary.calls


def test_scenarios_hold_what_their_names_promise() -> None:
    def steps(rel: str) -> Any:
        return _timeline(ROOT / rel)

    def doc(rel: str) -> Any:
        return yaml.safe_load((ROOT / rel).read_text())

    retry = doc("openai/retry-after.yaml")["interactions"]
    assert [i["response"]["status"]["code"] for i in retry] == [429, 429, 200]
    assert retry[0]["response"]["headers"]["retry-after"] == ["1"]
    gaps = [s.t_s for s in steps("openai/retry-after.yaml")]
    assert gaps[1] - gaps[0] >= 1.0  # the client waited out retry-after

    codes = [i["response"]["status"]["code"] for i in doc("openai/5xx-burst.yaml")["interactions"]]
    assert all(c >= 500 for c in codes[:3])
    assert codes[3] == 200
    assert [
        i["response"]["status"]["code"]
        for i in doc("anthropic/overloaded-529.yaml")["interactions"]
    ] == [529, 529, 200]
    assert (
        doc("openai/insufficient-quota.yaml")["interactions"][0]["response"]["parsed_body"][
            "error"
        ]["code"]
        == "insufficient_quota"
    )

    t = steps("openai/timeout-then-ok.yaml")
    assert isinstance(t[0], FaultStep)
    assert t[0].fault == "timeout"
    assert t[0].after_s == pytest.approx(10.0)
    assert isinstance(t[1], ResponseStep)

    drain = doc("openai/ratelimit-drain.yaml")["interactions"]
    remaining = [int(i["response"]["headers"]["x-ratelimit-remaining-requests"][0]) for i in drain]
    assert 0 in remaining
    assert remaining[:5] == sorted(remaining[:5], reverse=True)
    assert 429 in [i["response"]["status"]["code"] for i in drain]

    mid = doc("openai/midstream-error.yaml")["interactions"]
    assert mid[0]["response"]["status"]["code"] == 200
    assert '"error"' in mid[0]["response"]["body"]

    pair = doc("mixed/fallback-pair.yaml")["interactions"]
    paths = {
        (i["request"]["uri"].split("127.0.0.1")[1], i["response"]["status"]["code"]) for i in pair
    }
    assert ("/v1/chat/completions", 503) in paths
    assert ("/v1/messages", 200) in paths

    rep = load_cassette(ROOT / "openai/repeated-prompt.yaml").meta.calls
    prompts = [c.request["messages"][0]["content"] for c in rep]
    assert len(prompts) > len(set(prompts)) > 1

    day = load_cassette(ROOT / "mixed/day-of-traffic.yaml").meta
    assert len(day.calls) >= 300
    assert len({c.request["model"] for c in day.calls}) >= 4
    assert {c.provider for c in day.calls} == {"openai", "anthropic"}
    assert any(isinstance(s, FaultStep) for s in day.timeline)
    lat = sorted(s.latency_s for s in day.timeline if isinstance(s, ResponseStep))
    assert lat[-1] > 3 * lat[len(lat) // 2]  # a tail worth charting
    assert day.duration_s > 3600


PROVIDER_GROUPS = ("openai", "openai-responses", "anthropic", "openrouter", "gemini", "azure")

# What each per-provider entry promises, replayed: (error kind of the first attempt, or None
# for a success; whether the retrying client ends in success).
PROMISED: dict[str, tuple[str | None, bool]] = {
    "success": (None, True),
    "stream-success": (None, True),
    "retry-after": ("rate_limit", True),
    "5xx-burst": ("server_error", True),
    "overloaded-529": ("overloaded", True),
    "overloaded-503": ("overloaded", True),
    "insufficient-quota": ("quota_exhausted", False),
    "billing-error": ("quota_exhausted", False),
    # a 500 is retryable, unless the provider's x-should-retry: false says otherwise
    "500-no-retry": ("server_error", False),
    "context-length": ("context_length", False),
    "content-filter": ("content_filter", False),
    "auth": ("auth", False),
    "timeout-then-ok": ("timeout", True),
    # Anthropic's in-stream error event is an overloaded_error; the others' is a server error
    "midstream-error": ("server_error", True),
    "ratelimit-drain": (None, True),
    "repeated-prompt": (None, True),
}

PER_PROVIDER = [(g, e.name) for e, g in entries() if g in PROVIDER_GROUPS]


@pytest.mark.parametrize(("group", "name"), PER_PROVIDER, ids=[f"{g}/{n}" for g, n in PER_PROVIDER])
def test_each_cassette_classifies_as_its_name_says(group: str, name: str) -> None:
    path = ROOT / group / f"{name}.yaml"
    kind, recovers = PROMISED[name]
    if name == "midstream-error" and group == "anthropic":
        kind = "overloaded"
    doc = yaml.safe_load(path.read_text())
    codes = [i["response"]["status"]["code"] for i in doc["interactions"]]
    if name == "5xx-burst" and codes[0] == 503:  # the seeded mix may open with a 503
        kind = "overloaded"
    first = replay_cassette(path, policy="naive")
    if name == "ratelimit-drain":  # without retries, the drained calls stay 429s
        assert set(first.errors) == {"rate_limit"}
        assert first.successes >= 1
    elif kind is None:
        assert first.errors == {}
        assert first.successes == first.calls
    else:
        assert first.errors == {kind: 1}, first.errors
    full = replay_cassette(path, policy="retry")
    assert (full.successes == full.calls) is recovers
    if not recovers:
        assert full.attempts == 1  # a permanent error is never retried
        assert full.errors == {kind: 1}
    if name == "overloaded-503":
        assert codes == [503, 503, 200]
    if name == "content-filter":  # Gemini blocks a prompt with a 200 and no candidates
        assert codes == [{"openrouter": 403, "gemini": 200}.get(group, 400)]
    if name == "insufficient-quota":
        assert codes == [{"openrouter": 402, "anthropic": 400}.get(group, 429)]
    if name == "midstream-error":
        assert codes[0] == 200
        assert "error" in doc["interactions"][0]["response"]["body"]
    if name == "ratelimit-drain":
        assert 429 in codes
        head = {"anthropic": "anthropic-ratelimit-requests-remaining"}.get(
            group, "x-ratelimit-remaining-requests"
        )
        if group == "openrouter":  # OpenRouter sends its x-ratelimit-* only on the 429
            head = "x-ratelimit-remaining"
        if group == "gemini":  # Gemini sends no rate-limit headers at all
            assert not any(
                k.startswith("x-ratelimit")
                for i in doc["interactions"]
                for k in i["response"]["headers"]
            )
            return
        left = [
            int(i["response"]["headers"][head][0])
            for i in doc["interactions"]
            if head in i["response"]["headers"]
        ]
        if group == "openrouter":
            assert left == [0] * codes.count(429)
        else:
            assert len(left) == len(codes)
            assert 0 in left
            assert left[:5] == sorted(left[:5], reverse=True)
    if name == "repeated-prompt":
        prompts = [c.request["messages"][0]["content"] for c in load_cassette(path).meta.calls]
        assert len(prompts) > len(set(prompts)) > 1


def test_naive_policy_leaves_retries_unplayed_and_reports_errors() -> None:
    s = replay_cassette(ROOT / "openai/retry-after.yaml", policy="naive")
    assert (s.calls, s.attempts, s.successes, s.unplayed) == (1, 1, 0, 2)
    assert s.errors == {"rate_limit": 1}


def test_async_client_replays_a_stream_with_ttft() -> None:
    from llmkit.client import AsyncClient

    path = ROOT / "anthropic/stream-success.yaml"
    meta = load_cassette(path).meta
    step = meta.timeline[0]
    assert isinstance(step, ResponseStep)
    assert step.ttft_s is not None

    async def go() -> Any:
        clock = VirtualClock()
        with Replayer(path, clock=clock) as r:
            async with AsyncClient(
                "anthropic",
                transport=r.async_transport(),
                clock=clock,
                base_url="http://127.0.0.1",
                retry=False,
            ) as client:
                resp = await client.send(request_from_data(meta.calls[0].request))
        return resp, clock.now()

    resp, now = asyncio.run(go())
    assert resp.text
    assert now == pytest.approx(step.latency_s, abs=1e-3)
    assert resp.ttft is not None
    assert step.ttft_s <= resp.ttft < step.latency_s


def test_recording_is_byte_identical(tmp_path: Path) -> None:
    ((entry, group),) = find("retry-after", "anthropic")
    one = record_entry(entry, group, tmp_path / "one.yaml")
    two = record_entry(entry, group, tmp_path / "two.yaml")
    assert one.read_bytes() == two.read_bytes()
    # and a committed cassette is exactly what the catalogue records today
    ((entry, group),) = find("midstream-error", "openai")
    again = record_entry(entry, group, tmp_path / "again.yaml")
    assert again.read_bytes() == (ROOT / "openai/midstream-error.yaml").read_bytes()
    # a different seed is a different recording, and says so
    other = record_entry(entry, group, tmp_path / "seed.yaml", seed=99)
    assert other.read_bytes() != again.read_bytes()
    assert load_cassette(other).meta.provenance.seed == 99
