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

import difflib
import inspect
import os
import random
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from http.client import HTTPResponse
from http.cookiejar import CookieJar
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypedDict, TypeVar, Unpack

import httpx

from llmkit.breaker import BreakerLayer
from llmkit.budget import RetryBudget
from llmkit.cache.key import credential_scope
from llmkit.clock import Clock, system_clock
from llmkit.deadline import Deadline, DeadlineLayer, Timeouts
from llmkit.errors import AuthError, ConnectionError, LLMError
from llmkit.layers import AsyncHandler, CallContext, Handler, Layer, compose, compose_async
from llmkit.prices import PriceBook, default_prices
from llmkit.providers import adapter_for
from llmkit.providers.base import Adapter
from llmkit.retry import RetryLayer, RetryPolicy
from llmkit.secrets import ENV_VARS, APIKey, install_filter, redact_url, register, url_secrets
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
from llmkit.types import ChatRequest, ChatResponse, Message, Tool, as_messages, as_tools

__all__ = ["AsyncClient", "AsyncStreamManager", "Client", "default_layers"]


_T = TypeVar("_T")
_C = TypeVar("_C")
_R = TypeVar("_R")
_P = ParamSpec("_P")


def chat_args(
    *,
    model: str,
    messages: Iterable[Mapping[str, Any] | Message],
    max_tokens: int | None = None,
    temperature: float | None = None,
    tools: Iterable[Tool | Mapping[str, Any]] | None = None,
    tags: Mapping[str, str] | None = None,
    deadline: float | None = None,
    stream: bool = False,
    **extra: Any,
) -> tuple[ChatRequest, float | None]:
    """The keywords of ``chat`` and ``stream`` on both clients, written once: the neutral
    request they describe, and the call's deadline (seconds; None: the client's default).

    ``tags`` go to telemetry and quotas only, never to the provider; ``extra`` goes into the
    JSON body as-is (``response_format=...``, ``seed=...``).
    """
    request = ChatRequest(
        model=model,
        messages=as_messages(messages),
        max_tokens=max_tokens,
        temperature=temperature,
        tools=as_tools(tools),
        stream=stream,
        tags=dict(tags) if tags else {},
        extra=extra,
    )
    return request, deadline


def _signed(call: Any, method: Callable[..., Any], build: Callable[..., Any]) -> None:
    """Give ``call`` the name and docs of ``method`` and the keywords of ``build`` (for
    ``help()``, editors and ``inspect``)."""
    sig = inspect.signature(build)
    call.__name__ = method.__name__
    call.__qualname__ = method.__qualname__
    call.__doc__ = method.__doc__
    call.__signature__ = sig.replace(
        parameters=[
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
            *sig.parameters.values(),
        ],
        return_annotation=inspect.signature(method).return_annotation,
    )


