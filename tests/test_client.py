"""Client and AsyncClient end to end: real sockets on 127.0.0.1, error mapping, streams, layers."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from llmkit.client import AsyncClient, Client
from llmkit.clock import VirtualClock
from llmkit.errors import (
    ConnectionError,
    DeadlineExceededError,
    InvalidResponseError,
    LLMError,
    OverloadedError,
    ServerError,
    TimeoutError,
)
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.secrets import APIKey
from llmkit.telemetry import MemorySink
from llmkit.testing import Scripted, ScriptedTransport
from llmkit.transport import ChatStream, map_error
from llmkit.types import ChatRequest, ChatResponse, Tool, as_tools

MSGS = [{"role": "user", "content": "hi"}]


def body(text: str = "hello") -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }


def sse(obj: Any) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def delta(content: str) -> bytes:
    return sse({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": content}}]})


STOP = sse(
    {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
)
STREAM = [delta("Hel"), delta("lo"), STOP, b"data: [DONE]\n\n"]

# --------------------------------------------------------------------------- loopback server

Reply = Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


def send_json(h: BaseHTTPRequestHandler, status: int, data: Any) -> None:
    raw = json.dumps(data).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(raw)))
    h.end_headers()
    h.wfile.write(raw)


def send_stream(h: BaseHTTPRequestHandler, chunks: list[bytes]) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Connection", "close")
    h.end_headers()
    for c in chunks:
        h.wfile.write(c)
        h.wfile.flush()
    h.close_connection = True


class Server:
    """A tiny HTTP/1.1 server on 127.0.0.1; ``replies`` are used in order, the last repeats."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", 0))
                data = json.loads(self.rfile.read(n) or b"{}")
                i = len(outer.bodies)
                outer.bodies.append(data)
                outer.headers.append(dict(self.headers))
                outer.replies[min(i, len(outer.replies) - 1)](self, data)

            def log_message(self, *args: Any) -> None:
                pass

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up (timeouts under test) is expected

        self.httpd = Quiet(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[list[Reply]], Server]]:
    servers: list[Server] = []

    def start(replies: list[Reply]) -> Server:
        s = Server(replies)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ok(h: BaseHTTPRequestHandler, data: dict[str, Any]) -> None:
    send_json(h, 200, body())


def overloaded(h: BaseHTTPRequestHandler, data: dict[str, Any]) -> None:
    send_json(h, 503, {"error": {"message": "overloaded"}})


def truncated(h: BaseHTTPRequestHandler, data: dict[str, Any]) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "500")
    h.end_headers()
    h.wfile.write(b'{"id": "c1", "choi')
    h.wfile.flush()
    h.close_connection = True


def stream_ok(h: BaseHTTPRequestHandler, data: dict[str, Any]) -> None:
    send_stream(h, STREAM)


def stream_cut(h: BaseHTTPRequestHandler, data: dict[str, Any]) -> None:
    send_stream(h, STREAM[:2])


def arun(coro: Any) -> Any:
    return asyncio.run(coro)


# --------------------------------------------------------------------------- loopback tests


def test_sync_chat_over_loopback(serve: Callable[[list[Reply]], Server]) -> None:
    server = serve([ok])
    with Client("compatible", base_url=server.url, api_key="sk-local-0000000000") as client:
        resp = client.chat(model="gpt-4o-mini", messages=MSGS, max_tokens=5, seed=3)
    assert resp.text == "hello"
    assert resp.usage.input_tokens == 3
    assert resp.latency is not None
    assert resp.latency > 0
    assert server.bodies[0]["messages"] == MSGS
    assert server.bodies[0]["seed"] == 3  # extra goes into the body
    assert server.headers[0]["Authorization"] == "Bearer sk-local-0000000000"


