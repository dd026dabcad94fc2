"""The cassette file format, scrubbing, matching, provenance and replay, against a tiny local
HTTP server (no simulator, no client): vcrpy mechanics only."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from llmkit.cassettes import (
    FaultStep,
    Provenance,
    Recorder,
    Replayer,
    ResponseStep,
    SimBridge,
    load_cassette,
)
from llmkit.cassettes.matching import comparable_body, request_key
from llmkit.clock import VirtualClock
from llmkit.errors import (
    CassetteMismatchError,
    CassetteNotFoundError,
    CorruptCassetteError,
    InvalidResponseError,
    UnplayedInteractionsError,
)

KEY = "sk-proj-abcdefghijklmnop1234567890"
SSE = (
    'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n'
    'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n'
    "data: [DONE]\n\n"
)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        model = body.get("model")
        if model == "slow":
            time.sleep(1.0)
        self.send_response(429 if model == "limited" else 200)
        self.send_header("set-cookie", "session=secret")
        self.send_header("openai-organization", "org-secret")
        self.send_header("openai-project", "proj_secret")
        self.send_header("x-request-id", "req_123")
        self.send_header("x-ratelimit-remaining-requests", "59")
        self.send_header("retry-after", "1")
        if body.get("stream"):
            payload = SSE.encode()
            self.send_header("content-type", "text/event-stream")
        else:
            payload = json.dumps(
                {
                    "id": "c1",
                    "model": model,
                    "echo": f"your key {KEY}",
                    "choices": [{"message": {"content": "hi\nthere"}}],
                }
            ).encode()
            self.send_header("content-type", "application/json")
            if model == "gzip":
                payload = gzip.compress(payload)
                self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(payload)))
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left, as the test intends


@pytest.fixture
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection beyond 127.0.0.1 fails the test."""
    real = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"test tried to reach {host}")
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


PROV = Provenance("simulator", "openai", "unit", "0.1.0", simulator_version="test", seed=1)


def _chat(model: str, *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Say hi"}],
        "stream": stream,
        **extra,
    }


def _record(path: Path, base: str, bodies: list[dict[str, Any]], **kw: Any) -> None:
    with Recorder(path, PROV) as rec, httpx.Client(transport=rec.transport(), **kw) as http:
        for b in bodies:
            with rec.call("openai", b), contextlib.suppress(httpx.TimeoutException):
                http.post(
                    f"{base}/v1/chat/completions",
                    json=b,
                    headers={"authorization": f"Bearer {KEY}", "x-api-key": KEY},
                )


