"""The httpx clients llmkit makes for itself, and when an attempt may skip ``client.send``.

Sync: ``httpx.Client`` over ``httpx.HTTPTransport``. Async: ``httpx.AsyncClient`` over
aiohttp's pool (``httpx_aiohttp``), unless a proxy is set in the environment. Neither keeps
cookies (llmkit never sends stored ones).
"""

from __future__ import annotations

import urllib.request
from http.client import HTTPResponse
from http.cookiejar import CookieJar
from typing import TypeVar

import httpx

from llmkit.transport.endpoint import Endpoint

__all__ = ["ASYNC_LIMITS", "NoCookieJar", "default_async_http", "default_async_transport", "direct"]

_T = TypeVar("_T")


def direct(owned: bool, transport: _T | None, endpoint: Endpoint) -> _T | None:
    """The transport attempts may call directly, skipping ``client.send`` (~55 µs a call).

    Only for a client of our own made with a transport: httpx reads the environment's proxies
    only without one, and ours has no auth, hooks or cookies. Credentials in ``base_url`` are
    left to ``send`` (it turns them into an Authorization header).
    """
    if not owned or httpx.URL(endpoint.base_url).userinfo:
        return None
    return transport


class NoCookieJar(CookieJar):
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
        transport = default_async_transport()
    return httpx.AsyncClient(transport=transport, cookies=NoCookieJar())


def default_async_transport() -> httpx.AsyncBaseTransport | None:
    """aiohttp's pool, or None (httpx picks its transport and proxy mounts) under a proxy."""
    if urllib.request.getproxies():
        return None
    from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415 - aiohttp: ~110 ms to import

    return AiohttpTransport(limits=ASYNC_LIMITS)
