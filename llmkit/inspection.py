"""What llmkit makes of recorded traffic: ``llmkit inspect DIR``.

Point it at a directory of cassettes -- your own vcrpy or pytest-recording files, pydantic-ai's
variant, Ruby VCR, or llmkit's own -- and it reads every interaction through the same public
parsers the client uses (:func:`llmkit.classify`, :func:`llmkit.parse_response`,
:func:`llmkit.parse_stream`): one :class:`Inspected` row per interaction with the provider, the
status, how llmkit classifies it (kind, retryable, retry_after) and the usage it parses.

The provider is told from the request URL: the host when it is a provider's public one, else the
path (``/api/v1/...`` is OpenRouter's, ``/v1/messages`` Anthropic's, ``/chat/completions`` and
``/responses`` OpenAI's); ``provider=`` forces it (an OpenAI-compatible endpoint elsewhere).
Nothing here raises for a bad file: a cassette or interaction that cannot be read becomes a row
whose ``error`` says why, so one broken file never hides the rest.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from llmkit.errors import LLMError
from llmkit.parsing import classify, parse_response, parse_stream
from llmkit.recordings import load_recording

__all__ = ["Inspected", "cassette_files", "inspect_path", "provider_of"]

_SUFFIXES = (".yaml", ".yml", ".json")
_HOSTS = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "openrouter.ai": "openrouter",
    "generativelanguage.googleapis.com": "gemini",
    "aiplatform.googleapis.com": "gemini",
    "openai.azure.com": "azure",
    "services.ai.azure.com": "azure",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral",
    "api.deepseek.com": "deepseek",
    "api.together.xyz": "together",
    "api.together.ai": "together",
    "api.x.ai": "xai",
    "api.cerebras.ai": "cerebras",
}


_NOT_CHAT = ("/count_tokens", "/input_tokens", "/models", "/embeddings")
_MEDIA = ("/images/generations", "/images/edits", "/videos")


@dataclass(frozen=True, slots=True)
class Inspected:
    """One recorded interaction as llmkit reads it (``index`` is None for an unreadable file)."""

    file: str
    index: int | None
    provider: str | None
    status: int | None
    kind: str | None
    """The error kind (``rate_limit``, ...), or None for a success."""
    retryable: bool | None
    retry_after: float | None
    input_tokens: int | None
    output_tokens: int | None
    error: str | None = None
    """Why this interaction (or file) could not be read; None when it could. A call that is not
    a chat call (token counting, model lists) is read: no kind, and ``input_tokens`` is the
    count a token-counting endpoint answered."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def provider_of(url: httpx.URL) -> str | None:
    """The provider a request URL belongs to, or None when neither host nor path tells."""
    host = url.host.lower()
    for known, name in _HOSTS.items():
        if host == known or host.endswith("." + known):
            return name
    path = url.path.rstrip("/")
    if path.startswith("/api/v1/"):
        return "openrouter"
    if path.startswith(("/openai/deployments/", "/openai/v1/", "/openai/responses")):
        return "azure"
    if path in ("/api/chat", "/api/show", "/api/generate"):
        return "ollama"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    if path.endswith(("/messages", "/messages/count_tokens")):
        return "anthropic"
    if path.endswith(("/chat/completions", "/responses", "/completions", "/embeddings")):
        return "openai"
    if any(part in path for part in _MEDIA):
        return "openai"  # the Images API and the create -> poll -> download job API
    return None


def cassette_files(root: str | Path) -> list[Path]:
    """Every cassette file under ``root`` (recursively, as pytest-recording nests them)."""
    p = Path(root)
    if p.is_file():
        return [p]
    return sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _SUFFIXES)


def inspect_path(root: str | Path, *, provider: str | None = None) -> Iterator[Inspected]:
    """One row per interaction of every cassette under ``root`` (a directory or one file).

    Raises FileNotFoundError when ``root`` does not exist; everything else becomes a row.
    """
    base = Path(root)
    if not base.exists():
        raise FileNotFoundError(f"no such file or directory: {root}")
    for f in cassette_files(base):
        name = str(f.relative_to(base)) if base.is_dir() else f.name
        try:
            items = load_recording(f)
        except LLMError as exc:
            yield Inspected(name, None, provider, None, None, None, None, None, None, str(exc))
            continue
        for i, it in enumerate(items):
            yield _inspect(name, i, it.response, provider)


def _inspect(file: str, index: int, response: httpx.Response, forced: str | None) -> Inspected:
    provider = forced or provider_of(response.request.url)
    status = response.status_code
    if provider is None:
        why = f"cannot tell the provider from {response.request.url.host}; pass --provider"
        return Inspected(file, index, None, status, None, None, None, None, None, why)
    path = response.request.url.path.rstrip("/")
    if status < 400 and (response.request.method == "GET" or path.endswith(_NOT_CHAT)):
        # not a chat call (token counting, model lists): a count is its only usage figure
        return Inspected(file, index, provider, status, None, None, None, _count(response), None)
    if status < 400 and any(part in path for part in _MEDIA):
        # an image or a generation job: no chat answer to parse, only the usage it reports
        tokens_in, tokens_out = _media_usage(response)
        return Inspected(file, index, provider, status, None, None, None, tokens_in, tokens_out)
    try:
        if status >= 400:
            err = classify(provider, response)
            return _row(file, index, provider, status, err)
        streamed = "text/event-stream" in response.headers.get(
            "content-type", ""
        ) or response.content.lstrip().startswith(b"data:")  # a recorder dropped the type
        parsed = (parse_stream if streamed else parse_response)(provider, response)
    except LLMError as err:
        return _row(file, index, provider, status, err)
    except ValueError as exc:  # an unknown --provider
        return Inspected(file, index, provider, status, None, None, None, None, None, str(exc))
    usage = parsed.usage
    return Inspected(
        file, index, provider, status, None, None, None, usage.input_tokens, usage.output_tokens
    )


def _row(file: str, index: int, provider: str, status: int, err: LLMError) -> Inspected:
    return Inspected(
        file, index, provider, status, str(err.kind), err.retryable, err.retry_after, None, None
    )


def _media_usage(response: httpx.Response) -> tuple[int | None, int | None]:
    """``usage.input_tokens`` / ``output_tokens`` of an Images API answer (None when absent,
    as for a job's status or its downloaded content)."""
    try:
        usage = json.loads(response.content).get("usage")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None, None
    if not isinstance(usage, dict):
        return None, None
    out = []
    for name in ("input_tokens", "output_tokens"):
        value = usage.get(name)
        out.append(value if isinstance(value, int) and not isinstance(value, bool) else None)
    return out[0], out[1]


def _count(response: httpx.Response) -> int | None:
    """``input_tokens`` of a token-counting answer, None for anything else."""
    try:
        value = json.loads(response.content).get("input_tokens")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