@pytest.mark.parametrize("aiohttp", [False, True])
def test_async_chat_over_loopback(serve: Callable[[list[Reply]], Server], aiohttp: bool) -> None:
    server = serve([overloaded, ok])

    async def go() -> ChatResponse:
        transport = AiohttpTransport() if aiohttp else None
        async with AsyncClient(
            "compatible", base_url=server.url, transport=transport, seed=1, retry=2
        ) as client:
            return await client.chat(model="m", messages=MSGS)

    assert arun(go()).text == "hello"
    assert len(server.bodies) == 2  # the 503 was retried (real sleep < 0.5 s)


def test_stream_over_loopback(serve: Callable[[list[Reply]], Server]) -> None:
    server = serve([stream_ok])
    sink = MemorySink()
    with Client("compatible", base_url=server.url, telemetry=sink) as client:
        with client.stream(model="m", messages=MSGS) as stream:
            texts = [ev.text for ev in stream if ev.type == "text"]
        assert texts == ["Hel", "lo"]
        assert stream.response is not None
        assert stream.response.text == "Hello"
        assert stream.response.ttft is not None
        agg = client.chat(model="m", messages=MSGS, stream=True)
    assert agg.text == "Hello"
    assert agg.ttft is not None
    assert server.bodies[0]["stream"] is True
    assert [r.kind for r in sink.records] == ["attempt", "call", "attempt", "call"]


def test_async_stream_over_loopback(serve: Callable[[list[Reply]], Server]) -> None:
    server = serve([stream_ok])

    async def go() -> tuple[list[str], ChatResponse]:
        async with AsyncClient("compatible", base_url=server.url) as client:
            async with await client.stream(model="m", messages=MSGS) as stream:
                texts = [ev.text async for ev in stream if ev.type == "text"]
            return texts, await stream.get_final_response()

    texts, resp = arun(go())
    assert texts == ["Hel", "lo"]
    assert resp.text == "Hello"


@pytest.mark.parametrize("mode", ["sync", "async", "aiohttp"])
def test_connection_refused_is_a_connection_error(mode: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    sink = MemorySink()
    opts: dict[str, Any] = {"base_url": url, "retry": 2, "telemetry": sink, "seed": 0}
    if mode == "sync":
        with Client("compatible", **opts) as client, pytest.raises(ConnectionError) as info:
            client.chat(model="m", messages=MSGS)
    else:

        async def go() -> None:
            transport = AiohttpTransport() if mode == "aiohttp" else None
            async with AsyncClient("compatible", transport=transport, **opts) as client:
                await client.chat(model="m", messages=MSGS)

        with pytest.raises(ConnectionError) as info:
            arun(go())
    assert info.value.retryable
    assert info.value.provider == "compatible"
    assert not isinstance(info.value, httpx.HTTPError)
    assert [a.error_type for a in sink.attempts()] == ["connection", "connection"]


def test_truncated_body_is_a_retryable_connection_error(
    serve: Callable[[list[Reply]], Server],
) -> None:
    server = serve([truncated, ok])
    with Client("compatible", base_url=server.url, seed=0) as client:
        assert client.chat(model="m", messages=MSGS).text == "hello"
    assert len(server.bodies) == 2
    server2 = serve([truncated])
    with (
        Client("compatible", base_url=server2.url, retry=1) as client,
        pytest.raises(ConnectionError, match="RemoteProtocolError"),
    ):
        client.chat(model="m", messages=MSGS)


def test_stream_cut_by_the_connection_is_a_connection_error(
    serve: Callable[[list[Reply]], Server],
) -> None:
    # No length, not chunked: the connection's end is the body's end, so a stream that stops
    # short of its terminal event lost its connection (a reset and a close look alike to some
    # clients): retryable ConnectionError, sync and async alike. A complete (chunked or sized)
    # body without its terminal event stays an InvalidResponseError (see the providers' tests).
    server = serve([stream_cut])
    with Client("compatible", base_url=server.url, retry=1) as client:
        stream = client.stream(model="m", messages=MSGS)
        with pytest.raises(ConnectionError, match="truncated") as info:
            stream.get_final_response()
    assert info.value.retryable
    assert isinstance(info.value.__cause__, InvalidResponseError)


def test_real_read_timeout_shrinks_to_the_deadline(serve: Callable[[list[Reply]], Server]) -> None:
    def slow(h: BaseHTTPRequestHandler, data: dict[str, Any]) -> None:
        time.sleep(1.5)
        send_json(h, 200, body())

    server = serve([slow])
    with Client("compatible", base_url=server.url, deadline=0.3, min_attempt=0.05) as client:
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            client.chat(model="m", messages=MSGS)
        elapsed = time.monotonic() - t0
    assert elapsed < 0.3 + 0.25  # bounded by the deadline, plus scheduling noise


# --------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(
    ("exc", "expected", "retryable"),
    [
        (httpx.ConnectTimeout, TimeoutError, True),
        (httpx.ReadTimeout, TimeoutError, True),
        (httpx.WriteTimeout, TimeoutError, True),
        (httpx.PoolTimeout, TimeoutError, True),
        (httpx.ConnectError, ConnectionError, True),
        (httpx.ReadError, ConnectionError, True),
        (httpx.WriteError, ConnectionError, True),
        (httpx.CloseError, ConnectionError, True),
        (httpx.RemoteProtocolError, ConnectionError, True),
        (httpx.ProxyError, ConnectionError, True),
        (httpx.UnsupportedProtocol, ConnectionError, False),
        (httpx.LocalProtocolError, ConnectionError, False),
        (httpx.DecodingError, InvalidResponseError, False),
    ],
)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_httpx_exception_is_classified(
    mode: str, exc: type[Exception], expected: type[LLMError], retryable: bool
) -> None:
    def raise_it(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)  # type: ignore[call-arg]

    opts: dict[str, Any] = {"transport": httpx.MockTransport(raise_it), "retry": 1}
    if mode == "sync":
        with pytest.raises(expected) as info:
            Client(**opts).chat(model="m", messages=MSGS)
    else:

        async def go() -> None:
            await AsyncClient(**opts).chat(model="m", messages=MSGS)

        with pytest.raises(expected) as info:
            arun(go())
    assert type(info.value) is expected
    assert info.value.retryable is retryable
    assert exc.__name__ in str(info.value)


