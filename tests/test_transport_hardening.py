"""The transport against misbehaving servers on real loopback sockets: headers trickling in,
a reset in the middle of a stream; and a base URL carrying credentials or a query string,
and an injected client's default headers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from rawhttp import RawServer, reset

from llmkit.client import AsyncClient, Client
from llmkit.deadline import Timeouts
from llmkit.errors import ConnectionError, DeadlineExceededError, LLMError

MSGS = [{"role": "user", "content": "hi"}]
BODY = json.dumps(
    {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
    }
).encode()
HEAD = (
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + "".join(f"x-pad-{i}: {'p' * 20}\r\n" for i in range(4))
    + f"content-length: {len(BODY)}\r\n\r\n"
).encode()


def trickle_headers(conn: socket.socket, stop: threading.Event) -> None:
    """The status line and headers one byte every 0.25 s (~40 s in all), then the body."""
    for b in HEAD:
        if stop.wait(0.25):
            return
        conn.sendall(bytes([b]))
    conn.sendall(BODY)


def sync_call(entry: str, url: str, deadline: float) -> Any:
    with Client(
        "compatible",
        base_url=url,
        api_key="sk-test",
        deadline=deadline,
        timeout=Timeouts(read=10.0),
    ) as client:
        if entry == "stream":
            with client.stream(model="m", messages=MSGS) as s:
                return list(s)
        return client.chat(model="m", messages=MSGS, stream=entry == "chat-stream")


@pytest.mark.parametrize("entry", ["chat", "chat-stream", "stream"])
def test_sync_deadline_holds_while_headers_trickle_in(entry: str) -> None:
    with RawServer(trickle_headers) as url:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            sync_call(entry, url, deadline=1.5)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 0.3  # ~40 s (the whole trickle) before


def test_async_deadline_holds_while_headers_trickle_in() -> None:
    async def main() -> float:
        async with AsyncClient(
            "compatible", base_url=url, api_key="sk-test", deadline=1.5
        ) as client:
            started = time.monotonic()
            with pytest.raises(DeadlineExceededError):
                await client.chat(model="m", messages=MSGS)
            return time.monotonic() - started

    with RawServer(trickle_headers) as url:
        assert asyncio.run(main()) < 1.5 + 0.3


def test_a_reused_connection_that_starts_trickling_is_cut_too() -> None:
    def script(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(HEAD + BODY)  # the first answer at once, keep-alive
        conn.recv(65536)  # the second request
        trickle_headers(conn, stop)

    with (
        RawServer(script) as url,
        Client("compatible", base_url=url, api_key="sk-test", deadline=1.5, retry=False) as client,
    ):
        assert client.chat(model="m", messages=MSGS).text == "ok"
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            client.chat(model="m", messages=MSGS)
        assert time.monotonic() - started < 1.5 + 0.3


# ------------------------------------------------------------------ a reset mid-stream

EVENT = (
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":'
    b'[{"index":0,"delta":{"content":"hel"},"finish_reason":null}]}\n\n'
)


def reset_mid_stream(conn: socket.socket, stop: threading.Event) -> None:
    """An SSE body framed by the connection (no length, not chunked), reset after one event."""
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n" + EVENT)
    time.sleep(0.1)
    reset(conn)


def close_mid_stream(conn: socket.socket, stop: threading.Event) -> None:
    """The same body ended by a plain close (FIN) before the stream's end."""
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n" + EVENT)
    time.sleep(0.1)
    conn.close()


def stream_error(mode: str, url: str) -> LLMError:
    kw: dict[str, Any] = {"base_url": url, "api_key": "sk-test", "retry": False}
    if mode == "sync":
        with Client("compatible", **kw) as client, pytest.raises(LLMError) as info:
            client.chat(model="m", messages=MSGS, stream=True)
        return info.value

    async def main() -> LLMError:
        async with AsyncClient("compatible", **kw) as client:
            with pytest.raises(LLMError) as info:
                await client.chat(model="m", messages=MSGS, stream=True)
            return info.value

    return asyncio.run(main())


