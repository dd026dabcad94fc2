"""A canary key must never leak: not in logs (httpx's included), telemetry, files, errors, reprs."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llmkit.client import AsyncClient, Client
from llmkit.errors import AuthError, LLMError
from llmkit.telemetry import JSONLSink, LoggingSink, MemorySink

CANARY = "sk-canary-" + "Zq7xW2" * 6 + "Ab3d"  # 10 + 40 characters
assert len(CANARY) == 50
MSGS = [{"role": "user", "content": "hi"}]
OK = {
    "id": "c1",
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}
STREAM = (
    b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n'
    b'data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


class Handler(BaseHTTPRequestHandler):
    """401 that echoes the key (as OpenAI does, in part) unless the path says otherwise."""

    protocol_version = "HTTP/1.1"
    keys: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        Handler.keys.append(key)
        if data["model"] == "auth":
            payload = {
                "error": {
                    "message": f"Incorrect API key provided: {key}. Also {key[:8]}****{key[-4:]}",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            }
            self._send(401, json.dumps(payload).encode(), "application/json")
        elif data.get("stream"):
            self._send(200, STREAM, "text/event-stream")
        else:
            self._send(200, json.dumps(OK).encode(), "application/json")

    def _send(self, status: int, raw: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _texts_of(err: BaseException) -> list[str]:
    out = [str(err), repr(err), "".join(traceback.format_exception(err))]
    out.extend(str(a) for a in err.args)
    if isinstance(err, LLMError):
        out.append(json.dumps(err.__dict__, default=str))
    return out


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text
        assert CANARY[10:30] not in text  # no long fragment either


def test_canary_never_leaks(url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root: httpx, httpcore, llmkit, everything
    for name in ("httpx", "httpcore", "llmkit", "llmkit.telemetry"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    mem = MemorySink()
    jsonl = JSONLSink(tmp_path / "t.jsonl")
    sinks = [mem, jsonl, LoggingSink(level=logging.DEBUG)]
    errors: list[BaseException] = []

    with Client("compatible", base_url=url, api_key=CANARY, telemetry=sinks) as client:
        assert client.chat(model="m", messages=MSGS).text == "ok"
        assert client.chat(model="m", messages=MSGS, stream=True).text == "ok"
        with client.stream(model="m", messages=MSGS) as stream:
            list(stream)
        with pytest.raises(AuthError) as info:
            client.chat(model="auth", messages=MSGS)
        errors.append(info.value)
        reprs = [
            repr(client),
            str(client),
            repr(client.endpoint),
            repr(client.layers),
            repr(stream),
            repr(stream.response),
        ]

    async def go() -> None:
        async with AsyncClient("compatible", base_url=url, api_key=CANARY, telemetry=sinks) as ac:
            await ac.chat(model="m", messages=MSGS)
            try:
                await ac.chat(model="auth", messages=MSGS)
            except AuthError as exc:
                errors.append(exc)
            reprs.append(repr(ac))

    asyncio.run(go())
    jsonl.close()

    assert len(errors) == 2
    assert set(Handler.keys) == {CANARY}  # the key really was used on every request
    assert "Incorrect API key provided" in str(errors[0])  # the message survives, masked
    for err in errors:
        assert_clean(*_texts_of(err))
    assert_clean(*reprs)
    assert len(mem.records) >= 8
    assert_clean(json.dumps([r.as_dict() for r in mem.records], default=str), repr(mem.records))
    assert_clean((tmp_path / "t.jsonl").read_text())
    assert any(r.name.startswith("httpx") for r in caplog.records)  # httpx did log
    for rec in caplog.records:
        assert_clean(rec.getMessage(), str(rec.args), json.dumps(rec.__dict__, default=str))
    assert_clean(caplog.text)


def test_a_key_of_any_shape_echoed_by_a_server_is_masked() -> None:
    """The pattern scrubber only knows key-like shapes; the transport also masks the very key
    it sent, so a self-hosted server's odd key echoed in a message never leaves."""
    import httpx

    odd = "zz!odd#key%value"  # matches no key pattern

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {odd}"
        message = f"key {odd} is revoked"
        return httpx.Response(401, json={"error": {"message": message, "code": "revoked"}})

    client = Client(
        "compatible",
        base_url="http://127.0.0.1:9/v1",
        api_key=odd,
        retry=False,
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(AuthError) as info:
        client.chat(model="m", messages=MSGS)
    err = info.value
    for text in (str(err), repr(err), err.message, "".join(traceback.format_exception(err))):
        assert odd not in text
    assert "is revoked" in err.message  # the provider's words survive
