"""The sync watchdog: a socket read blocked at the deadline is cut on the real clock."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from llmkit.client import Client
from llmkit.clock import VirtualClock
from llmkit.deadline import Timeouts
from llmkit.errors import DeadlineExceededError
from llmkit.telemetry import MemorySink
from llmkit.watchdog import Watchdog, watchdog

MSGS = [{"role": "user", "content": "hi"}]
BODY = json.dumps(
    {
        "id": "c1",
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
    }
).encode()
SSE = (
    b"".join(
        b"data: " + json.dumps(obj).encode() + b"\n\n"
        for obj in (
            {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "ok"}}]},
            {
                "id": "c1",
                "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            },
        )
    )
    + b"data: [DONE]\n\n"
)
TRICKLE = 0.05
STALL_AFTER = 22  # bytes, ~1.1 s: the stall starts just before a 1.2 s deadline
STALL = 5.0


# ------------------------------------------------------------------ the watchdog itself


def test_due_entries_fire_in_deadline_order_and_cancelled_ones_never() -> None:
    dog = Watchdog()
    fired: list[str] = []
    done = threading.Event()
    # Deadlines 0.3 s ahead, so a descheduled test thread still registers them all in time.
    now = time.monotonic() + 0.3
    dog.watch(now + 0.02, lambda: fired.append("b"))
    gone = dog.watch(now + 0.01, lambda: fired.append("never"))
    w = dog.watch(now + 0.01, lambda: fired.append("a"))
    dog.watch(now + 0.03, done.set)
    dog.cancel(gone)
    assert done.wait(5)
    assert fired == ["a", "b"]
    assert w.fired
    assert not gone.fired
    assert dog.pending() == 0


def test_cancelled_entries_are_compacted_away() -> None:
    dog = Watchdog()
    far = time.monotonic() + 3600
    for _ in range(1000):
        dog.cancel(dog.watch(far, lambda: None))
    keep = dog.watch(far, lambda: None)
    assert dog.pending() == 1
    assert len(dog._heap) < 100  # not 1001 stale entries waiting an hour to be popped
    dog.cancel(keep)
    dog.cancel(keep)  # twice is harmless


def test_a_failing_callback_does_not_stop_the_watchdog() -> None:
    dog = Watchdog()
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    now = time.monotonic()
    dog.watch(now, boom)
    dog.watch(now + 0.01, done.set)
    assert done.wait(5)


# ------------------------------------------------------------------ a real stalling server


@dataclass
class Server:
    url: str
    stall: set[int]
    """Request numbers (1-based) that trickle, then stall just before the deadline."""
    stream: bool = False
    requests: int = 0
    connections: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def _read_request(conn: socket.socket, buf: bytes) -> bytes | None:
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = conn.recv(65536)
        if not data:
            return None
        rest += data
    return rest[length:]


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """Loopback HTTP/1.1 with keep-alive. A stalling request sends its header at once, then
    one body byte per 50 ms, then nothing for 5 s (a body of known length, or for a stream an
    SSE body that ends at EOF); any other request is answered at once."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    state = Server(f"http://127.0.0.1:{srv.getsockname()[1]}/v1", set(), bool(request.param))

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            buf = b""
            try:
                while (rest := _read_request(conn, buf)) is not None:
                    buf = rest
                    state.requests += 1
                    body = SSE if state.stream else BODY
                    kind = "text/event-stream" if state.stream else "application/json"
                    if state.requests not in state.stall:
                        conn.sendall(
                            f"HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\n"
                            f"content-length: {len(body)}\r\n\r\n".encode()
                            + body
                        )
                        continue
                    length = "" if state.stream else f"content-length: {len(body)}\r\n"
                    conn.sendall(
                        f"HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\n{length}\r\n".encode()
                    )
                    for b in body[:STALL_AFTER]:
                        if state.stop.wait(TRICKLE):
                            return
                        conn.sendall(bytes([b]))
                    state.stop.wait(STALL)
                    return
            except OSError:
                return

    def accept() -> None:
        while not state.stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            state.connections += 1
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield state
    state.stop.set()
    t.join(2)
    srv.close()


@pytest.mark.parametrize("server", [False, True], ids=["body", "stream"], indirect=True)
def test_a_read_stalled_at_the_deadline_is_cut_and_the_connection_not_reused(
    server: Server,
) -> None:
    server.stall = {2}
    sink = MemorySink()
    client = Client(
        "compatible",
        base_url=server.url,
        api_key="sk-test",
        deadline=1.2,
        timeout=Timeouts(read=3.0),
        telemetry=sink,
    )
    with client:
        stream = server.stream
        assert client.chat(model="m", messages=MSGS, stream=stream).text == "ok"  # warm: keep-alive
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError, match="cut at the deadline"):
            client.chat(model="m", messages=MSGS, stream=stream)
        elapsed = time.monotonic() - started
        # Without the cut the read in flight would wait out the read timeout (shrunk to the
        # ~1.2 s left when it started): ~2.3 s in all. The margin absorbs a loaded machine.
        assert 1.15 < elapsed < 1.9
        assert watchdog.pending() == 0
        assert client.chat(model="m", messages=MSGS, stream=stream).text == "ok"
    assert server.requests == 3
    assert server.connections == 2  # the cut connection was dropped, not handed out again
    errors = [a.error_type for a in sink.attempts()]
    assert errors == [None, "timeout", None]


@pytest.mark.parametrize("server", [False], indirect=True)
def test_virtual_clock_deadlines_never_reach_the_watchdog(server: Server) -> None:
    # Virtual seconds (here 5.0) read as monotonic time are long past: armed, they would cut
    # every read at once.
    clock = VirtualClock()
    client = Client("compatible", base_url=server.url, api_key="sk-test", clock=clock, deadline=5)
    with client:
        for _ in range(3):
            assert client.chat(model="m", messages=MSGS).text == "ok"
    assert server.connections == 1
