"""``llmkit.Client`` and ``llmkit.AsyncClient``: a provider adapter plus a stack of layers.

The stack, first = outermost (``default_layers`` builds it)::

    TelemetryLayer     one record per call, the attempt records too   (only with telemetry=)
    DeadlineLayer      gives the call its total deadline
    *layers            your call-level layers: cache, fallback, hedging, quotas...
    RetryLayer         retries failed attempts (policy + shared budget)  (off with retry=False)
    *attempt_layers    your per-attempt layers: circuit breaker, throttle, fault injection
    transport          one HTTP attempt through the adapter (``llmkit.transport``)

Adding a layer is passing an object with ``handle``/``ahandle`` (``llmkit.layers.Layer``) in
``layers=`` (it sees each call once, above the retries) or ``attempt_layers=`` (it sees every
attempt). ``client.layers`` shows the resulting stack.

Every call ends in a :class:`ChatResponse` or exactly one :class:`~llmkit.errors.LLMError`.
"""

from __future__ import annotations

import os
import random
import urllib.request
from collections.abc import Coroutine, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from llmkit.breaker import BreakerLayer
from llmkit.budget import RetryBudget
from llmkit.cache.key import credential_scope
from llmkit.clock import Clock, system_clock
from llmkit.deadline import Deadline, DeadlineLayer, Timeouts
from llmkit.errors import AuthError, ConnectionError, LLMError
from llmkit.layers import AsyncHandler, CallContext, Handler, Layer, compose, compose_async
from llmkit.options import (
    BASE_URL_ENV,
    OPTIONS_DOC,
    PUBLIC_HOSTS,
    ClientOptions,
    chat_args,
    check_options,
    takes_chat_args,
    takes_chat_args_async,
)
from llmkit.prices import PriceBook, default_prices
from llmkit.providers import adapter_for
from llmkit.providers.base import Adapter
from llmkit.retry import RetryLayer, RetryPolicy
from llmkit.secrets import (
    ENV_VARS,
    APIKey,
    header_secrets,
    install_filter,
    redact_url,
    register,
    url_secrets,
)
from llmkit.telemetry import (
    BreakerTelemetry,
    EventSink,
    TelemetryLayer,
    TelemetrySink,
    as_sink,
    watch_breaker,
)
from llmkit.transport import (
    AsyncChatStream,
    AsyncHTTPTransport,
    ChatStream,
    Endpoint,
    HTTPTransport,
    map_error,
)
from llmkit.transport.pool import (
    NoCookieJar,
    default_async_http,
    default_async_transport,
    direct,
)
from llmkit.types import ChatRequest, ChatResponse, Message, Tool

__all__ = ["AsyncClient", "AsyncStreamManager", "Client", "default_layers"]


_T = TypeVar("_T")


def default_layers(
    *,
    telemetry: TelemetrySink | None = None,
    deadline: Deadline | None = None,
    retry: RetryPolicy | None = None,
    budget: RetryBudget | None = None,
    layers: Sequence[Layer] = (),
    attempt_layers: Sequence[Layer] = (),
) -> list[Layer]:
    """The documented stack (see the module docstring); ``retry=None`` means no retry layer."""
    stack: list[Layer] = []
    if telemetry is not None:
        stack.append(TelemetryLayer(telemetry))
    stack.append(DeadlineLayer(deadline or Deadline()))
    stack.extend(layers)
    if retry is not None:
        stack.append(RetryLayer(retry, budget))
    stack.extend(attempt_layers)
    for layer in stack:
        if not isinstance(layer, Layer):
            raise TypeError(f"{layer!r} is not a layer (it needs handle and ahandle)")
    return stack


def _watch_breakers(layers: Sequence[Layer], sink: TelemetrySink) -> None:
    """A client with telemetry records its breakers' state changes as event rows too (once per
    breaker and sink, however many clients share the breaker)."""
    if not isinstance(sink, EventSink):
        return
    for layer in layers:
        if isinstance(layer, BreakerLayer):
            listeners = layer.breaker.listeners
            if not any(isinstance(x, BreakerTelemetry) and x.sink is sink for x in listeners):
                watch_breaker(layer.breaker, sink)


def _inner_layers(layers: Sequence[Layer]) -> list[Layer]:
    return [x for x in layers if not isinstance(x, TelemetryLayer | DeadlineLayer)]