def test_map_error_leaves_bugs_alone() -> None:
    assert map_error(KeyError("x"), "p") is None
    assert isinstance(map_error(OSError("x"), "p"), ConnectionError)


# --------------------------------------------------------------------------- streams and layers


def test_stream_retries_before_first_event_only() -> None:
    clock = VirtualClock()
    midstream_error = sse({"error": {"message": "overloaded", "type": "server_error"}})
    transport = ScriptedTransport(
        clock,
        [
            Scripted(status=503, json={"error": {"message": "x"}}),
            Scripted(chunks=[delta("a"), midstream_error]),
        ],
    )
    sink = MemorySink()
    client = Client(transport=transport, clock=clock, telemetry=sink, seed=0)
    stream = client.stream(model="m", messages=MSGS)
    got: list[str] = []
    with pytest.raises(LLMError) as info:
        got.extend(ev.text for ev in stream if ev.type == "text")
    assert got == ["a"]
    assert info.value.retryable  # retryable in kind, but it was delivered: not retried
    assert len(transport.requests) == 2
    assert [a.attempt for a in sink.attempts()] == [1, 2]
    assert sink.calls()[0].error_type == info.value.kind.value


def test_aggregated_stream_can_retry_midstream() -> None:
    clock = VirtualClock()
    midstream_error = sse({"error": {"message": "overloaded", "type": "server_error"}})
    transport = ScriptedTransport(
        clock, [Scripted(chunks=[delta("a"), midstream_error]), Scripted(chunks=STREAM)]
    )
    client = Client(transport=transport, clock=clock, seed=0)
    assert client.chat(model="m", messages=MSGS, stream=True).text == "Hello"
    assert len(transport.requests) == 2


