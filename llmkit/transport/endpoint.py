"""Where attempts go (:class:`Endpoint`) and the bookkeeping of one attempt (:class:`Attempt`).

No I/O here: starting an attempt (deadline check, request built by the adapter, timeouts shrunk
to the time left), mapping its failure, and reporting its neutral
:class:`~llmkit.outcomes.AttemptOutcome` are shared by the sync and async transports and streams.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping

import httpx

from llmkit.clock import SystemClock
from llmkit.deadline import AttemptTimeouts, Timeouts, check_can_start
from llmkit.decompress import MAX_BODY_BYTES
from llmkit.errors import DeadlineExceededError, LLMError
from llmkit.layers import CallContext
from llmkit.outcomes import AttemptOutcome
from llmkit.prices import PriceBook
from llmkit.providers.base import Adapter, safe_headers
from llmkit.secrets import APIKey, redact_url
from llmkit.transport.mapping import map_error
from llmkit.types import ChatRequest, ChatResponse
from llmkit.watchdog import Watch

__all__ = ["Attempt", "Endpoint"]


class Attempt:
    """Bookkeeping of one attempt in flight."""

    __slots__ = (
        "deadline",
        "number",
        "remaining",
        "stream",
        "t0",
        "timeouts",
        "timer",
        "wall",
        "watch",
    )

    def __init__(self, ctx: CallContext, timeouts: Timeouts, stream: bool) -> None:
        check_can_start(ctx)
        self.deadline = ctx.deadline if type(ctx.clock) is SystemClock else None
        """The call's deadline in ``time.monotonic()`` seconds, when it is on the system clock."""
        ctx.attempt += 1
        self.number = ctx.attempt
        self.stream = stream
        self.remaining = ctx.remaining()
        self.timeouts: AttemptTimeouts = timeouts.for_attempt(self.remaining, stream=stream)
        self.t0 = ctx.clock.now()
        self.wall = ctx.clock.wall()
        self.timer: asyncio.Timeout | None = None
        """The ``asyncio.timeout`` bounding an async attempt by the deadline, if any."""
        self.watch: Watch | None = None
        """The watchdog registration cutting a sync attempt's socket at the deadline, if any."""