def _takes(
    build: Callable[_P, tuple[ChatRequest, float | None]],
) -> Callable[[Callable[[_C, ChatRequest, float | None], _R]], Callable[Concatenate[_C, _P], _R]]:
    """Give ``method(self, request, deadline)`` the keywords of ``build``."""

    def decorate(
        method: Callable[[_C, ChatRequest, float | None], _R],
    ) -> Callable[Concatenate[_C, _P], _R]:
        def call(self: _C, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            request, deadline = build(*args, **kwargs)
            return method(self, request, deadline)

        _signed(call, method, build)
        return call

    return decorate


def _takes_async(
    build: Callable[_P, tuple[ChatRequest, float | None]],
) -> Callable[
    [Callable[[_C, ChatRequest, float | None], Awaitable[_T]]],
    Callable[Concatenate[_C, _P], Coroutine[Any, Any, _T]],
]:
    """:func:`_takes` for a coroutine method: the result is a coroutine function too, so bad
    arguments raise when the call is awaited, as from any ``async def``."""

    def decorate(
        method: Callable[[_C, ChatRequest, float | None], Awaitable[_T]],
    ) -> Callable[Concatenate[_C, _P], Coroutine[Any, Any, _T]]:
        async def call(self: _C, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
            request, deadline = build(*args, **kwargs)
            return await method(self, request, deadline)

        _signed(call, method, build)
        return call

    return decorate


_takes_chat_args = _takes(chat_args)
_takes_chat_args_async = _takes_async(chat_args)


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


_OPTIONS_DOC = """
    Options (keywords; every one optional):

    provider        "openai" (default), "anthropic", "openrouter", "compatible" (any
                    OpenAI-compatible server: needs base_url)
    api_key         the key (str or APIKey); default from OPENAI_API_KEY, ANTHROPIC_API_KEY or
                    OPENROUTER_API_KEY. A provider's public endpoint without one fails here.
    base_url        where to send; default OPENAI_BASE_URL / ANTHROPIC_BASE_URL when set, else
                    the provider's public endpoint
    api             "chat" or "responses" (OpenAI's Responses API); default "chat"
    adapter         a custom wire-format adapter (llmkit.providers) instead of provider/api
    timeout         Timeouts, or seconds for the read timeout; default connect 5, read 60,
                    write 10, pool 5, stream idle 30
    deadline        total seconds per call, every attempt and wait included; default 120
    min_attempt     no attempt starts with less than this left of the deadline; default 0.25
    retry           total attempts (retry=3 means up to 3 attempts: the SDKs' max_retries=2),
                    a RetryPolicy, or False for one attempt; default RetryPolicy() (3)
    budget          a RetryBudget shared across calls and clients; True/None: a new one,
                    False: none
    telemetry       a sink (MemorySink, JSONLSink, LoggingSink...) or several; default none
    clock           the clock (VirtualClock in tests and notebooks); default the system clock
    seed            seeds the jitter for reproducible tests; leave unset in production
    layers          call-level layers (cache, fallback, hedge, quotas), outermost first
    attempt_layers  per-attempt layers (circuit breaker, throttle), outermost first
    prices          a PriceBook for ChatResponse.cost and the telemetry cost column;
                    True/None: genai-prices' table, False: no pricing
    http_client     an httpx client used as given (never closed by close())
    transport       an httpx transport for a client of our own (mock, replay, simulator)
"""

# Keywords users bring from the official SDKs, and what llmkit calls them.
_SDK_NAMES = {
    "max_retries": "retry= (total attempts: the SDKs' max_retries=2 is retry=3)",
    "default_headers": "a Layer that adds headers, or http_client=httpx.Client(headers=...)",
    "organization": "http_client=httpx.Client(headers={'OpenAI-Organization': ...})",
    "timeout_s": "timeout=",
    "base_uri": "base_url=",
    "key": "api_key=",
}
_PUBLIC_HOSTS = frozenset({"api.openai.com", "api.anthropic.com", "openrouter.ai"})
_BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


def _check_options(cls: type, options: Mapping[str, Any]) -> None:
    """A wrong keyword is a TypeError naming the right one, not Python's bare complaint."""
    unknown = [k for k in options if k not in ClientOptions.__annotations__]
    if not unknown:
        return
    name = unknown[0]
    hint = _SDK_NAMES.get(name)
    if hint is None:
        close = difflib.get_close_matches(name, [*ClientOptions.__annotations__], n=1)
        hint = f"{close[0]}=" if close else "one of " + ", ".join(ClientOptions.__annotations__)
    raise TypeError(f"{cls.__name__}() got an unknown option {name}=; use {hint}")


class ClientOptions(TypedDict, total=False):
    """The keyword options shared by :class:`Client` and :class:`AsyncClient` (typed, so
    mypy and editors check them).

    api_key: the key; default from the provider's *_API_KEY environment variable.
    base_url: default OPENAI_BASE_URL / ANTHROPIC_BASE_URL, else the public endpoint.
    api: "chat" or "responses". adapter: a custom wire-format adapter.
    timeout: Timeouts or read seconds. deadline: total seconds per call (default 120).
    min_attempt: least time left to start an attempt. retry: total attempts (3 = the SDKs'
    max_retries=2), a RetryPolicy, or False. budget: shared RetryBudget. telemetry: sinks.
    clock: the clock. seed: jitter seed. layers / attempt_layers: extra layers.
    prices: the PriceBook behind ChatResponse.cost (False: none).
    """

    api_key: str | APIKey | None
    base_url: str | None
    api: str | None
    adapter: Adapter | None
    timeout: Timeouts | float | None
    deadline: float | None
    min_attempt: float
    retry: RetryPolicy | int | bool | None
    budget: RetryBudget | bool | None
    telemetry: TelemetrySink | Sequence[TelemetrySink] | None
    clock: Clock | None
    seed: int | None
    layers: Sequence[Layer]
    attempt_layers: Sequence[Layer]
    prices: PriceBook | bool | None


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
        if base_url is None and adapter.name in _BASE_URL_ENV:
            base_url = os.environ.get(_BASE_URL_ENV[adapter.name]) or None  # as the SDKs do
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
        if self.endpoint.api_key is not None or self.endpoint.host not in _PUBLIC_HOSTS:
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
        _check_options(type(self), options)
        super().__init__(provider, **options)
        if http_client is not None and transport is not None:
            raise ValueError("pass http_client or transport, not both")
        if http_client is None and transport is None:
            self._require_key()
        self._owns_http = http_client is None
        if http_client is None and transport is None and not urllib.request.getproxies():
            transport = httpx.HTTPTransport()  # what httpx.Client() makes, held for direct
        self.http = http_client or httpx.Client(transport=transport, cookies=_NoCookieJar())
        self._transport = HTTPTransport(
            self.endpoint, self.http, direct=_direct(self._owns_http, transport, self.endpoint)
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

    @_takes_chat_args
    def chat(self, request: ChatRequest, deadline: float | None) -> ChatResponse:
        """One chat completion (keywords: :func:`chat_args`). ``stream=True`` streams on the
        wire and returns the aggregate (with ``ttft``)."""
        return self.send(request, deadline=deadline)

    @_takes_chat_args
    def stream(self, request: ChatRequest, deadline: float | None) -> ChatStream:
        """Open a stream of :class:`StreamEvent` values (keywords: :func:`chat_args`);
        ``.response`` is the aggregate once it ends. Retries and fallbacks happen only before
        the first event is delivered."""
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
        ``/v1/messages/count_tokens``, OpenAI ``/v1/responses/input_tokens``): one HTTP round
        trip, no retries, nothing billed. ``ValueError`` for a provider without one."""
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


def _direct(owned: bool, transport: _T | None, endpoint: Endpoint) -> _T | None:
    """The transport attempts may call directly, skipping ``client.send`` (~55 µs a call).

    Only for a client of our own made with a transport: httpx reads the environment's proxies
    only without one, and ours has no auth, hooks or cookies. Credentials in ``base_url`` are
    left to ``send`` (it turns them into an Authorization header).
    """
    if not owned or httpx.URL(endpoint.base_url).userinfo:
        return None
    return transport


class _NoCookieJar(CookieJar):
    """The jar of the httpx clients llmkit makes: it keeps nothing. llmkit builds each request
    itself and sends it with ``client.send`` (or straight through its transport), which never
    attaches stored cookies, so parsing every ``Set-Cookie`` into a jar would cost ~25 µs per
    call for nothing."""

    def extract_cookies(self, response: HTTPResponse, request: urllib.request.Request) -> None:
        return None


ASYNC_LIMITS = httpx.Limits(max_connections=100, keepalive_expiry=5.0)
"""The default async pool: up to 100 connections, idle ones kept 5 s (httpx's own defaults)."""


def default_async_http(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` an :class:`AsyncClient` makes for itself.

    httpx's own async pool costs ~1.3 ms of CPU per call with 50 calls in flight; aiohttp's
    (``httpx_aiohttp.AiohttpTransport``, same httpx API) ~0.4 ms, for about 3x the calls/s
    (``benchmarks/overhead.py``). vcrpy records and replays it through its aiohttp patcher.
    With a proxy set in the environment httpx's transport is kept, as it honours
    ``HTTPS_PROXY``/``NO_PROXY`` and the aiohttp one would ignore them.
    """
    if transport is None:
        transport = _default_async_transport()
    return httpx.AsyncClient(transport=transport, cookies=_NoCookieJar())


def _default_async_transport() -> httpx.AsyncBaseTransport | None:
    """aiohttp's pool, or None (httpx picks its transport and proxy mounts) under a proxy."""
    if urllib.request.getproxies():
        return None
    from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415 - aiohttp: ~110 ms to import

    return AiohttpTransport(limits=ASYNC_LIMITS)


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
        _check_options(type(self), options)
        super().__init__(provider, **options)
        if http_client is not None and transport is not None:
            raise ValueError("pass http_client or transport, not both")
        self._owns_http = http_client is None
        if http_client is None and transport is None:
            self._require_key()
            transport = _default_async_transport()
        self.http = http_client or default_async_http(transport)
        self._transport = AsyncHTTPTransport(
            self.endpoint, self.http, direct=_direct(self._owns_http, transport, self.endpoint)
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

    @_takes_chat_args_async
    async def chat(self, request: ChatRequest, deadline: float | None) -> ChatResponse:
        """The async :meth:`Client.chat`."""
        return await self.send(request, deadline=deadline)

    @_takes_chat_args
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
    _cls.__doc__ = (_cls.__doc__ or "") + _OPTIONS_DOC
