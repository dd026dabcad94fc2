"""One error tree for every failure llmkit can see.

Every failure -- an HTTP status with or without a JSON body, a transport exception, a timeout,
an error event inside a 200 stream, a malformed or truncated body -- becomes exactly one
subclass of :class:`LLMError`. Callers branch on ``kind`` (a string, stable, good for telemetry)
or on the class; ``retryable`` says whether trying the same request again can help::

    LLMError                              kind                 retryable by default
    ├── RateLimitError                    rate_limit           yes
    ├── QuotaExhaustedError               quota_exhausted      no   (429 insufficient_quota, 402)
    ├── OverloadedError                   overloaded           yes  (Anthropic 529, 503)
    │   └── CircuitOpenError              overloaded           no   (refused locally, not sent)
    ├── ServerError                       server_error         yes  (500, 502, 504, other 5xx)
    ├── TimeoutError                      timeout              yes  (connect/read/write/pool,
    │   │                                                            idle stream, 408)
    │   └── DeadlineExceededError         timeout              no   (the call's total deadline)
    ├── ConnectionError                   connection           yes  (refused, reset, DNS)
    │   ├── CacheUnavailableError         connection           -    (cache backend down; the
    │   │                                                            call goes on uncached)
    │   └── QuotaUnavailableError         connection           no   (quota store down: the
    │                                                                call fails closed)
    ├── BadRequestError                   bad_request          no
    │   ├── ContextLengthError            context_length       no
    │   └── ContentFilterError            content_filter       no
    ├── AuthError                         auth                 no   (401)
    ├── PermissionDeniedError             permission           no   (403)
    ├── NotFoundError                     not_found            no   (404, unknown model)
    ├── OverBudgetError                   over_budget          no   (refused before sending:
    │                                                                the request's token or
    │                                                                dollar cap, llmkit.spend)
    ├── OverQuotaError                    over_quota           no   (refused before sending:
    │                                                                a per-account/workflow/
    │                                                                job limit, llmkit.quota)
    ├── InvalidResponseError              invalid_response     no   (malformed, truncated)
    │   ├── CorruptEntryError             invalid_response     -    (undecodable cache entry:
    │   │                                                            ignored, logged, replaced)
    │   └── CassetteError (+ValueError)   invalid_response     no   (recorded traffic unusable)
    │       ├── CassetteNotFoundError (+FileNotFoundError)
    │       ├── CorruptCassetteError      bad YAML, missing keys, wrong version
    │       ├── CassetteMismatchError     a replayed request was never recorded
    │       └── UnplayedInteractionsError a strict replay left recordings unplayed
    └── AllTargetsFailedError (+ExceptionGroup)  kind/retryable of the failure that ended a
                                                 fallback chain; ``exceptions`` holds them all

A server's ``x-should-retry: true|false`` header overrides ``retryable``, as the official SDKs
do. ``retry_after`` is in seconds (from ``retry-after-ms``, ``retry-after`` as seconds or an
HTTP date, or a provider's rate-limit reset header), or None.

Messages are the provider's own words with anything key-like masked; an error never carries the
API key or the prompt.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from llmkit.secrets import APIKey, scrub

__all__ = [
    "AllTargetsFailedError",
    "AuthError",
    "BadRequestError",
    "CacheUnavailableError",
    "CassetteError",
    "CassetteMismatchError",
    "CassetteNotFoundError",
    "CircuitOpenError",
    "ConnectionError",
    "ContentFilterError",
    "ContextLengthError",
    "CorruptCassetteError",
    "CorruptEntryError",
    "DeadlineExceededError",
    "ErrorKind",
    "InvalidResponseError",
    "LLMError",
    "NotFoundError",
    "OverBudgetError",
    "OverQuotaError",
    "OverloadedError",
    "PermissionDeniedError",
    "QuotaExhaustedError",
    "QuotaUnavailableError",
    "RateLimitError",
    "ServerError",
    "TimeoutError",
    "UnplayedInteractionsError",
    "error_class",
    "readable_message",
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
    OVER_BUDGET = "over_budget"
    OVER_QUOTA = "over_quota"


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
        self.message = scrub(readable_message(message))
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        self.retryable = self.default_retryable if retryable is None else retryable
        self.code = code
        super().__init__(self.message)

    def redact(self, *keys: APIKey | None) -> None:
        """Mask these keys literally in the message (the transport calls it with the key it
        sent, so even a key of an unusual shape that a server echoes never leaves)."""
        message = scrub(self.message, *keys)
        if message != self.message:
            self.message = message
            self.args = (message,)

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


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")
_LONG = 300


def readable_message(message: str) -> str:
    """One line a log can hold: a proxy's HTML error page (a 502 from a load balancer) becomes
    its title and its length, and a long multi-line body its first line and its length."""
    text = message.strip()
    head = text[:300].lower()
    if "<html" in head or "<!doctype" in head or "<body" in head:
        title = _TITLE.search(text)
        lines = [
            _TAG.sub(" ", ln).strip() for ln in (title.group(1) if title else text).split("\n")
        ]
        first = " ".join(next((ln for ln in lines if ln), "").split())
        return f"{first or 'an HTML page'} (HTML page, {len(message)} chars)"
    if "\n" in text and len(text) > _LONG:
        first = next(ln.strip() for ln in text.splitlines() if ln.strip())
        return f"{first[:_LONG]} (first line of {len(message)} chars)"
    return message


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


class OverBudgetError(LLMError):
    """A request over its own budget (input tokens, output tokens or dollars), refused before
    any network call. ``code`` names the limit (``input_tokens``, ``cost``); ``estimate`` and
    ``limit`` are the figures compared. Never retried: the same request is over again."""

    kind = ErrorKind.OVER_BUDGET

    def __init__(
        self, message: str, *, code: str, estimate: object, limit: object, provider: str | None
    ) -> None:
        super().__init__(message, provider=provider, code=code, retryable=False)
        self.estimate = estimate
        self.limit = limit


# ---------------------------------------------------------------- composite and local failures


class CircuitOpenError(OverloadedError):
    """The target's circuit is open: the call was refused locally, nothing was sent.

    ``kind`` is ``overloaded`` (the target is treated as overloaded), ``code`` is
    ``"circuit_open"``, ``retry_after`` is the time until the breaker lets a probe through.
    Not retryable: retrying the same target at once is exactly what the breaker prevents.
    """

    kind = ErrorKind.OVERLOADED
    default_retryable = False

    def __init__(self, target: str, *, retry_after: float | None = None) -> None:
        super().__init__(
            f"circuit open for {target!r}; not sent",
            provider=target,
            retry_after=retry_after,
            code="circuit_open",
        )
        self.target = target


class AllTargetsFailedError(LLMError, ExceptionGroup[Exception]):
    """Every target failed (and no degradation step answered).

    ``exceptions`` holds one error per target tried (a skipped target contributes its
    :class:`CircuitOpenError`), in chain order; ``targets`` names them. ``kind``, ``retryable``
    and ``provider`` are those of the failure that ended the chain; ``retry_after`` is the
    soonest any target said it may be tried again.
    """

    kind = ErrorKind.SERVER_ERROR  # replaced per instance, see __init__

    def __new__(
        cls, message: str, exceptions: Sequence[Exception], targets: Sequence[str] = ()
    ) -> AllTargetsFailedError:
        return super().__new__(cls, message, exceptions)

    def __init__(
        self, message: str, exceptions: Sequence[Exception], targets: Sequence[str] = ()
    ) -> None:
        ExceptionGroup.__init__(self, message, exceptions)
        last = exceptions[-1]
        llm = [e for e in exceptions if isinstance(e, LLMError)]
        waits = [e.retry_after for e in llm if e.retry_after is not None]
        self.targets = tuple(targets)
        self.provider = last.provider if isinstance(last, LLMError) else None
        self.status = last.status if isinstance(last, LLMError) else None
        self.request_id = last.request_id if isinstance(last, LLMError) else None
        self.retry_after = min(waits) if waits else None
        self.retryable = last.retryable if isinstance(last, LLMError) else False
        self.code = "all_targets_failed"
        if isinstance(last, LLMError):
            self.__dict__["kind"] = last.kind

    def __str__(self) -> str:
        parts = [
            f"{name}: {e.kind if isinstance(e, LLMError) else type(e).__name__}"
            for name, e in zip(self.targets, self.exceptions, strict=False)
        ]
        return f"[{self.kind}] {self.message} ({'; '.join(parts)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, list(self.exceptions), self.targets))


# ---------------------------------------------------------------- llmkit's own files


class CassetteError(InvalidResponseError, ValueError):
    """Base of every cassette failure; ``path`` is the cassette file."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{Path(path).name}: {message}", provider="cassette")