class Recorder:
    """A layer that notes what it sees; optionally answers without calling the next layer."""

    def __init__(self, name: str, log: list[str], answer: ChatResponse | None = None) -> None:
        self.name, self.log, self.answer = name, log, answer

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        self.log.append(f"{self.name}:{ctx.attempt}")
        return self.answer or next(request, ctx)

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        self.log.append(f"{self.name}:{ctx.attempt}")
        return self.answer or await next(request, ctx)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_call_and_attempt_layers(mode: str) -> None:
    clock = VirtualClock()
    transport = ScriptedTransport(
        clock, [Scripted(status=500, json={"error": {"message": "x"}}), Scripted(json=body())]
    )
    log: list[str] = []
    opts: dict[str, Any] = {
        "transport": transport,
        "clock": clock,
        "layers": [Recorder("call", log)],
        "attempt_layers": [Recorder("attempt", log)],
        "telemetry": MemorySink(),
    }
    if mode == "sync":
        client: Any = Client(**opts)
        client.chat(model="m", messages=MSGS)
    else:
        client = AsyncClient(**opts)
        arun(client.chat(model="m", messages=MSGS))
    assert log == ["call:0", "attempt:0", "attempt:1"]
    names = [type(layer).__name__ for layer in client.layers]
    assert names == ["TelemetryLayer", "DeadlineLayer", "Recorder", "RetryLayer", "Recorder"]


def test_short_circuit_layer_serves_a_stream() -> None:
    canned = ChatResponse(text="cached!", model="m", provider="openai", finish_reason="stop")
    client = Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(500)),
        layers=[Recorder("cache", [], answer=canned)],
    )
    stream = client.stream(model="m", messages=MSGS)
    assert isinstance(stream, ChatStream)
    assert [ev.text for ev in stream if ev.type == "text"] == ["cached!"]
    assert stream.response is canned


def test_bad_layer_is_rejected() -> None:
    with pytest.raises(TypeError, match="not a layer"):
        Client(layers=[object()])  # type: ignore[list-item]


# --------------------------------------------------------------------------- construction


def test_api_key_from_env_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-envkey-1234567890abcdef")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json=body())

    client = Client(transport=httpx.MockTransport(handler))
    client.chat(model="m", messages=MSGS)
    assert seen == ["Bearer sk-envkey-1234567890abcdef"]
    assert "sk-envkey" not in repr(client)
    assert isinstance(client.endpoint.api_key, APIKey)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="base_url"):
        Client("compatible")
    with pytest.raises(ValueError, match="unknown provider"):
        Client("nope")
    with pytest.raises(TypeError, match="api_key"):
        Client(api_key=123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        Client(
            http_client=httpx.Client(), transport=httpx.MockTransport(lambda r: httpx.Response(200))
        )
    client = Client("anthropic", api_key="k")
    assert client.provider == "anthropic"
    assert client.endpoint.base_url.startswith("https://api.anthropic.com")


def test_bad_arguments_are_typed_errors() -> None:
    client = Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body())))
    with pytest.raises(ValueError, match="empty"):
        client.chat(model="m", messages=[])
    with pytest.raises(ValueError, match="role"):
        client.chat(model="m", messages=[{"role": "robot", "content": "x"}])
    with pytest.raises(ValueError, match="model"):
        client.chat(model="", messages=MSGS)
    with pytest.raises(TypeError, match="tool"):
        client.chat(model="m", messages=MSGS, tools=["search"])  # type: ignore[list-item]


def test_tools_in_every_shape() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    tools = as_tools(
        [
            Tool("a"),
            {"name": "b", "description": "bee", "parameters": schema},
            {"type": "function", "function": {"name": "c", "parameters": schema}},
            {"name": "d", "input_schema": schema},
        ]
    )
    assert [t.name for t in tools] == ["a", "b", "c", "d"]
    assert tools[2].parameters == schema
    assert tools[3].parameters == schema


