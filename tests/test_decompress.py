"""Bounded decompression: a gzip bomb ends as InvalidResponseError with memory to spare, on
the sans-IO entry points and through the clients over a real loopback socket (stream too)."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from rawhttp import RawServer

import llmkit
from llmkit import decompress
from llmkit.client import AsyncClient, Client
from llmkit.decompress import MAX_BODY_BYTES, PIECE, BodyDecoder, decode_body
from llmkit.errors import InvalidResponseError

MiB = 1024 * 1024
MSGS = [{"role": "user", "content": "hi"}]


def bomb(mib: int, fill: bytes = b"\0") -> bytes:
    """``mib`` MiB once gunzipped, ~1 KB per MiB on the wire (concatenated gzip members)."""
    return gzip.compress(fill * (MiB // len(fill))) * mib


def peak(fn: Callable[[], Any]) -> tuple[BaseException | None, int]:
    """(what ``fn`` raised, the peak bytes Python allocated while it ran)."""
    tracemalloc.start()
    try:
        fn()
    except BaseException as exc:
        return exc, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return None, 0


def response(body: bytes, path: str = "/v1/chat/completions", status: int = 200) -> httpx.Response:
    request = httpx.Request("POST", "https://api.openai.com" + path)
    return httpx.Response(status, content=body, request=request)


# ------------------------------------------------------------------ sans-IO entry points


def test_default_cap_is_documented_and_refuses_a_bomb_just_past_it() -> None:
    assert 128 * MiB == MAX_BODY_BYTES
    assert "128 MiB" in (decompress.__doc__ or "")
    with pytest.raises(InvalidResponseError, match="larger than 134,217,728 bytes") as info:
        llmkit.parse_response("openai", response(bomb(MAX_BODY_BYTES // MiB + 1)))
    assert info.value.retryable is False


@pytest.mark.parametrize("entry", ["parse_response", "parse_stream", "classify"])
def test_sans_io_entry_points_stop_inflating_at_the_cap(entry: str) -> None:
    status = 500 if entry == "classify" else 200
    body = bomb(256)  # 256 MiB once inflated: 256 KB here

    def call() -> None:
        r = response(body, status=status)
        if entry == "classify":
            raise llmkit.classify("openai", r, max_body=4 * MiB)
        getattr(llmkit, entry)("openai", r, max_body=4 * MiB)

    exc, top = peak(call)
    assert isinstance(exc, InvalidResponseError), exc
    assert "larger than 4,194,304 bytes" in exc.message
    assert top < 4 * MiB + 3 * PIECE + MiB  # the cap, one piece in hand, the join's copy


def test_corrupt_and_truncated_gzip_are_invalid_responses() -> None:
    whole = gzip.compress(b'{"a": 1}' * 1000)
    with pytest.raises(InvalidResponseError, match="corrupt"):
        llmkit.parse_response("openai", response(whole[:10] + b"garbage" * 10))
    with pytest.raises(InvalidResponseError, match="truncated"):
        llmkit.parse_response("openai", response(whole[: len(whole) // 2]))


def test_decoder_round_trips_gzip_members_deflate_and_raw_deflate() -> None:
    text = b"hello world " * 50_000
    two = gzip.compress(text) + gzip.compress(text)
    chunks = [two[i : i + 999] for i in range(0, len(two), 999)]
    assert b"".join(decode_body(chunks, "gzip")) == text * 2
    assert b"".join(decode_body([zlib.compress(text)], "deflate")) == text
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = raw.compress(text) + raw.flush()
    assert b"".join(decode_body([raw_deflate], "deflate")) == text
    assert b"".join(decode_body([text], None)) == text
    assert b"".join(decode_body([text], "identity")) == text
    with pytest.raises(InvalidResponseError, match="unsupported content-encoding"):
        BodyDecoder("br")
    with pytest.raises(InvalidResponseError, match="larger than 10 bytes"):
        list(decode_body([b"x" * 11], None, max_body=10))  # identity bodies are capped too


# ------------------------------------------------------------------ clients over a real socket

SSE_PAD = b": " + b"p" * 4094 + b"\n"  # 4 KiB comment lines


def bomb_server(stream: bool) -> Callable[[socket.socket, threading.Event], None]:
    payload = bomb(64, SSE_PAD if stream else b"\0")
    ctype = "text/event-stream" if stream else "application/json"

    def script(conn: socket.socket, stop: threading.Event) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-encoding: gzip\r\n"
            f"content-length: {len(payload)}\r\n\r\n"
        )
        conn.sendall(head.encode() + payload)
        conn.recv(1)  # until the client hangs up

    return script


def client_call(mode: str, stream: str, url: str) -> Callable[[], Any]:
    kw: dict[str, Any] = {"base_url": url, "api_key": "sk-test", "retry": False}

    def sync() -> Any:
        with Client("compatible", **kw) as client:
            client.endpoint.max_body = 8 * MiB
            if stream == "stream":
                with client.stream(model="m", messages=MSGS) as s:
                    return list(s)
            return client.chat(model="m", messages=MSGS, stream=stream == "chat-stream")

    async def run_async() -> Any:
        async with AsyncClient("compatible", **kw) as client:
            client.endpoint.max_body = 8 * MiB
            if stream == "stream":
                async with await client.stream(model="m", messages=MSGS) as s:
                    return [ev async for ev in s]
            return await client.chat(model="m", messages=MSGS, stream=stream == "chat-stream")

    return sync if mode == "sync" else lambda: asyncio.run(run_async())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("stream", ["chat", "chat-stream", "stream"])
def test_clients_refuse_a_gzip_bomb_with_bounded_memory(mode: str, stream: str) -> None:
    with RawServer(bomb_server(stream != "chat")) as url:
        exc, top = peak(client_call(mode, stream, url))
    assert isinstance(exc, InvalidResponseError), repr(exc)
    assert "larger than 8,388,608 bytes" in exc.message
    assert top < 8 * MiB + 3 * PIECE + 2 * MiB  # 64 MiB if inflated whole


def test_a_gzipped_answer_still_parses() -> None:
    answer = {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}],
    }
    payload = gzip.compress(json.dumps(answer).encode())

    def script(conn: socket.socket, stop: threading.Event) -> None:
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
            f"content-length: {len(payload)}\r\n\r\n"
        )
        conn.sendall(head.encode() + payload)

    with RawServer(script) as url, Client("compatible", base_url=url, api_key="sk-t") as client:
        assert client.chat(model="m", messages=MSGS).text == "ok"
