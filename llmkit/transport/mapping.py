"""Transport exceptions (httpx, OS, asyncio) to exactly one error kind each."""

from __future__ import annotations

import builtins

import httpx

from llmkit.deadline import AttemptTimeouts
from llmkit.errors import (
    ConnectionError,
    DeadlineExceededError,
    InvalidResponseError,
    LLMError,
    TimeoutError,
)

__all__ = ["map_error"]

_PHASE: dict[type[BaseException], str] = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


def map_error(
    exc: BaseException,
    provider: str,
    timeouts: AttemptTimeouts | None = None,
    *,
    idle: bool = False,
) -> LLMError | None:
    """The LLMError for a transport exception, or None for an exception that is a bug."""
    if isinstance(exc, LLMError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException) and _refused(exc):
        # httpx-aiohttp maps every aiohttp ClientConnectionError (refused, DNS, and a server
        # that disconnects: ServerDisconnectedError) to ConnectTimeout.
        return ConnectionError(f"{name}: {exc}", provider=provider)
    if isinstance(exc, httpx.TimeoutException | builtins.TimeoutError):
        phase = _PHASE.get(type(exc), "read")
        limit = getattr(timeouts, phase) if timeouts is not None else None
        secs = f" after {limit:.3g}s" if limit is not None else ""
        if timeouts is not None and phase in timeouts.shrunk:
            return DeadlineExceededError(
                f"call deadline exceeded: {phase} timeout shrunk to the time left{secs} ({name})",
                provider=provider,
            )
        what = "stream idle" if idle and phase == "read" else f"{phase} timeout"
        return TimeoutError(f"{what}{secs} ({name})", provider=provider)
    if isinstance(exc, httpx.DecodingError | httpx.TooManyRedirects):
        return InvalidResponseError(f"{name}: {exc}", provider=provider)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return ConnectionError(f"{name}: {exc}", provider=provider, retryable=False)
    if isinstance(exc, httpx.HTTPError | OSError):
        return ConnectionError(f"{name}: {exc}" if str(exc) else name, provider=provider)
    return None


def _refused(exc: BaseException) -> bool:
    """True when a "timeout" was caused by a non-timeout OSError (a refused connection) or by
    a non-timeout aiohttp error (a server that disconnected)."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, builtins.TimeoutError):
            return False
        if isinstance(cause, OSError) or type(cause).__module__.startswith("aiohttp."):
            return True
        cause = cause.__cause__
    return False
