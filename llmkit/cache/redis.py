"""Redis cache, for many workers on many hosts sharing one cache (redis-py, optional extra).

Keys are ``prefix + key``; expiry is Redis's own (``SET ... PX``), on the server's clock.
Every Redis failure becomes :class:`~llmkit.errors.CacheUnavailableError`, which the cache
layer logs and counts before carrying on without the cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmkit.errors import CacheUnavailableError

if TYPE_CHECKING:
    import redis as redis_lib

__all__ = ["RedisCache"]


class RedisCache:
    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis_lib.Redis | None = None,
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

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import redis as redis_lib  # noqa: PLC0415

        try:
            return fn(*args, **kwargs)
        except redis_lib.RedisError as exc:
            # The message names the error class only: a URL with a password must not leak.
            raise CacheUnavailableError(
                f"Redis cache {what} failed ({type(exc).__name__})"
            ) from exc

    def get(self, key: str) -> bytes | None:
        value = self._call("read", self.client.get, self.prefix + key)
        if value is None:
            return None
        return value.encode("utf-8") if isinstance(value, str) else bytes(value)

    def set(self, key: str, value: bytes, *, ttl: float | None) -> None:
        px = None if ttl is None else max(1, round(ttl * 1000))
        self._call("write", self.client.set, self.prefix + key, value, px=px)

    def delete(self, key: str) -> None:
        self._call("delete", self.client.delete, self.prefix + key)

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
        self._call("close", self.client.close)

    def __repr__(self) -> str:
        return f"RedisCache(prefix={self.prefix!r})"
