"""A loopback TCP server that misbehaves on purpose: each connection runs a script that
writes raw bytes (headers a byte at a time, a gzip bomb, a reset mid-body...).

Used as ``with RawServer(script) as url:``; ``script(conn)`` gets the accepted socket after
the request has been read (up to its blank line and any content-length body).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType

Script = Callable[[socket.socket, "threading.Event"], None]


class RawServer:
    def __init__(self, script: Script, *, read_request: bool = True) -> None:
        self.script = script
        self.read_request = read_request
        self.stop = threading.Event()
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.srv.settimeout(0.2)
        self.connections = 0
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.srv.getsockname()[1]}/v1"

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                if self.read_request:
                    _read_request(conn)
                self.script(conn, self.stop)
            except OSError:
                return

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def __enter__(self) -> str:
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self.url

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(3)
        self.srv.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        got = conn.recv(65536)
        if not got:
            return data
        data += got
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        got = conn.recv(65536)
        if not got:
            break
        body += got
    return head + b"\r\n\r\n" + body


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accept and never answer (a hung Redis, a wedged proxy)."""
    stop.wait(60)


def answer(body: bytes, content_type: str = "application/json") -> Script:
    """A script answering every request on the connection with ``body`` (keep-alive)."""

    def script(conn: socket.socket, stop: threading.Event) -> None:
        head = f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n"
        head += f"content-length: {len(body)}\r\n\r\n"
        while not stop.is_set():
            conn.sendall(head.encode() + body)
            if not _read_request(conn):
                return

    return script


def reset(conn: socket.socket) -> None:
    """Close with RST instead of FIN: the peer sees a connection reset."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