class Endpoint:
    """Where and how attempts go: the adapter, base URL, key and timeouts (no I/O here)."""

    __slots__ = (
        "_basic",
        "_path_base",
        "_query",
        "adapter",
        "api_key",
        "base_url",
        "host",
        "max_body",
        "prices",
        "provider",
        "timeouts",
    )

    def __init__(
        self,
        adapter: Adapter,
        *,
        base_url: str | None = None,
        api_key: APIKey | None = None,
        timeouts: Timeouts | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        self.adapter = adapter
        self.prices = prices
        """Prices each answer at its attempt's start time (``ChatResponse.cost``); None: off."""
        self.provider = adapter.name
        self.base_url = (base_url or adapter.default_base_url).rstrip("/")
        """As given; shown only through :func:`llmkit.secrets.redact_url`."""
        self.api_key = api_key
        self.timeouts = timeouts or Timeouts()
        self.max_body = MAX_BODY_BYTES
        """Cap on a response body's decoded size (:mod:`llmkit.decompress`)."""
        url = httpx.URL(self.base_url)
        self.host = url.host or None
        # A query in the base URL (Azure's ``?api-version=...&api-key=...``, Gemini's ``?key=``)
        # goes on every request URL, after the adapter's path. Userinfo
        # (``https://user:pass@gateway``) becomes a Basic ``Authorization`` header, as httpx
        # does for a sync client (aiohttp refuses the pair), and leaves the URL: the request
        # objects in a traceback's locals then hold no password.
        self._query = url.params
        self._basic: str | None = None
        if url.userinfo:
            raw = f"{url.username}:{url.password}".encode()
            self._basic = "Basic " + base64.b64encode(raw).decode("ascii")
        if url.query or url.userinfo:
            url = url.copy_with(query=None, username=None, password=None)
            self._path_base = str(url).rstrip("/")
        else:
            self._path_base = self.base_url

    def start(self, request: ChatRequest, ctx: CallContext) -> tuple[httpx.Request, Attempt]:
        att = Attempt(ctx, self.timeouts, request.stream)
        http_request = self.build(self.adapter.build_request, request)
        http_request.extensions["timeout"] = att.timeouts.as_extension()
        return http_request, att

    def build(self, build: Callable[..., httpx.Request], request: ChatRequest) -> httpx.Request:
        """``build(request, base_url=..., api_key=...)`` (an adapter's request builder) aimed
        at this endpoint: the base URL's query on the URL, its userinfo as a Basic header."""
        http_request = build(request, base_url=self._path_base, api_key=self.api_key)
        if self._query:
            http_request.url = http_request.url.copy_merge_params(self._query)
        if self._basic is not None:
            http_request.headers["authorization"] = self._basic
        return http_request

    def error(self, exc: BaseException, att: Attempt, *, idle: bool = False) -> LLMError | None:
        if isinstance(exc, asyncio.CancelledError):
            if att.timer is not None and att.timer.expired():
                return DeadlineExceededError(
                    f"call deadline exceeded: the attempt ran out of its "
                    f"{att.remaining or 0.0:.3g}s",
                    provider=self.provider,
                )
            return None  # cancelled from outside (a hedge that lost): recorded, re-raised
        if (
            att.deadline is not None
            and isinstance(exc, httpx.TimeoutException)
            and time.monotonic() >= att.deadline - 0.005
        ):
            # Cut by the socket deadline (:mod:`llmkit.netdeadline`): the time ran out.
            return DeadlineExceededError(
                f"call deadline exceeded: the attempt's socket operation was cut at the "
                f"deadline ({type(exc).__name__})",
                provider=self.provider,
            )
        watch = att.watch
        if (
            watch is not None
            and watch.fired
            and isinstance(exc, httpx.HTTPError | OSError | LLMError)
        ):
            # The watchdog shut the socket down: the read ended because the time ran out.
            return DeadlineExceededError(
                f"call deadline exceeded: the attempt's socket was cut at the deadline "
                f"({type(exc).__name__})",
                provider=self.provider,
            )
        return map_error(exc, self.provider, att.timeouts, idle=idle)

    def record(
        self,
        ctx: CallContext,
        request: ChatRequest,
        att: Attempt,
        *,
        status: int | None = None,
        response: ChatResponse | None = None,
        error: BaseException | None = None,
        ttft: float | None = None,
        headers: Mapping[str, str] | None = None,
        partial: ChatResponse | None = None,
        usage_estimated: bool = False,
    ) -> None:
        """Report the ended attempt as a neutral :class:`AttemptOutcome` in ``ctx.attempts``."""
        if isinstance(error, LLMError) and self.api_key is not None:
            error.redact(self.api_key)  # every failure passes here before it is raised
        if isinstance(error, LLMError) and status is None:
            status = error.status
        ctx.attempts.append(
            AttemptOutcome(
                number=att.number,
                provider=self.provider,
                model=request.model,
                stream=request.stream,
                wall=att.wall,
                latency=ctx.clock.now() - att.t0,
                ttft=ttft,
                status=status,
                response=response,
                error=error,
                cancelled=(response is None and error is None)
                or isinstance(error, asyncio.CancelledError),
                headers=headers,
                server_address=self.host,
                read_timeout=att.timeouts.read,
                deadline_remaining=att.remaining,
                partial=partial,
                usage_estimated=usage_estimated,
            )
        )

    def failed(
        self,
        ctx: CallContext,
        request: ChatRequest,
        att: Attempt,
        exc: BaseException,
        response: httpx.Response | None = None,
    ) -> LLMError | None:
        """Report a failed attempt; the LLMError to raise, or None to re-raise ``exc`` as it
        is (it is that LLMError already, a bug, or a cancellation from outside)."""
        mapped = self.error(exc, att)
        status = headers = None
        if response is not None:
            status, headers = response.status_code, response.headers
        self.record(ctx, request, att, status=status, error=mapped or exc, headers=headers)
        return None if mapped is exc else mapped

    def parse(
        self, ctx: CallContext, request: ChatRequest, att: Attempt, response: httpx.Response
    ) -> ChatResponse:
        """The answer of a read response (or its classified error), reported either way."""
        status = response.status_code
        try:
            if not response.is_success:
                raise self.adapter.classify(response)
            out = self.priced(self.adapter.parse_response(response), att).with_(
                headers=safe_headers(response.headers)
            )
        except LLMError as err:
            self.record(ctx, request, att, status=status, error=err, headers=response.headers)
            raise
        self.record(ctx, request, att, status=status, response=out, headers=response.headers)
        return out

    def priced(self, response: ChatResponse, att: Attempt) -> ChatResponse:
        """``response`` with its ``cost``: priced at the attempt's wall time (a replay on a
        virtual clock started at the recording's time prices at that time)."""
        prices = self.prices
        if prices is None:
            return response
        cost = prices.cost(self.provider, response.model, response.usage, at=att.wall)
        return response if cost is None else response.with_(cost=cost)

    def placeholder(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(text="", model=request.model, provider=self.provider)

    def __repr__(self) -> str:
        return (
            f"Endpoint({self.provider!r}, base_url={redact_url(self.base_url)!r}, "
            f"timeouts={self.timeouts!r})"
        )