class CassetteNotFoundError(CassetteError, FileNotFoundError):
    """The cassette file does not exist (replays never record a missing one)."""


class CorruptCassetteError(CassetteError):
    """The file exists but is not a readable llmkit cassette (bad YAML, missing keys)."""


class CassetteMismatchError(CassetteError):
    """A replayed request has no unplayed recorded interaction that matches it."""

    def __init__(
        self, path: str | Path, *, method: str, request_path: str, model: str | None, why: str
    ) -> None:
        self.method = method
        self.request_path = request_path
        self.model = model
        super().__init__(
            path,
            f"no recorded interaction for {method} {request_path} (model={model!r}): {why}",
        )


class UnplayedInteractionsError(CassetteError):
    """A strict replay ended with recorded interactions nobody asked for."""

    def __init__(self, path: str | Path, unplayed: list[str]) -> None:
        self.unplayed = list(unplayed)
        shown = "; ".join(unplayed[:5]) + (" ..." if len(unplayed) > 5 else "")
        super().__init__(path, f"{len(unplayed)} recorded interaction(s) never played: {shown}")


class OverQuotaError(LLMError):
    """A call refused by a quota of its own (account, workflow, job): kind ``over_quota``,
    apart from the provider's ``quota_exhausted``. ``code`` names the limit
    (``account=acme:tokens/day``); ``used`` and ``limit`` are the counter and its cap in the
    limit's unit; ``retry_after`` is when the window frees up (None: a job's lifetime never
    does). Not retried: waiting is the caller's decision."""

    kind = ErrorKind.OVER_QUOTA

    def __init__(
        self,
        message: str,
        *,
        code: str,
        used: int,
        limit: int,
        retry_after: float | None,
        provider: str | None = None,
    ) -> None:
        super().__init__(
            message, provider=provider, code=code, retry_after=retry_after, retryable=False
        )
        self.used = used
        self.limit = limit


class QuotaUnavailableError(ConnectionError):
    """The quota store could not be reached. The quota layer fails closed on it (the call is
    not sent) unless ``fail_open=True``; never retried, as a retry would not reach it either."""

    default_retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message, provider="quota")


class CorruptEntryError(InvalidResponseError):
    """A cache entry could not be decoded (truncated, edited, older format)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, provider="cache")


class CacheUnavailableError(ConnectionError):
    """The cache backend could not be reached or failed; the call goes on without it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, provider="cache")


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
        OverBudgetError,
        OverQuotaError,
    )
}


def error_class(kind: ErrorKind | str) -> type[LLMError]:
    """The class for a kind (``error_class("rate_limit") is RateLimitError``)."""
    return _BY_KIND[ErrorKind(kind)]
