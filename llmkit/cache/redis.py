"""Redis cache, for many workers on many hosts sharing one cache (redis-py, optional extra).

Keys are ``prefix + key``; expiry is Redis's own (``SET ... PX``), on the server's clock.
Every Redis failure becomes :class:`~llmkit.errors.CacheUnavailableError`, which the cache
layer logs and counts before carrying on without the cache.

A Redis that accepts connections and never answers must not hold a call: ``get``/``set``/
``delete`` take ``timeout=`` (seconds) and give up after it (the command runs in a small pool
of worker threads, since a blocking redis-py call cannot be interrupted; the thread itself is
freed by ``socket_timeout``), raising ``CacheUnavailableError`` caused by ``TimeoutError``.
``aget``/``aset``/``adelete`` use ``redis.asyncio`` (one client per event loop), so an async
cache layer awaits Redis instead of blocking the loop; :meth:`aclose` closes the running loop's
client. Built from a ``redis.Redis`` client instead of a URL (and no ``aclient``), the async
methods run the sync ones in a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from typing import TYPE_CHECKING, Any

from llmkit.errors import CacheUnavailableError

if TYPE_CHECKING:
    import redis as redis_lib
    import redis.asyncio as aredis_lib

__all__ = ["RedisCache"]


class RedisCache:
    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis_lib.Redis | None = None,
        aclient: aredis_lib.Redis | None = None,
        prefix: str = "llmkit:cache:",
        socket_timeout: float = 2.0,
    ) -> None:
        if client is None:
            if url is None:
                raise ValueError("give a redis URL or a redis.Redis client")
            import redis as redis_lib  # noqa: PLC0415 - optional dependency, imported on use

            client = redis_lib.Redis.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
        self.client = client
        self.prefix = prefix
        self._url = url
        self._socket_timeout = socket_timeout
        self._aclient = aclient
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._workers: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # -- sync

    def _call(
        self, what: str, fn: Any, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        import redis as redis_lib  # noqa: PLC0415

        try:
            if timeout is None:
                return fn(*args, **kwargs)
            return self._pool().submit(fn, *args, **kwargs).result(timeout)
        except concurrent.futures.TimeoutError as exc:
            raise CacheUnavailableError(
                f"Redis cache {what} took more than {timeout:.3g}s"
            ) from exc
        except redis_lib.RedisError as exc:
            # The message names the error class only: a URL with a password must not leak.
            raise CacheUnavailableError(f"Redis cache {what} failed ({type(exc).__name__})") from (
                TimeoutError(type(exc).__name__) if _timed_out(exc) else exc
            )

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._workers is None:
                self._workers = concurrent.futures.ThreadPoolExecutor(
                    max_workers=4, thread_name_prefix="llmkit-redis"
                )
            return self._workers

    def get(self, key: str, *, timeout: float | None = None) -> bytes | None:
        value = self._call("read", self.client.get, self.prefix + key, timeout=timeout)
        return _bytes(value)

    def set(
        self, key: str, value: bytes, *, ttl: float | None, timeout: float | None = None
    ) -> None:
        self._call("write", self.client.set, self.prefix + key, value, px=_px(ttl), timeout=timeout)

    def delete(self, key: str, *, timeout: float | None = None) -> None:
        self._call("delete", self.client.delete, self.prefix + key, timeout=timeout)

    def clear(self) -> None:
        """Delete this prefix's keys only (SCAN, never FLUSHDB)."""

        def run() -> None:
            batch: list[Any] = []
            for k in self.client.scan_iter(match=self.prefix + "*", count=500):
                batch.append(k)
                if len(batch) >= 500:
                    self.client.delete(*batch)
                    batch = []
            if batch:
                self.client.delete(*batch)

        self._call("clear", run)

    def close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown(wait=False, cancel_futures=True)
        self._call("close", self.client.close)

    # -- async

    def _async_client(self) -> Any:
        if self._aclient is not None:
            return self._aclient
        if self._url is None:
            return None
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            import redis.asyncio as aredis_lib  # noqa: PLC0415

            client = aredis_lib.Redis.from_url(
                self._url,
                socket_timeout=self._socket_timeout,
                socket_connect_timeout=self._socket_timeout,
            )
            self._aclients[loop] = client
        return client

    async def _acall(self, what: str, op: str, *args: Any, **kwargs: Any) -> Any:
        import redis as redis_lib  # noqa: PLC0415

        client = self._async_client()
        if client is None:  # no URL to build an async client from: a worker thread
            return await asyncio.to_thread(getattr(self, op), *args, **kwargs)
        key = self.prefix + args[0]
        try:
            if op == "get":
                return _bytes(await client.get(key))
            if op == "set":
                return await client.set(key, args[1], px=_px(kwargs["ttl"]))
            return await client.delete(key)
        except redis_lib.RedisError as exc:
            raise CacheUnavailableError(f"Redis cache {what} failed ({type(exc).__name__})") from (
                TimeoutError(type(exc).__name__) if _timed_out(exc) else exc
            )

    async def aget(self, key: str) -> bytes | None:
        out: bytes | None = await self._acall("read", "get", key)
        return out

    async def aset(self, key: str, value: bytes, *, ttl: float | None) -> None:
        await self._acall("write", "set", key, value, ttl=ttl)

    async def adelete(self, key: str) -> None:
        await self._acall("delete", "delete", key)

    async def aclose(self) -> None:
        """Close the async client of the running loop (and one given as ``aclient``)."""
        client = self._aclients.pop(asyncio.get_running_loop(), None) or self._aclient
        if client is not None:
            await client.aclose()

    def __repr__(self) -> str:
        return f"RedisCache(prefix={self.prefix!r})"


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _px(ttl: float | None) -> int | None:
    return None if ttl is None else max(1, round(ttl * 1000))


def _timed_out(exc: BaseException) -> bool:
    import redis as redis_lib  # noqa: PLC0415

    return isinstance(exc, redis_lib.TimeoutError)