@pytest.mark.parametrize("script", [reset_mid_stream, close_mid_stream])
def test_a_stream_cut_mid_way_is_the_same_error_sync_and_async(script: Any) -> None:
    errors = {}
    for mode in ("sync", "async"):
        with RawServer(script) as url:
            errors[mode] = stream_error(mode, url)
    sync, async_ = errors["sync"], errors["async"]
    assert type(sync) is type(async_) is ConnectionError, errors
    assert sync.retryable
    assert async_.retryable


# ------------------------------------------------------------------ base URL and client defaults


def _capture() -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=BODY, headers={"content-type": "application/json"})

    return seen, httpx.MockTransport(handler)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_credentials_in_base_url_go_in_a_basic_header_never_shown(mode: str) -> None:
    secret = "hunter2-" + "x" * 8
    url = f"http://user:{secret}@127.0.0.1:9/v1"
    seen, transport = _capture()
    if mode == "sync":
        client: Any = Client("compatible", base_url=url, api_key="sk-t", transport=transport)
        client.chat(model="m", messages=MSGS)
        shown = repr(client)
    else:

        async def main() -> str:
            async with AsyncClient(
                "compatible", base_url=url, api_key="sk-t", transport=transport
            ) as c:
                await c.chat(model="m", messages=MSGS)
                return repr(c)

        shown = asyncio.run(main())
    (request,) = seen
    expected = base64.b64encode(f"user:{secret}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.url.userinfo == b""  # the password leaves the URL
    assert secret not in str(request.url)
    assert secret not in shown


def test_async_client_with_credentials_in_base_url_fails_typed_not_with_a_value_error() -> None:
    # aiohttp refuses a URL with userinfo plus an Authorization header (a bare ValueError);
    # the endpoint sends the credentials as a header instead, so only the closed port fails.
    secret = "hunter2-" + "y" * 8

    async def main() -> LLMError:
        async with AsyncClient(
            "compatible",
            base_url=f"http://user:{secret}@127.0.0.1:9/v1",
            api_key="sk-t",
            retry=False,
        ) as c:
            with pytest.raises(LLMError) as info:
                await c.chat(model="m", messages=MSGS)
            return info.value

    error = asyncio.run(main())
    assert isinstance(error, ConnectionError)
    assert secret not in str(error)


@pytest.mark.parametrize("provider", ["compatible", "openai", "openrouter", "anthropic"])
def test_a_query_string_in_base_url_stays_at_the_end(provider: str) -> None:
    seen, transport = _capture()
    base = "https://example.test/openai/deployments/d1?api-version=2024-02-01"
    client = Client(provider, base_url=base, api_key="sk-t", transport=transport, retry=False)
    with client, contextlib.suppress(LLMError):  # only the URL matters here
        client.chat(model="m", messages=MSGS)
    (request,) = seen
    assert request.url.params["api-version"] == "2024-02-01"
    assert request.url.path.startswith("/openai/deployments/d1/")
    assert "?" not in request.url.path


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_default_headers_and_params_of_an_injected_client_are_sent(mode: str) -> None:
    seen, transport = _capture()
    defaults: dict[str, Any] = {
        "headers": {"api-key": "azure-key", "HTTP-Referer": "https://app.example"},
        "params": {"api-version": "2024-02-01"},
    }
    kw: dict[str, Any] = {"base_url": "https://example.test/v1", "api_key": "sk-t"}
    if mode == "sync":
        with httpx.Client(transport=transport, **defaults) as http:
            Client("compatible", http_client=http, **kw).chat(model="m", messages=MSGS)
    else:

        async def main() -> None:
            async def handler(request: httpx.Request) -> httpx.Response:
                seen.append(request)
                return httpx.Response(
                    200, content=BODY, headers={"content-type": "application/json"}
                )

            mock = httpx.MockTransport(handler)
            async with httpx.AsyncClient(transport=mock, **defaults) as http:
                await AsyncClient("compatible", http_client=http, **kw).chat(
                    model="m", messages=MSGS
                )

        asyncio.run(main())
    (request,) = seen
    assert request.headers["api-key"] == "azure-key"
    assert request.headers["http-referer"] == "https://app.example"
    assert request.url.params["api-version"] == "2024-02-01"
    assert request.headers["authorization"] == "Bearer sk-t"  # the client's key still wins
