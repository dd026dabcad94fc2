"""The keyword options of ``Client``/``AsyncClient`` and the chat keywords, written once.

``chat_args`` is the one signature of ``chat`` and ``stream`` on both clients (``takes_chat_args``
gives a method those keywords, for mypy, ``help()`` and editors). ``ClientOptions`` types the
constructor's options; ``check_options`` turns a wrong keyword (an SDK's ``max_retries=``) into
a message naming llmkit's; ``OPTIONS_DOC`` is the one-line-per-option text ``help()`` shows.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypedDict, TypeVar

from llmkit.budget import RetryBudget
from llmkit.clock import Clock
from llmkit.deadline import Timeouts
from llmkit.layers import Layer
from llmkit.prices import PriceBook
from llmkit.providers.base import Adapter
from llmkit.retry import RetryPolicy
from llmkit.secrets import APIKey
from llmkit.telemetry import TelemetrySink
from llmkit.types import ChatRequest, Message, Tool, as_messages, as_tools

__all__ = ["ClientOptions", "chat_args", "check_options"]

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


takes_chat_args = _takes(chat_args)
takes_chat_args_async = _takes_async(chat_args)


OPTIONS_DOC = """
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
SDK_NAMES = {
    "max_retries": "retry= (total attempts: the SDKs' max_retries=2 is retry=3)",
    "default_headers": "a Layer that adds headers, or http_client=httpx.Client(headers=...)",
    "organization": "http_client=httpx.Client(headers={'OpenAI-Organization': ...})",
    "timeout_s": "timeout=",
    "base_uri": "base_url=",
    "key": "api_key=",
}
PUBLIC_HOSTS = frozenset({"api.openai.com", "api.anthropic.com", "openrouter.ai"})
BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


def check_options(cls: type, options: Mapping[str, Any]) -> None:
    """A wrong keyword is a TypeError naming the right one, not Python's bare complaint."""
    unknown = [k for k in options if k not in ClientOptions.__annotations__]
    if not unknown:
        return
    name = unknown[0]
    hint = SDK_NAMES.get(name)
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
