"""A canary key hunted through every sink, for each way a key can be given.

Ways: ``api_key=``, the environment, a base URL's userinfo (``http://user:KEY@host``) and its
query (``?api-key=KEY`` as Azure, ``?key=KEY`` as Gemini). The canary has no known key shape
(no ``sk-``, no "API key" label near it), so only the structural pass can mask it. The server
echoes it whole and in part (30 of its 40 characters) in a 401.

Sinks: reprs and strs of the client, its endpoint and layers; every log record of every logger
at DEBUG (httpx's ``HTTP Request:`` line included, on the direct path and through an injected
``httpx.Client``); telemetry (memory, JSONL, logging); exception texts, tracebacks with their
locals, and pickles; SQLite and memory caches; recorded cassettes.
"""

from __future__ import annotations

import base64
import json
import logging
import pickle
import sqlite3
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import llmkit
from llmkit.cache import CacheLayer, MemoryCache, SQLiteCache
from llmkit.cassettes.record import Provenance, Recorder
from llmkit.client import Client
from llmkit.errors import AuthError
from llmkit.secrets import SecretFilter, redact_url
from llmkit.telemetry import JSONLSink, LoggingSink, MemorySink

PACKAGE = Path(llmkit.__file__).resolve().parent
"""llmkit's own source files (a checkout may itself sit in a folder named llmkit)."""
CANARY = "Kq" + "7xW2zP" * 6 + "Ab"  # 40 characters, no known key shape
assert len(CANARY) == 40
FRAGMENTS = (CANARY, CANARY[:30], CANARY[10:30], CANARY[-20:])
MSGS = [{"role": "user", "content": "hi"}]
OK = {
    "id": "c1",
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1},
}


def _credential(path: str, headers: Any) -> str:
    query = parse_qs(urlsplit(path).query)
    for name in ("api-key", "key"):
        if name in query:
            return query[name][0]
    auth = headers.get("Authorization", "")
    if auth.startswith("Basic "):
        return base64.b64decode(auth[6:]).decode().split(":", 1)[1]
    return auth.removeprefix("Bearer ")


