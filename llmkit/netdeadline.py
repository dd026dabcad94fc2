"""Every socket operation of a sync attempt bounded by the call's deadline, headers included.

httpx's timeouts bound each socket operation, not their sum: a server that sends its response
headers one byte every half second never trips a 2 s read timeout, and the watchdog
(:mod:`llmkit.watchdog`) can only cut a socket it knows, once headers are in. So the sync
transport wraps the httpcore network backend of its connection pool: while an attempt runs
(:func:`attempt_deadline`), each connect, TLS handshake, read and write gets at most the time
left before the deadline as its timeout, and one that would start after the deadline raises
httpcore's timeout at once. Outside an attempt (another user of an injected client, a stream
already handed to the caller, which the watchdog guards) nothing changes.

The deadline travels in a :class:`~contextvars.ContextVar`, so concurrent attempts in other
threads each see their own. Only the system clock's seconds are socket seconds: attempts on
another clock set no deadline here.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import time
import typing
from collections.abc import Iterator

import httpcore

__all__ = ["attempt_deadline", "install"]

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "llmkit_attempt_deadline", default=None
)


@contextlib.contextmanager
def attempt_deadline(deadline: float | None) -> Iterator[None]:
    """Bound the socket operations in this block by ``deadline`` (``time.monotonic()``)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def _cut(timeout: float | None, exc: type[Exception]) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc("the call's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cut(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cut(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        cut = _cut(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, cut))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        cut = _cut(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_tcp(host, port, cut, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        cut = _cut(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_unix_socket(path, cut, socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def install(transport: object) -> bool:
    """Wrap the network backend of ``transport``'s httpcore pool (an ``httpx.HTTPTransport``);
    False when it has none (a custom or mock transport: its own timing applies)."""
    pool = getattr(transport, "_pool", None)
    if not isinstance(pool, httpcore.ConnectionPool):
        return False
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, _Backend):
        return True
    if not isinstance(backend, httpcore.NetworkBackend):
        return False
    pool._network_backend = _Backend(backend)
    return True