def test_file_is_readable_scrubbed_and_has_provenance(server: str, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    _record(path, server, [_chat("m1"), _chat("m1", stream=True), _chat("gzip")])
    text = path.read_text()
    assert text.startswith("llmkit:")
    assert KEY not in text
    assert "Bearer" not in text
    for gone in (
        "set-cookie",
        "openai-organization",
        "openai-project",
        "org-secret",
        "authorization",
        "x-api-key",
        "content-length",
        "content-encoding",
    ):
        assert gone not in text, gone
    doc = yaml.safe_load(text)
    first = doc["interactions"][0]
    assert first["request"]["parsed_body"]["model"] == "m1"  # a mapping, not a string
    assert first["response"]["parsed_body"]["echo"] == "your key [REDACTED]"
    assert first["response"]["headers"]["x-ratelimit-remaining-requests"] == ["59"]
    assert first["response"]["headers"]["x-request-id"] == ["req_123"]
    assert first["response"]["headers"]["retry-after"] == ["1"]
    assert doc["interactions"][1]["response"]["body"] == SSE  # readable block text
    assert "body: |" in text
    assert 'data: {"choices"' in text
    assert doc["interactions"][2]["response"]["parsed_body"]["model"] == "gzip"  # decompressed
    assert doc["interactions"][0]["request"]["uri"] == "http://127.0.0.1/v1/chat/completions"
    loaded = load_cassette(path)
    assert loaded.meta.provenance.source == "simulator"
    assert not loaded.meta.provenance.is_live
    plain, sse, _gz = loaded.meta.timeline
    assert isinstance(plain, ResponseStep)
    assert isinstance(sse, ResponseStep)
    assert sse.ttft_s is not None  # SSE: time to first byte
    assert plain.ttft_s is None


def test_replay_is_offline_and_matches_on_body(server: str, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    _record(path, server, [_chat("m1"), _chat("m2", stream=True)])
    clock = VirtualClock()
    # Another host and port: matching ignores them, and nothing is listening there.
    with Replayer(path, clock=clock) as r, httpx.Client(transport=r.transport()) as http:
        # volatile fields (user, seed, stream_options, metadata) do not change the match
        b = http.post(
            "http://127.0.0.1:9/v1/chat/completions",
            json=_chat("m2", stream=True, user="u9", seed=3),
        )
        a = http.post("http://127.0.0.1:9/v1/chat/completions", json=_chat("m1"))
    assert a.json()["model"] == "m1"
    assert b.text == SSE
    assert b.headers["content-type"] == "text/event-stream"


def test_missing_request_and_unplayed_interactions_fail_clearly(
    server: str, tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    _record(path, server, [_chat("m1"), _chat("m1")])
    with pytest.raises(CassetteMismatchError) as info:
        _replay_posts(path, [_chat("other-model")])
    err = info.value
    assert isinstance(err, InvalidResponseError)
    assert isinstance(err, ValueError)
    assert "c.yaml" in str(err)
    assert "other-model" in str(err)
    assert "/v1/chat/completions" in str(err)
    # asking for the same request more often than recorded
    with pytest.raises(CassetteMismatchError, match="already played"):
        _replay_posts(path, [_chat("m1")] * 3)
    # playing fewer than recorded, strictly
    with pytest.raises(UnplayedInteractionsError, match="1 recorded interaction"):
        _replay_posts(path, [_chat("m1")], strict=True)
    _replay_posts(path, [_chat("m1")])  # not strictly: fine


def _replay_posts(path: Path, bodies: list[dict[str, Any]], *, strict: bool = False) -> None:
    with (
        Replayer(path, clock=VirtualClock(), strict=strict) as r,
        httpx.Client(transport=r.transport()) as http,
    ):
        for b in bodies:
            http.post("http://x.invalid/v1/chat/completions", json=b)


def test_timeout_is_kept_in_the_timeline_and_raised_on_replay(server: str, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    _record(path, server, [_chat("slow"), _chat("m1")], timeout=0.2)
    meta = load_cassette(path).meta
    fault, _ok = meta.timeline
    assert isinstance(fault, FaultStep)
    assert fault.fault == "timeout"
    assert 0.15 < fault.after_s < 0.9
    assert len(load_cassette(path).interactions) == 1  # vcrpy stored only the response
    clock = VirtualClock()
    started = time.monotonic()
    with Replayer(path, clock=clock) as r, httpx.Client(transport=r.transport()) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.post("http://x.invalid/v1/chat/completions", json=_chat("slow"))
        assert clock.now() == pytest.approx(fault.after_s, abs=1e-3)
        http.post("http://x.invalid/v1/chat/completions", json=_chat("m1"))
    assert clock.now() == pytest.approx(meta.duration_s - fault.t_s, abs=1e-3)
    assert time.monotonic() - started < 0.5


class _Deterministic(httpx.BaseTransport):
    """An in-process 'server' that sleeps on a virtual clock (stands in for SimTransport)."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.read())
        self.clock.sleep(0.25)
        if body.get("stream"):

            def chunks() -> Iterator[bytes]:
                for block in SSE.split("\n\n")[:-1]:
                    yield (block + "\n\n").encode()
                    self.clock.sleep(0.1)

            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, stream=_Iter(chunks())
            )
        self.clock.sleep(0.5)
        return httpx.Response(200, json={"model": body["model"], "n": 1})


class _Iter(httpx.SyncByteStream):
    def __init__(self, it: Iterator[bytes]) -> None:
        self._it = it

    def __iter__(self) -> Iterator[bytes]:
        return self._it


def _record_inprocess(path: Path) -> None:
    clock = VirtualClock()
    with Recorder(path, PROV, clock=clock) as rec:
        transport = rec.transport(SimBridge(_Deterministic(clock), clock))
        with httpx.Client(transport=transport) as http:
            for i, b in enumerate([_chat("a"), _chat("b", stream=True), _chat("a")]):
                clock.set(i * 2.0)
                with rec.call("openai", b):
                    http.post("http://127.0.0.1:1/v1/chat/completions", json=b)


def test_inprocess_recording_is_exact_and_byte_identical(tmp_path: Path) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    _record_inprocess(one)
    _record_inprocess(two)
    assert one.read_bytes() == two.read_bytes()
    steps = load_cassette(one).meta.timeline
    assert [(s.t_s, s.latency_s, s.ttft_s) for s in steps] == [  # type: ignore[union-attr]
        (0.0, 0.75, None),
        (2.0, 0.55, 0.25),
        (4.0, 0.75, None),
    ]
    # replay reproduces the timeline on a virtual clock, TTFT included
    clock = VirtualClock()
    seen: list[float] = []
    with Replayer(one, clock=clock) as r, httpx.Client(transport=r.transport()) as http:
        http.post("http://h/v1/chat/completions", json=_chat("a"))
        with http.stream(
            "POST", "http://h/v1/chat/completions", json=_chat("b", stream=True)
        ) as resp:
            t0 = 2.0
            for _ in resp.iter_bytes():
                seen.append(clock.now() - t0)
        http.post("http://h/v1/chat/completions", json=_chat("a"))
    assert seen[0] == pytest.approx(0.25)
    assert seen[-1] == pytest.approx(0.55)
    assert clock.now() == pytest.approx(4.75)


def test_async_replay(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "c.yaml"
    _record_inprocess(path)

    async def go() -> list[Any]:
        clock = VirtualClock()
        with Replayer(path, clock=clock) as r:
            async with httpx.AsyncClient(transport=r.async_transport()) as http:
                out = [
                    (await http.post("http://h/v1/chat/completions", json=_chat("a"))).json(),
                    (
                        await http.post(
                            "http://h/v1/chat/completions", json=_chat("b", stream=True)
                        )
                    ).text,
                    (await http.post("http://h/v1/chat/completions", json=_chat("a"))).json(),
                ]
        assert clock.now() == pytest.approx(4.75)
        return out

    out = asyncio.run(go())
    assert out[0]["model"] == "a"
    assert out[1] == SSE


def test_vcrpy_itself_loads_the_file(tmp_path: Path) -> None:
    """Our extra top-level keys do not stop vcrpy 9.x from loading and playing the file."""
    from llmkit.cassettes.vcrconf import make_vcr

    path = tmp_path / "c.yaml"
    _record_inprocess(path)
    with make_vcr().use_cassette(str(path), record_mode="none") as cass:
        assert len(cass) == 3
        assert cass.get_metadata("llmkit", None)["provenance"]["seed"] == 1
        with httpx.Client(transport=httpx.HTTPTransport()) as http:
            resp = http.post("http://h/v1/chat/completions", json=_chat("b", stream=True))
        assert resp.text == SSE


def test_match_key_ignores_volatile_fields() -> None:
    base = json.dumps(_chat("m")).encode()
    noisy = json.dumps(
        _chat("m", user="x", seed=1, metadata={"a": 1}, stream_options={"include_usage": True})
    ).encode()
    assert comparable_body(base) == comparable_body(noisy)
    assert request_key("POST", "/v1/x", base) == request_key("post", "/v1/x", noisy)
    assert request_key("POST", "/v1/x", base) != request_key("POST", "/v1/y", base)
    other = json.dumps(_chat("m", temperature=0.5)).encode()
    assert request_key("POST", "/v1/x", base) != request_key("POST", "/v1/x", other)


# --------------------------------------------------------------------------- corrupt files


def _good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    _record_inprocess(path)
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: "{{{ not yaml", "not valid YAML"),
        (lambda d: "just a string", "YAML mapping"),
        (lambda d: {**d, "version": 7}, "version"),
        (lambda d: {k: v for k, v in d.items() if k != "llmkit"}, "no llmkit section"),
        (lambda d: {k: v for k, v in d.items() if k != "interactions"}, "interactions"),
        (
            lambda d: {**d, "llmkit": {**d["llmkit"], "timeline": d["llmkit"]["timeline"][:1]}},
            "timeline covers 1 of 3",
        ),
        (
            lambda d: {
                **d,
                "llmkit": {
                    **d["llmkit"],
                    "provenance": {**d["llmkit"]["provenance"], "seed": None},
                },
            },
            "simulator_version and seed",
        ),
        (
            lambda d: {
                **d,
                "llmkit": {
                    **d["llmkit"],
                    "provenance": {**d["llmkit"]["provenance"], "source": "live"},
                },
            },
            "recorded_on",
        ),
        (lambda d: {**d, "interactions": [{"request": {"method": "POST"}}]}, r"interactions\[0\]"),
        (lambda d: {**d, "metadata": "abc"}, "metadata must be a mapping"),
        (lambda d: {**d, "metadata": 5}, "metadata must be a mapping"),
        (
            lambda d: {
                **d,
                "interactions": [
                    {
                        **d["interactions"][0],
                        "response": {
                            **{
                                k: v
                                for k, v in d["interactions"][0]["response"].items()
                                if k not in ("body", "parsed_body")
                            },
                            "body": {"base64": "a"},
                        },
                    },
                    *d["interactions"][1:],
                ],
            },
            "not valid base64",
        ),
    ],
)
def test_corrupt_cassettes_raise_typed_errors(tmp_path: Path, mutate: Any, message: str) -> None:
    path = _good(tmp_path)
    doc = mutate(yaml.safe_load(path.read_text()))
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    with pytest.raises(CorruptCassetteError, match=message) as info:
        load_cassette(path)
    assert "good.yaml" in str(info.value)
    with pytest.raises(CorruptCassetteError):
        Replayer(path)


def test_missing_cassette(tmp_path: Path) -> None:
    with pytest.raises(CassetteNotFoundError, match=r"nope\.yaml"):
        load_cassette(tmp_path / "nope.yaml")


def test_live_provenance_cannot_claim_a_simulator() -> None:
    with pytest.raises(ValueError, match="cannot name a simulator"):
        Provenance("live", "openai", "x", "0.1.0", simulator_version="1", recorded_on="2026-01-02")
    live = Provenance("live", "openai", "x", "0.1.0", recorded_on="2026-01-02")
    assert live.is_live
    assert "simulator_version" not in live.to_dict()


def test_provenance_transport_round_trips_and_is_checked() -> None:
    prov = Provenance(
        "simulator", "openai", "x", "0.1.0", simulator_version="1", seed=1, transport="http"
    )
    assert prov.to_dict()["transport"] == "http"
    assert Provenance.from_dict(prov.to_dict()) == prov
    old = Provenance("simulator", "openai", "x", "0.1.0", simulator_version="1", seed=1)
    assert "transport" not in old.to_dict()  # cassettes from before the field still load
    with pytest.raises(ValueError, match="transport must be one of"):
        Provenance.from_dict({**prov.to_dict(), "transport": "pigeon"})
    with pytest.raises(ValueError, match="over http"):
        Provenance("live", "openai", "x", "0.1.0", recorded_on="2026-01-02", transport="in-process")


@pytest.mark.parametrize(
    ("tools", "error"), [([{"description": "no name"}], ValueError), (["not a mapping"], TypeError)]
)
def test_recorded_request_with_a_bad_tool_is_a_typed_error(tools: list[Any], error: type) -> None:
    from llmkit.cassettes.workload import request_from_data

    data = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools}
    with pytest.raises(error, match="recorded tool"):
        request_from_data(data)