class Echo(BaseHTTPRequestHandler):
    """200, or a 401 whose message echoes the credential whole and in part, unlabelled."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str]] = []
    paths: ClassVar[set[str]] = set()

    def do_POST(self) -> None:
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cred = _credential(self.path, self.headers)
        Echo.seen.append(cred)
        Echo.paths.add(urlsplit(self.path).path)
        if data["model"] == "auth":
            msg = f"credential {cred} was revoked (starts {cred[:30]})"
            raw = json.dumps({"error": {"message": msg, "code": "revoked"}}).encode()
            self._send(401, raw)
        else:
            self._send(200, json.dumps(OK).encode())

    def _send(self, status: int, raw: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


WAYS = ("api_key", "env", "userinfo", "query-api-key", "query-key")


def _options(way: str, port: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}/v1"
    if way == "api_key":
        return {"base_url": base, "api_key": CANARY}
    if way == "env":
        monkeypatch.setenv("OPENAI_API_KEY", CANARY)
        return {"base_url": base}
    if way == "userinfo":
        return {"base_url": f"http://tenant:{CANARY}@127.0.0.1:{port}/v1", "api_key": "unused"}
    name = "api-key" if way == "query-api-key" else "key"
    return {"base_url": f"{base}?{name}={CANARY}&api-version=1", "api_key": "unused"}


def assert_clean(where: str, *texts: str | bytes) -> None:
    for text in texts:
        blob = text if isinstance(text, str) else text.decode("latin-1")
        for fragment in FRAGMENTS:
            assert fragment not in blob, f"{where} leaks {len(fragment)} characters of the key"


def _exception_texts(err: BaseException) -> list[str | bytes]:
    tb = traceback.TracebackException.from_exception(err, capture_locals=True)

    # llmkit's frames from Client.chat down through the layers, with their locals. Not the
    # test's own frame (it holds the key it passed, by design), nor the transport's frames,
    # which hold the httpx.Request being sent (httpx's repr shows the URL it must send to).
    def ours(filename: str) -> bool:
        path = Path(filename).resolve()
        return path.is_relative_to(PACKAGE) and not path.is_relative_to(PACKAGE / "transport")

    frames = [f for f in tb.stack if ours(f.filename)]
    assert any(f.name == "chat" for f in frames)
    shown = "".join(traceback.StackSummary.from_list(frames).format())
    return [str(err), repr(err), shown, "".join(tb.format_exception_only()), pickle.dumps(err)]


@pytest.mark.parametrize("direct", [True, False], ids=["own-http", "injected-http"])
@pytest.mark.parametrize("way", WAYS)
def test_canary_hunt(  # noqa: PLR0917 - pytest passes parameters and fixtures positionally
    way: str,
    direct: bool,
    port: int,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "llmkit"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    Echo.seen.clear()
    Echo.paths.clear()
    mem, jsonl = MemorySink(), JSONLSink(tmp_path / "t.jsonl")
    sqlite = SQLiteCache(tmp_path / "cache.db")
    memory = MemoryCache()
    options = _options(way, port, monkeypatch)
    http = None if direct else httpx.Client()
    client = Client(
        "openai",
        telemetry=[mem, jsonl, LoggingSink(level=logging.DEBUG)],
        layers=[CacheLayer(sqlite), CacheLayer(memory)],
        retry=False,
        http_client=http,
        **options,
    )
    with client:
        assert client.chat(model="m", messages=MSGS, temperature=0).text == "ok"
        assert client.chat(model="m", messages=MSGS, temperature=0).cached
        with pytest.raises(AuthError) as info:
            client.chat(model="auth", messages=MSGS)
        reprs = [repr(client), str(client), repr(client.endpoint), repr(client.layers)]
    jsonl.close()
    if http is not None:
        http.close()

    assert CANARY in Echo.seen  # the key really was sent
    assert Echo.paths == {"/v1/chat/completions"}  # a query in base_url follows the path
    assert "was revoked" in info.value.message  # the provider's words survive, masked
    assert_clean("exception", *_exception_texts(info.value))
    assert_clean("repr", *reprs)
    assert_clean("telemetry", repr(mem.records), (tmp_path / "t.jsonl").read_text())
    assert any(r.getMessage().startswith("HTTP Request:") for r in caplog.records)
    for rec in caplog.records:
        assert_clean(f"log {rec.name}", rec.getMessage(), json.dumps(rec.__dict__, default=str))
    assert_clean("logs", caplog.text)
    with sqlite3.connect(tmp_path / "cache.db") as db:
        dump = "\n".join(db.iterdump())
    assert_clean("sqlite cache", dump, *(tmp_path.glob("cache.db*") and [b""]))
    assert_clean("memory cache", repr(memory._data))


def test_cassette_of_a_non_loopback_host_keeps_no_credential(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        cred = _credential(str(request.url), request.headers)
        msg = f"credential {cred} was revoked (starts {cred[:30]})"
        return httpx.Response(401, json={"error": {"message": msg}})

    path = tmp_path / "c.yaml"
    prov = Provenance("simulator", "openai", "unit", "0.1.0", simulator_version="t", seed=1)
    for base in (
        f"https://tenant:{CANARY}@llm.example.com/v1",
        f"https://llm.example.com/v1?key={CANARY}",
        f"https://llm.example.com/v1?api-key={CANARY}",
    ):
        with Recorder(path, prov) as rec:
            inner = httpx.MockTransport(handler)
            http = httpx.Client(transport=rec.transport(inner))
            client = Client("compatible", base_url=base, api_key="x" * 8, http_client=http)
            with rec.call("openai", {"model": "m"}), pytest.raises(AuthError):
                client.chat(model="m", messages=MSGS)
        text = path.read_text()
        assert "llm.example.com" in text
        assert "was revoked" in text
        assert_clean("cassette", text)


def test_redact_url_and_the_filter_users_install() -> None:
    url = f"https://user:{CANARY}@h.example/v1?api-key={CANARY}&api-version=2024-10-01"
    assert redact_url(url) == "https://***@h.example/v1?api-key=***&api-version=2024-10-01"
    Client("compatible", base_url=url, api_key="y" * 8)  # the client registers what it knows
    logger = logging.getLogger("their.app")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(SecretFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling %s with %s", url, {"key": CANARY[:25]})
        try:
            raise RuntimeError(f"boom {CANARY}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert len(records) == 2  # masked, never dropped
    assert "h.example" in records[0].getMessage()
    assert_clean("their log", *(r.getMessage() for r in records), records[1].exc_text or "")


def test_no_cached_answer_crosses_tenants(port: int, tmp_path: Path) -> None:
    """Tenant B (a revoked key) is not served tenant A's answer; another base_url behind the
    same provider name has its own entries; the cache holds a keyed hash, never the key."""
    Echo.seen.clear()
    shared = SQLiteCache(tmp_path / "shared.db")
    base = f"http://127.0.0.1:{port}/v1"

    def ask(api_key: str, url: str = base, **tags: str) -> Any:
        client = Client("openai", base_url=url, api_key=api_key, layers=[CacheLayer(shared)])
        with client:
            return client.chat(model="m", messages=MSGS, temperature=0, tags=tags)

    tenant_a = "tenantA-" + CANARY[:20]
    assert not ask(tenant_a).cached
    assert ask(tenant_a).cached  # same tenant, same endpoint: a hit
    assert not ask("tenantB-revoked-key-0001").cached  # a request was sent for B
    assert not ask(tenant_a, url=f"http://localhost:{port}/v1").cached  # another endpoint
    assert not ask(tenant_a, tenant="t2").cached  # a tenant tag splits entries too
    assert Echo.seen == [tenant_a, "tenantB-revoked-key-0001", tenant_a, tenant_a]
    with sqlite3.connect(tmp_path / "shared.db") as db:
        dump = "\n".join(db.iterdump())
    assert tenant_a not in dump
    assert "tenantB-revoked" not in dump


def test_short_values_are_not_treated_as_secrets() -> None:
    from llmkit.secrets import register, scrub

    register("sim", "x")  # the simulator's key: too short to be a secret, would mask words
    assert scrub("a simple simulation") == "a simple simulation"


@pytest.mark.parametrize("way", WAYS)
def test_canary_hunt_async(
    way: str, port: int, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from llmkit.client import AsyncClient

    caplog.set_level(logging.DEBUG)
    Echo.seen.clear()
    mem = MemorySink()
    options = _options(way, port, monkeypatch)

    async def go() -> tuple[AuthError, list[str]]:
        async with AsyncClient("openai", telemetry=mem, retry=False, **options) as client:
            assert (await client.chat(model="m", messages=MSGS)).text == "ok"
            with pytest.raises(AuthError) as info:
                await client.chat(model="auth", messages=MSGS)
            return info.value, [repr(client), repr(client.endpoint), repr(client.layers)]

    err, reprs = asyncio.run(go())
    assert CANARY in Echo.seen
    assert_clean("async exception", str(err), repr(err), pickle.dumps(err))
    assert_clean("async repr", *reprs)
    assert_clean("async telemetry", repr(mem.records))
    for rec in caplog.records:
        assert_clean(
            f"async log {rec.name}", rec.getMessage(), json.dumps(rec.__dict__, default=str)
        )


def test_fragments_of_a_registered_secret_are_masked_from_eight_characters() -> None:
    from llmkit.secrets import MASK, register, scrub

    secret = "Zr" + "9mQ4tV" * 5  # 32 characters, no known shape
    register(secret)
    assert scrub(f"got {secret[3:11]} back") == f"got {MASK} back"  # 8 characters
    assert scrub(f"got {secret[3:10]} back") == f"got {secret[3:10]} back"  # 7: too short
    assert scrub(f"x={secret[:20]}&y=1") == f"{MASK}&y=1"  # the token around it goes whole
    assert redact_url("no url at all") == "no url at all"
    assert redact_url("https://h.example/v1") == "https://h.example/v1"


def test_secret_filter_survives_a_malformed_record() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", ("one",), None)
    assert SecretFilter().filter(record)  # never drops, never raises
    assert "one" in record.getMessage()


@pytest.mark.parametrize("header", ["api-key", "Authorization"])
def test_a_key_in_an_injected_clients_headers_is_masked_too(header: str) -> None:
    canary = "Zt" + "9vQ4mR" * 6 + "Lx"
    value = canary if header == "api-key" else f"Bearer {canary}"

    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers[header].removeprefix("Bearer ")
        message = f"credential {sent} was revoked (starts {sent[:30]})"
        return httpx.Response(401, json={"error": {"message": message, "code": "revoked"}})

    http = httpx.Client(transport=httpx.MockTransport(handler), headers={header: value})
    client = Client("compatible", base_url="http://127.0.0.1:9/v1", http_client=http)
    with pytest.raises(AuthError) as info:
        client.chat(model="m", messages=MSGS)
    assert "was revoked" in info.value.message
    for fragment in (canary, canary[:30]):
        assert fragment not in str(info.value)
        assert fragment not in repr(client)