class _Core:
    """What Client and AsyncClient share: configuration, request building, contexts."""

    def __init__(
        self,
        provider: str = "openai",
        *,
        api_key: str | APIKey | None = None,
        base_url: str | None = None,
        api: str | None = None,
        adapter: Adapter | None = None,
        timeout: Timeouts | float | None = None,
        deadline: float | None = 120.0,
        min_attempt: float = 0.25,
        retry: RetryPolicy | int | bool | None = None,
        budget: RetryBudget | bool | None = None,
        telemetry: TelemetrySink | Sequence[TelemetrySink] | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        layers: Sequence[Layer] = (),
        attempt_layers: Sequence[Layer] = (),
        prices: PriceBook | bool | None = None,
    ) -> None:
        if adapter is None:
            adapter = adapter_for(provider, api=api)
        if base_url is None and adapter.name in BASE_URL_ENV:
            base_url = os.environ.get(BASE_URL_ENV[adapter.name]) or None  # as the SDKs do
        if not base_url and not adapter.default_base_url:
            raise ValueError(f"provider={provider!r} needs a base_url")
        if isinstance(api_key, str):
            api_key = APIKey(api_key)
        elif api_key is None:
            api_key = APIKey.from_env(adapter.name)
        elif not isinstance(api_key, APIKey):
            raise TypeError("api_key must be a string or an APIKey")
        self.provider = adapter.name
        self.clock: Clock = clock or system_clock
        if prices is None or prices is True:
            prices = default_prices()  # ChatResponse.cost and the telemetry cost column
        self.prices: PriceBook | None = None if prices is False else prices
        self.endpoint = Endpoint(
            adapter,
            base_url=base_url,
            api_key=api_key,
            timeouts=Timeouts.of(timeout),
            prices=self.prices,
        )
        # Every secret this client knows feeds the one masking pass (errors, logs, cassettes,
        # reprs): the key and any credential in the base URL.
        credentials = [api_key, *url_secrets(self.endpoint.base_url)]
        register(*credentials)
        install_filter()
        self.scope = credential_scope(self.endpoint.base_url, credentials)
        """The cache's tenant boundary: this endpoint and a keyed hash of its credentials."""
        if retry is False or retry == 0:
            policy: RetryPolicy | None = None
        else:
            policy = RetryPolicy.of(None if retry is True else retry)
        if budget is None or budget is True:
            budget = RetryBudget()
        elif budget is False:
            budget = None
        self.budget: RetryBudget | None = budget
        self.telemetry = as_sink(telemetry)
        self.layers: tuple[Layer, ...] = tuple(
            default_layers(
                telemetry=self.telemetry,
                deadline=Deadline(deadline, min_attempt),
                retry=policy,
                budget=budget,
                layers=layers,
                attempt_layers=attempt_layers,
            )
        )
        if self.telemetry is not None:
            _watch_breakers(self.layers, self.telemetry)
        self._rng = random.Random(seed)
        self._closed = False

    def _require_key(self) -> None:
        """A provider's public endpoint without a key would only answer 401: say so now.
        A local or simulator base_url, or an injected transport (a replay), needs none."""
        if self.endpoint.api_key is not None or self.endpoint.host not in PUBLIC_HOSTS:
            return
        names = " or ".join(ENV_VARS.get(self.provider, ())) or "the provider's key variable"
        raise AuthError(
            f"no API key for {self.endpoint.base_url}: pass api_key= or set {names} "
            "(a local or simulator base_url needs none)",
            provider=self.provider,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionError(
                f"this {type(self).__name__} is closed: make a new one (or call it before "
                "close() / inside its with-block)",
                provider=self.provider,
                retryable=False,
            )

    def _count_request(self, request: ChatRequest) -> tuple[Any, httpx.Request]:
        """The adapter and HTTP request that count ``request``'s input tokens exactly."""
        adapter: Any = self.endpoint.adapter
        if not hasattr(adapter, "count_tokens_request"):
            if adapter.name != "openai":
                raise ValueError(
                    f"{adapter.name} offers no token-counting endpoint; use "
                    "llmkit.estimate_input_tokens for an estimate"
                )
            adapter = adapter_for("openai", api="responses")  # counts Chat models too
        http_request = self.endpoint.build(adapter.count_tokens_request, request)
        timeouts = self.endpoint.timeouts.for_attempt(None, stream=False)
        http_request.extensions["timeout"] = timeouts.as_extension()
        return adapter, http_request

    def _counted(self, adapter: Any, response: httpx.Response) -> int:
        try:
            count: int = adapter.parse_token_count(response)
        except LLMError as err:
            if self.endpoint.api_key is not None:
                err.redact(self.endpoint.api_key)
            raise
        return count

    def _count_failed(self, exc: Exception) -> LLMError | None:
        err = map_error(exc, self.provider)
        if err is not None and self.endpoint.api_key is not None:
            err.redact(self.endpoint.api_key)
        return err

    def _context(self, deadline: float | None) -> CallContext:
        now = self.clock.now()
        if deadline is not None and deadline <= 0:
            raise ValueError("deadline must be positive seconds")
        return CallContext(
            provider=self.provider,
            clock=self.clock,
            deadline=None if deadline is None else now + deadline,
            call_id=os.urandom(8).hex(),
            scope=self.scope,
            started=now,
            rng=self._rng,
        )

    def __repr__(self) -> str:
        key = "APIKey('****')" if self.endpoint.api_key is not None else "None"
        return (
            f"{type(self).__name__}(provider={self.provider!r}, "
            f"base_url={redact_url(self.endpoint.base_url)!r}, api_key={key})"
        )


class Client(_Core):
    """A synchronous client: ``Client("openai", deadline=20.0).chat(model=..., messages=...)``.

    ``deadline`` is the default total seconds per call (None: none). ``http_client`` is used as
    given and not closed by :meth:`close`; ``transport`` (any ``httpx.BaseTransport``) gets a
    client of our own. ``with client.stream(...) as s:`` streams.
    """

    def __init__(
        self,
        provider: str = "openai",
        *,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        check_options(type(self), options)
        super().__init__(provider, **options)
        if http_client is not None and transport is not None:
            raise ValueError("pass http_client or transport, not both")
        if http_client is None and transport is None:
            self._require_key()
        self._owns_http = http_client is None
        if http_client is None and transport is None and not urllib.request.getproxies():
            transport = httpx.HTTPTransport()  # what httpx.Client() makes, held for direct
        if http_client is not None:
            register(*header_secrets(http_client.headers))  # its own api-key header, say
        self.http = http_client or httpx.Client(transport=transport, cookies=NoCookieJar())
        self._transport = HTTPTransport(
            self.endpoint, self.http, direct=direct(self._owns_http, transport, self.endpoint)
        )
        self._handler = compose(self.layers, self._transport)

    def inner_handler(self) -> Handler:
        """This client's stack without its call-level telemetry and deadline layers, to run
        inside another call that owns those (a fallback target, a hedge): that call's context,
        deadline and telemetry apply."""
        return compose(_inner_layers(self.layers), self._transport)

    def send(self, request: ChatRequest, *, deadline: float | None = None) -> ChatResponse:
        """Run a neutral :class:`ChatRequest` through the stack."""
        self._check_open()
        ctx = self._context(deadline)
        response = self._handler(request, ctx)
        return response.with_(latency=self.clock.now() - ctx.started)

    @takes_chat_args
    def chat(self, request: ChatRequest, deadline: float | None) -> ChatResponse:
        """One chat completion (keywords: :func:`chat_args`). ``stream=True`` streams on the
        wire and returns the aggregate (with ``ttft``)."""
        return self.send(request, deadline=deadline)

    @takes_chat_args
    def stream(self, request: ChatRequest, deadline: float | None) -> ChatStream:
        """Open a stream of :class:`StreamEvent` values (keywords: :func:`chat_args`);
        ``.response`` is the aggregate once it ends. Retries and fallbacks happen only before
        the first content event arrives (nothing has reached the reader then)."""
        self._check_open()
        ctx = self._context(deadline)
        ctx.deliver_stream = True
        response = self._handler(request.with_(stream=True), ctx)
        if isinstance(ctx.stream, ChatStream):
            return ctx.stream
        return ChatStream.completed(response)

    def count_tokens(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any] | Message],
        tools: Iterable[Tool | Mapping[str, Any]] | None = None,
        **extra: Any,
    ) -> int:
        """Input tokens of this request, counted by the provider (Anthropic
        ``/v1/messages/count_tokens``, OpenAI ``/v1/responses/input_tokens``, Gemini
        ``:countTokens``): one HTTP round trip, no retries, nothing billed. ``ValueError`` for
        a provider without one."""
        request, _ = chat_args(model=model, messages=messages, tools=tools, **extra)
        return self.count_request_tokens(request)

    def count_request_tokens(self, request: ChatRequest) -> int:
        """:meth:`count_tokens` for a :class:`ChatRequest` (a ``BudgetLayer`` ``counter``)."""
        self._check_open()
        adapter, http_request = self._count_request(request)
        try:
            response = self.http.send(http_request)
        except Exception as exc:
            if (err := self._count_failed(exc)) is None:
                raise
            raise err from exc
        return self._counted(adapter, response)

    def close(self) -> None:
        self._closed = True
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_Core):
    """The asyncio twin of :class:`Client`; any ``httpx.AsyncClient`` or async transport works.
    Without one it sends through aiohttp's connection pool (see :func:`default_async_http`).
    ``async with client.stream(...) as s:`` streams (``await client.stream(...)`` works too)."""

    def __init__(
        self,
        provider: str = "openai",
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        check_options(type(self), options)
        super().__init__(provider, **options)
        if http_client is not None and transport is not None:
            raise ValueError("pass http_client or transport, not both")
        self._owns_http = http_client is None
        if http_client is None and transport is None:
            self._require_key()
            transport = default_async_transport()
        if http_client is not None:
            register(*header_secrets(http_client.headers))
        self.http = http_client or default_async_http(transport)
        self._transport = AsyncHTTPTransport(
            self.endpoint, self.http, direct=direct(self._owns_http, transport, self.endpoint)
        )
        self._handler = compose_async(self.layers, self._transport)

    def inner_handler(self) -> AsyncHandler:
        """The async twin of :meth:`Client.inner_handler`."""
        return compose_async(_inner_layers(self.layers), self._transport)

    async def send(self, request: ChatRequest, *, deadline: float | None = None) -> ChatResponse:
        self._check_open()
        ctx = self._context(deadline)
        response = await self._handler(request, ctx)
        return response.with_(latency=self.clock.now() - ctx.started)

    @takes_chat_args_async
    async def chat(self, request: ChatRequest, deadline: float | None) -> ChatResponse:
        """The async :meth:`Client.chat`."""
        return await self.send(request, deadline=deadline)

    @takes_chat_args
    def stream(self, request: ChatRequest, deadline: float | None) -> AsyncStreamManager:
        """``async with client.stream(...) as s: async for event in s: ...`` (closed on exit,
        and on error), or ``s = await client.stream(...)`` and close it yourself."""
        return AsyncStreamManager(self._open_stream(request, deadline))

    async def _open_stream(self, request: ChatRequest, deadline: float | None) -> AsyncChatStream:
        self._check_open()
        ctx = self._context(deadline)
        ctx.deliver_stream = True
        response = await self._handler(request.with_(stream=True), ctx)
        if isinstance(ctx.stream, AsyncChatStream):
            return ctx.stream
        return AsyncChatStream.completed(response)

    async def count_tokens(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any] | Message],
        tools: Iterable[Tool | Mapping[str, Any]] | None = None,
        **extra: Any,
    ) -> int:
        """The async twin of :meth:`Client.count_tokens`."""
        request, _ = chat_args(model=model, messages=messages, tools=tools, **extra)
        return await self.count_request_tokens(request)

    async def count_request_tokens(self, request: ChatRequest) -> int:
        self._check_open()
        adapter, http_request = self._count_request(request)
        try:
            response = await self.http.send(http_request)
        except Exception as exc:
            if (err := self._count_failed(exc)) is None:
                raise
            raise err from exc
        return self._counted(adapter, response)

    async def aclose(self) -> None:
        self._closed = True
        if self._owns_http:
            await self.http.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncStreamManager:
    """What :meth:`AsyncClient.stream` returns: ``async with`` it (the stream is closed on
    exit, and on error) or ``await`` it for the :class:`AsyncChatStream`, as the SDKs allow."""

    __slots__ = ("_opener", "_stream")

    def __init__(self, opener: Coroutine[Any, Any, AsyncChatStream]) -> None:
        self._opener = opener
        self._stream: AsyncChatStream | None = None

    def __await__(self) -> Generator[Any, None, AsyncChatStream]:
        return self._opener.__await__()

    async def __aenter__(self) -> AsyncChatStream:
        self._stream = await self._opener
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose()


for _cls in (Client, AsyncClient):
    _cls.__doc__ = (_cls.__doc__ or "") + OPTIONS_DOC