def test_close_owned_client_only() -> None:
    mine = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body())))
    with Client(http_client=mine) as client:
        client.chat(model="m", messages=MSGS)
    assert not mine.is_closed
    owned = Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    owned.close()
    assert owned.http.is_closed


def test_overloaded_then_success_sync_and_async_agree() -> None:
    def script() -> list[Scripted]:
        return [Scripted(status=503, json={"error": {"message": "x"}}), Scripted(json=body())]

    results = []
    for cls in (Client, AsyncClient):
        clock = VirtualClock()
        sink = MemorySink()
        transport = ScriptedTransport(clock, script())
        client: Any = cls(transport=transport, clock=clock, telemetry=sink, seed=9)
        call = client.chat(model="m", messages=MSGS)
        resp = arun(call) if cls is AsyncClient else call
        results.append(
            (resp.text, [(a.status, a.retry_delay) for a in sink.attempts()], clock.now())
        )
    assert results[0] == results[1]


def test_error_kinds_from_statuses() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(503, json={"error": {"message": "x"}}))
    with pytest.raises(OverloadedError):
        Client(transport=transport, retry=1).chat(model="m", messages=MSGS)
    transport = httpx.MockTransport(lambda r: httpx.Response(500, text="<html>oops</html>"))
    with pytest.raises(ServerError):
        Client(transport=transport, retry=1).chat(model="m", messages=MSGS)


def test_stream_that_ends_before_any_event_still_reports() -> None:
    clock = VirtualClock()
    transport = ScriptedTransport(clock, [Scripted(chunks=[b": ping\n\n", b"data: [DONE]\n\n"])])
    sink = MemorySink()
    client = Client(transport=transport, clock=clock, telemetry=sink)
    with client.stream(model="m", messages=MSGS) as stream:
        assert list(stream) == []
    assert stream.response is not None
    assert stream.response.text == ""
    assert [r.kind for r in sink.records] == ["attempt", "call"]
    assert sink.calls()[0].error_type is None


def test_abandoned_stream_is_reported_cancelled() -> None:
    clock = VirtualClock()
    transport = ScriptedTransport(clock, [Scripted(chunks=STREAM, chunk_gap=0.1)])
    sink = MemorySink()
    client = Client(transport=transport, clock=clock, telemetry=sink)
    with client.stream(model="m", messages=MSGS) as stream:
        next(iter(stream))
    assert stream.response is None
    assert [r.error_type for r in sink.records] == ["cancelled", "cancelled"]


def test_response_headers_left_for_layers() -> None:
    seen: list[str | None] = []

    class Peek(Recorder):
        def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
            out = next(request, ctx)
            headers = ctx.attempts[-1].headers
            assert headers is not None
            seen.append(headers.get("x-ratelimit-remaining-requests"))
            return out

    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, json=body(), headers={"x-ratelimit-remaining-requests": "7"})
    )
    Client(transport=transport, attempt_layers=[Peek("peek", [])]).chat(model="m", messages=MSGS)
    assert seen == ["7"]


def test_the_chat_keywords_are_one_signature_on_all_four_methods() -> None:
    import inspect

    from llmkit.options import chat_args

    keywords = list(inspect.signature(chat_args).parameters)
    for method in (Client.chat, Client.stream, AsyncClient.chat, AsyncClient.stream):
        assert list(inspect.signature(method).parameters) == ["self", *keywords], method
    assert inspect.iscoroutinefunction(AsyncClient.chat)
    # AsyncClient.stream returns a manager: ``async with`` it, or ``await`` it for the stream
    assert not inspect.iscoroutinefunction(AsyncClient.stream)


def test_async_bad_arguments_raise_when_awaited_not_when_called() -> None:
    client = AsyncClient(
        api_key="sk-test-123", transport=httpx.MockTransport(lambda r: httpx.Response(500))
    )
    pending = client.chat(model="m", messages=[])  # no error yet: a coroutine, as async def
    with pytest.raises(ValueError, match="must not be empty"):
        asyncio.run(pending)
