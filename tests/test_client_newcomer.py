"""What a new user runs into first: option docs, SDK keywords, env vars, keys, closed
clients, streams as context managers, and error text a log can hold."""

from __future__ import annotations

import asyncio
import pydoc
import re
from typing import Any

import httpx
import pytest

import llmkit
from llmkit import AsyncClient, Client, ConnectionError, LLMError
from llmkit.errors import AuthError
from llmkit.options import ClientOptions
from llmkit.sim.transport import AsyncSimTransport, SimTransport

MSGS = [{"role": "user", "content": "hi"}]
SIM = "http://127.0.0.1/v1"


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENROUTER_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_help_documents_every_option(cls: type) -> None:
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    for option in [*ClientOptions.__annotations__, "http_client", "transport", "provider"]:
        # one line per option, as help() prints the class docstring (" |  name   what...")
        assert re.search(rf"^[ |]*{option} {{2,}}\S", text, re.MULTILINE), option
    assert "retry=3 means up to 3 attempts" in " ".join(text.split())


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_sdk_keyword_fails_naming_llmkits(cls: type) -> None:
    with pytest.raises(TypeError, match=r"unknown option max_retries=; use retry=") as info:
        cls("openai", api_key="k", max_retries=2)
    assert "max_retries=2 is retry=3" in str(info.value)
    with pytest.raises(TypeError, match=r"unknown option dealine=; use deadline="):
        cls("openai", api_key="k", dealine=5)


def test_base_url_env_vars_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    assert Client("openai").endpoint.base_url == "http://127.0.0.1:9/v1"
    assert Client("anthropic").endpoint.base_url == "http://127.0.0.1:9"
    # an explicit base_url still wins
    assert Client("openai", base_url=SIM).endpoint.base_url == SIM


@pytest.mark.parametrize(
    ("provider", "env"),
    [
        ("openai", "OPENAI_API_KEY"),
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("openrouter", "OPENROUTER_API_KEY"),
    ],
)
def test_missing_key_for_a_public_endpoint_fails_at_construction(
    provider: str, env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cls in (Client, AsyncClient):
        with pytest.raises(AuthError, match=env) as info:
            cls(provider)
        assert info.value.retryable is False
    # a local or simulator base_url, or an injected transport (a replay), needs no key
    Client(provider, base_url="http://127.0.0.1:8080/v1")
    Client(provider, transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    monkeypatch.setenv(env, "from-the-env")
    assert Client(provider).endpoint.api_key is not None


def test_use_after_close_is_an_llm_error() -> None:
    client = Client("openai", base_url=SIM, api_key="sim", transport=SimTransport("healthy"))
    assert client.chat(model="gpt-4o-mini", messages=MSGS).text
    client.close()
    for use in (
        lambda: client.chat(model="gpt-4o-mini", messages=MSGS),
        lambda: client.stream(model="gpt-4o-mini", messages=MSGS),
    ):
        with pytest.raises(ConnectionError, match="closed") as info:
            use()
        assert isinstance(info.value, LLMError)
        assert info.value.retryable is False

    async def go() -> None:
        aclient = AsyncClient(
            "openai", base_url=SIM, api_key="sim", transport=AsyncSimTransport("healthy")
        )
        await aclient.aclose()
        with pytest.raises(ConnectionError, match="closed"):
            await aclient.chat(model="gpt-4o-mini", messages=MSGS)

    asyncio.run(go())


def test_sync_and_async_streams_are_context_managers() -> None:
    with (
        Client("openai", base_url=SIM, api_key="sim", transport=SimTransport("healthy")) as client,
        client.stream(model="gpt-4o-mini", messages=MSGS) as s,
    ):
        text = "".join(e.text or "" for e in s)
    assert text
    assert s.response is not None

    async def go() -> tuple[str, Any, Any]:
        aclient = AsyncClient(
            "openai", base_url=SIM, api_key="sim", transport=AsyncSimTransport("healthy")
        )
        async with aclient.stream(model="gpt-4o-mini", messages=MSGS) as stream:
            parts = [e.text or "" async for e in stream]
        # closed on error too: leave the block early with an exception
        with pytest.raises(KeyError):
            async with aclient.stream(model="gpt-4o-mini", messages=MSGS) as broken:
                raise KeyError("boom")
        # the awaitable form still works
        plain = await aclient.stream(model="gpt-4o-mini", messages=MSGS)
        final = await plain.get_final_response()
        await aclient.aclose()
        return "".join(parts), broken, final

    text, broken, final = asyncio.run(go())
    assert text
    assert broken._ended
    assert final.text


def test_an_html_error_page_is_one_line_with_its_length() -> None:
    page = (
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n" + "<!-- a padding comment -->\n" * 40
    )
    urls = {
        "openai": "https://api.openai.com/v1/chat/completions",
        "anthropic": "https://api.anthropic.com/v1/messages",
        "openrouter": "https://openrouter.ai/api/v1/chat/completions",
    }
    for provider, url in urls.items():
        resp = httpx.Response(
            502,
            text=page,
            headers={"content-type": "text/html"},
            request=httpx.Request("POST", url),
        )
        err = llmkit.classify(provider, resp)
        assert err.kind == "server_error"
        text = str(err)
        assert "\n" not in text
        assert "<" not in text
        assert f"502 Bad Gateway (HTML page, {len(page.strip())} chars)" in text
    # a long multi-line plain body keeps its first line and its length
    long = "upstream failed\n" + "detail line\n" * 50
    err = llmkit.ServerError(long, status=500)
    assert err.message == f"upstream failed (first line of {len(long)} chars)"
