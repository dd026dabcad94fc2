"""The body deadline, and the watchdog that cuts a sync read at the call's deadline."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from llmkit.errors import DeadlineExceededError
from llmkit.layers import CallContext
from llmkit.transport.endpoint import Endpoint
from llmkit.watchdog import Watch, watchdog

__all__ = ["BodyDeadline", "arm_watchdog"]


class BodyDeadline(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that stops waiting for more bytes once the call's deadline has passed.

    httpx's read timeout bounds each socket read, so a server trickling a byte every few
    seconds could hold a non-stream call far past its deadline. Between chunks this raises
    DeadlineExceededError (the call's time ran out; not retryable: no time is left to retry
    in). A chunk already received is never thrown away. That alone leaves one socket read of
    overrun (up to the read timeout shrunk when the attempt began); on the system clock the
    sync transport also holds a watchdog registration (``watch``) that shuts the socket down
    at the deadline, so that read returns at once. :meth:`close` cancels it *before* the
    connection goes back to the pool, so a pooled socket is never cut. ``check=False`` (a
    stream: its reader checks after each chunk) keeps only the watchdog part.
    """

    __slots__ = ("_check_each", "_ctx", "_endpoint", "_inner", "_watch")

    def __init__(
        self,
        inner: Any,
        endpoint: Endpoint,
        ctx: CallContext,
        watch: Watch | None = None,
        *,
        check: bool = True,
    ) -> None:
        self._inner = inner
        self._endpoint = endpoint
        self._ctx = ctx
        self._watch = watch
        self._check_each = check

    def _check(self) -> None:
        remaining = self._ctx.remaining()
        if remaining is not None and remaining < 0:
            raise DeadlineExceededError(
                f"call deadline exceeded while reading the body ({-remaining:.3f}s over)",
                provider=self._endpoint.provider,
            )

    def __iter__(self) -> Iterator[bytes]:
        if not self._check_each:
            yield from self._inner
            return
        for chunk in self._inner:
            yield chunk
            self._check()  # before waiting for the next one
        if self._watch is not None and self._watch.fired:
            self._check()  # a body without a length ends at the cut as if complete: it is not

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk
            self._check()

    def close(self) -> None:
        if self._watch is not None:
            watchdog.cancel(self._watch)  # first: the pool may hand the socket on below
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()


def arm_watchdog(response: httpx.Response, deadline: float) -> Watch | None:
    """Register a cut of ``response``'s socket at ``deadline`` (monotonic seconds).

    Only for an HTTP/1.x connection of httpcore's sync backend (the socket carries this one
    response; an HTTP/2 socket is shared, so it is left alone) -- otherwise None and the
    chunk checks alone apply.
    """
    ext = response.extensions
    stream = ext.get("network_stream")
    if stream is None or response.is_closed or ext.get("http_version", b"HTTP/1.1") not in _HTTP1:
        return None
    try:
        sock = stream.get_extra_info("socket")
    except Exception:  # a third-party stream: no socket to cut
        return None
    if not isinstance(sock, socket.socket):
        return None
    return watchdog.watch(deadline, lambda: _shutdown(sock))


_HTTP1 = (b"HTTP/1.1", b"HTTP/1.0")


def _shutdown(sock: socket.socket) -> None:
    """Make a read blocked on ``sock`` return now (EOF). ``socket.socket.shutdown`` directly:
    ``SSLSocket.shutdown`` also drops its SSL object, unsafe under a read in another thread."""
    with contextlib.suppress(OSError):  # already closed: nothing is blocked on it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
