"""One error tree for every failure llmkit can see.

Every failure -- an HTTP status with or without a JSON body, a transport exception, a timeout,
an error event inside a 200 stream, a malformed or truncated body -- becomes exactly one
subclass of :class:`LLMError`. Callers branch on ``kind`` (a string, stable, good for telemetry)
or on the class; ``retryable`` says whether trying the same request again can help::

    LLMError                              kind                 retryable by default
    ├── RateLimitError                    rate_limit           yes
    ├── QuotaExhaustedError               quota_exhausted      no   (429 insufficient_quota, 402)
    ├── OverloadedError                   overloaded           yes  (Anthropic 529, 503)
    ├── ServerError                       server_error         yes  (500, 502, 504, other 5xx)
    ├── TimeoutError                      timeout              yes  (connect/read/write/pool,
    │                                                               idle stream, 408)
    ├── ConnectionError                   connection           yes  (refused, reset, DNS)
    ├── BadRequestError                   bad_request          no
    │   ├── ContextLengthError            context_length       no
    │   └── ContentFilterError            content_filter       no
    ├── AuthError                         auth                 no   (401)
    ├── PermissionDeniedError             permission           no   (403)
    ├── NotFoundError                     not_found            no   (404, unknown model)
    └── InvalidResponseError              invalid_response     no   (malformed, truncated)

    DeadlineExceededError is a TimeoutError raised when the call's total deadline, not one
    attempt's timeout, ran out.

A server's ``x-should-retry: true|false`` header overrides ``retryable``, as the official SDKs
do. ``retry_after`` is in seconds (from ``retry-after-ms``, ``retry-after`` as seconds or an
HTTP date, or a provider's rate-limit reset header), or None.

Messages are the provider's own words with anything key-like masked; an error never carries the
API key or the prompt.
"""

from __future__ import annotations

import builtins
from enum import StrEnum
from typing import ClassVar

from llmkit.secrets import scrub

__all__ = [
    "AuthError",
    "BadRequestError",
    "ConnectionError",
    "ContentFilterError",
    "ContextLengthError",
    "DeadlineExceededError",
    "ErrorKind",
    "InvalidResponseError",
    "LLMError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "QuotaExhaustedError",
    "RateLimitError",
    "ServerError",
    "TimeoutError",
    "error_class",
]


class ErrorKind(StrEnum):
    """The closed set of failure kinds; ``str(kind)`` is the telemetry value."""

    RATE_LIMIT = "rate_limit"
    QUOTA_EXHAUSTED = "quota_exhausted"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BAD_REQUEST = "bad_request"
    CONTEXT_LENGTH = "context_length"
    CONTENT_FILTER = "content_filter"
    AUTH = "auth"
    PERMISSION = "permission"
    NOT_FOUND = "not_found"
    INVALID_RESPONSE = "invalid_response"


class LLMError(Exception):
    """Base of every llmkit failure. See the module docstring for the tree."""

    kind: ClassVar[ErrorKind]
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        code: str | None = None,
    ) -> None:
        self.message = scrub(message)
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        self.retryable = self.default_retryable if retryable is None else retryable
        self.code = code
        super().__init__(self.message)

    def __str__(self) -> str:
        bits = [f"{self.kind}"]
        if self.provider:
            bits.append(self.provider)
        if self.status is not None:
            bits.append(str(self.status))
        head = " ".join(bits)
        tail = f" (request_id={self.request_id})" if self.request_id else ""
        return f"[{head}] {self.message}{tail}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind.value!r}, provider={self.provider!r}, "
            f"status={self.status!r}, retryable={self.retryable!r}, "
            f"retry_after={self.retry_after!r}, request_id={self.request_id!r}, "
            f"message={self.message!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword-only state across pickling (multiprocessing, caches).
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[LLMError], message: str, state: dict[str, object]) -> LLMError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class RateLimitError(LLMError):
    kind = ErrorKind.RATE_LIMIT
    default_retryable = True


class QuotaExhaustedError(LLMError):
    kind = ErrorKind.QUOTA_EXHAUSTED


class OverloadedError(LLMError):
    kind = ErrorKind.OVERLOADED
    default_retryable = True


class ServerError(LLMError):
    kind = ErrorKind.SERVER_ERROR
    default_retryable = True


class TimeoutError(LLMError, builtins.TimeoutError):  # shadows the builtin on purpose, like httpx
    kind = ErrorKind.TIMEOUT
    default_retryable = True


class DeadlineExceededError(TimeoutError):
    """The call's total deadline ran out (not retryable: there is no time left to retry in)."""

    default_retryable = False


class ConnectionError(LLMError, builtins.ConnectionError):
    kind = ErrorKind.CONNECTION
    default_retryable = True


class BadRequestError(LLMError):
    kind = ErrorKind.BAD_REQUEST


class ContextLengthError(BadRequestError):
    kind = ErrorKind.CONTEXT_LENGTH


class ContentFilterError(BadRequestError):
    kind = ErrorKind.CONTENT_FILTER


class AuthError(LLMError):
    kind = ErrorKind.AUTH


class PermissionDeniedError(LLMError):
    kind = ErrorKind.PERMISSION


class NotFoundError(LLMError):
    kind = ErrorKind.NOT_FOUND


class InvalidResponseError(LLMError):
    kind = ErrorKind.INVALID_RESPONSE


_BY_KIND: dict[ErrorKind, type[LLMError]] = {
    cls.kind: cls
    for cls in (
        RateLimitError,
        QuotaExhaustedError,
        OverloadedError,
        ServerError,
        TimeoutError,
        ConnectionError,
        BadRequestError,
        ContextLengthError,
        ContentFilterError,
        AuthError,
        PermissionDeniedError,
        NotFoundError,
        InvalidResponseError,
    )
}


def error_class(kind: ErrorKind | str) -> type[LLMError]:
    """The class for a kind (``error_class("rate_limit") is RateLimitError``)."""
    return _BY_KIND[ErrorKind(kind)]
