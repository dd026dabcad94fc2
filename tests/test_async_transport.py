"""AsyncClient's default transport (aiohttp under the httpx API): chosen, honest, recordable.

``benchmarks/overhead.py`` shows why it is the default (about 3x httpx's own async pool at 50
calls in flight); these tests pin what must not change with it: proxies from the environment
still work, a server that hangs up is a connection error (not a "connect timeout"), and vcrpy
records and replays its traffic (through its aiohttp patcher) with the key scrubbed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from llmkit import AsyncClient, Client, ConnectionError, TimeoutError
from llmkit.cassettes.vcrconf import make_vcr
from llmkit.sim.server import SimServer
from llmkit.transport.pool import default_async_http

KEY = "sk-test-transport-0123456789"
MSGS = [{"role": "user", "content": "Say hello."}]
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def instant() -> Iterator[str]:
    with SimServer("instant") as url:
        yield url


def test_default_is_aiohttp_with_httpx_default_limits() -> None:
    http = default_async_http()
    transport = http._transport
    assert isinstance(transport, AiohttpTransport)
    assert transport.limits.max_connections == 100
    assert transport.limits.keepalive_expiry == 5.0
    client = AsyncClient("openai", api_key=KEY)
    assert isinstance(client.http._transport, AiohttpTransport)


def test_a_given_transport_or_client_is_used_as_is() -> None:
    mine = httpx.AsyncHTTPTransport()
    assert AsyncClient("openai", api_key=KEY, transport=mine).http._transport is mine
    http = httpx.AsyncClient()
    assert AsyncClient("openai", api_key=KEY, http_client=http).http is http


def test_own_clients_keep_no_cookies() -> None:
    # llmkit sends requests it built itself (client.send), so stored cookies would never be
    # sent back; the jar of the clients it makes stays empty instead of parsing Set-Cookie.
    req = httpx.Request("POST", "https://api.example.test/v1/chat/completions")
    resp = httpx.Response(200, headers={"set-cookie": "__cf_bm=abc; Path=/"}, request=req)
    control = httpx.Client()
    control.cookies.extract_cookies(resp)
    assert len(control.cookies) == 1
    sync, aio = Client("openai", api_key=KEY), AsyncClient("openai", api_key=KEY)
    for http in (sync.http, aio.http):
        http.cookies.extract_cookies(resp)
        assert len(http.cookies) == 0
    sync.close()
    control.close()


def test_env_proxy_keeps_httpx_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    http = default_async_http()
    assert isinstance(http._transport, httpx.AsyncHTTPTransport)
    assert any(p is not None for p in http._mounts.values())  # httpx mounted the env proxy


def test_chat_and_stream_through_the_default(instant: str) -> None:
    async def go() -> tuple[str, str]:
        async with AsyncClient("openai", base_url=instant + "/v1", api_key=KEY) as client:
            assert isinstance(client.http._transport, AiohttpTransport)
            resp = await client.chat(model="gpt-4o-mini", messages=MSGS, max_tokens=8)
            stream = await client.stream(model="gpt-4o-mini", messages=MSGS, max_tokens=8)
            text = "".join([ev.text async for ev in stream if ev.type == "text"])
            return resp.text, text

    chat, streamed = asyncio.run(go())
    assert chat
    assert streamed == chat  # the simulator is seeded: same request, same answer


def test_server_hang_up_is_a_connection_error_not_a_timeout() -> None:
    async def go(url: str) -> None:
        async with AsyncClient("openai", base_url=url + "/v1", api_key=KEY, retry=False) as c:
            await c.chat(model="gpt-4o-mini", messages=MSGS)

    with SimServer("reset-then-ok") as url, pytest.raises(ConnectionError) as info:
        asyncio.run(go(url))
    assert not isinstance(info.value, TimeoutError)
    assert info.value.retryable
    assert "disconnected" in str(info.value).lower()


def test_vcrpy_records_and_replays_the_default_transport(tmp_path: Path) -> None:
    cassette = tmp_path / "aiohttp.yaml"

    async def go(url: str) -> tuple[str, str]:
        async with AsyncClient("openai", base_url=url + "/v1", api_key=KEY, retry=False) as c:
            resp = await c.chat(model="gpt-4o-mini", messages=MSGS, max_tokens=8)
            stream = await c.stream(model="gpt-4o-mini", messages=MSGS, max_tokens=8)
            return resp.text, "".join([ev.text async for ev in stream if ev.type == "text"])

    vcr = make_vcr()
    with SimServer("instant") as url, vcr.use_cassette(str(cassette), record_mode="all") as cas:
        recorded = asyncio.run(go(url))
        assert len(cas) == 2
    text = cassette.read_text()
    assert KEY not in text
    assert "/v1/chat/completions" in text
    # The server is gone: only the cassette can answer now.
    with vcr.use_cassette(str(cassette), record_mode="none") as cas:
        replayed = asyncio.run(go(url))
        assert cas.play_count == 2
    assert replayed == recorded
    assert recorded[0]


_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


def test_own_client_sends_straight_through_its_transport(caplog: pytest.LogCaptureFixture) -> None:
    # An own client (transport given or aiohttp's default) skips AsyncClient.send: the wire
    # request must be the one send would have sent, and what send adds must still be there.
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/fail"):
            raise httpx.ConnectError("refused")  # no request attached, as aiohttp's mapping
        return httpx.Response(200, json=_COMPLETION)  # no request attached either

    mock = httpx.MockTransport(answer)
    direct = AsyncClient("openai", base_url="https://h.test/v1", api_key=KEY, transport=mock)
    via_send = AsyncClient(
        "openai",
        base_url="https://h.test/v1",
        api_key=KEY,
        http_client=httpx.AsyncClient(transport=mock),
    )
    assert direct._transport.direct is mock
    assert via_send._transport.direct is None  # an injected client is used exactly as given

    async def go() -> None:
        caplog.set_level(logging.INFO, logger="httpx")
        for client in (direct, via_send):
            assert (await client.chat(model="gpt-4o-mini", messages=MSGS)).text == "hi"
        req = httpx.Request("POST", "https://h.test/v1/fail")
        with pytest.raises(httpx.ConnectError) as info:
            await direct._transport._send(req)
        assert info.value.request is req
        ok = await direct._transport._send(httpx.Request("POST", "https://h.test/v1/x"))
        assert ok.request is seen[-1]
        await ok.aclose()
        assert ok.is_closed
        await direct.aclose()
        with pytest.raises(ConnectionError, match="closed"):
            await direct.chat(model="gpt-4o-mini", messages=MSGS)

    asyncio.run(go())
    a, b = seen[0], seen[1]
    assert a.headers.multi_items() == b.headers.multi_items()  # host, content-length, auth...
    assert {"host", "content-length", "authorization"} <= set(a.headers.keys())
    assert a.content == b.content
    assert a.extensions["timeout"] == b.extensions["timeout"]
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert sum("HTTP Request: POST https://h.test/v1/chat/completions" in m for m in lines) == 2


def test_send_is_kept_where_httpx_adds_something(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy from the environment lives in the client's mounts, not in a transport we hold.
    # (Credentials in base_url are refused at each attempt: tests/test_transport_hardening.py.)
    assert AsyncClient("openai", api_key=KEY)._transport.direct is not None
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert AsyncClient("openai", api_key=KEY)._transport.direct is None


def test_sync_own_client_sends_straight_through_its_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_COMPLETION)

    mock = httpx.MockTransport(answer)
    direct = Client("openai", base_url="https://h.test/v1", api_key=KEY, transport=mock)
    plain = httpx.Client(transport=mock)
    via_send = Client("openai", base_url="https://h.test/v1", api_key=KEY, http_client=plain)
    assert direct._transport.direct is mock
    assert via_send._transport.direct is None
    for client in (direct, via_send):
        assert client.chat(model="gpt-4o-mini", messages=MSGS).text == "hi"
    assert seen[0].headers.multi_items() == seen[1].headers.multi_items()
    assert seen[0].content == seen[1].content
    ok = direct._transport._send(httpx.Request("POST", "https://h.test/v1/x"))
    assert ok.request is seen[-1]
    direct.close()
    with pytest.raises(ConnectionError, match="closed"):
        direct.chat(model="gpt-4o-mini", messages=MSGS)
    plain.close()
    # By default: the transport httpx.Client() would make, held; a proxy keeps send.
    assert isinstance(Client("openai", api_key=KEY)._transport.direct, httpx.HTTPTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert Client("openai", api_key=KEY)._transport.direct is None
