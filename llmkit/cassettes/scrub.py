"""What a cassette may keep: an ALLOWLIST of headers, and key-free bodies.

A denylist misses the header a provider adds next month (``openai-organization``,
``anthropic-organization-id``, ``set-cookie``, ``cf-ray`` ...). An allowlist keeps exactly what
llmkit's charts and classifiers read, and drops everything else:

Response headers kept: ``content-type``, ``retry-after``, ``retry-after-ms``,
``x-should-retry``, ``openai-processing-ms``, request ids (``x-request-id``, ``request-id``,
``x-generation-id``), and every ``x-ratelimit-*`` and ``anthropic-ratelimit-*`` header.

Request headers kept: ``content-type``, ``accept``, ``anthropic-version``, ``anthropic-beta``
and ``openai-beta``. ``authorization``, ``x-api-key``, ``api-key``, cookies, organisation and
project ids, user agents and every other request header are dropped.

Bodies: every string inside a JSON body, and any text body, goes through
:func:`llmkit.secrets.scrub`, which masks ``sk-...`` keys, ``Bearer ...`` tokens and
``api_key=...`` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from llmkit.secrets import scrub as scrub_text

__all__ = [
    "REQUEST_HEADERS",
    "RESPONSE_HEADERS",
    "RESPONSE_HEADER_PREFIXES",
    "keep_request_header",
    "keep_response_header",
    "scrub_headers",
    "scrub_json",
]

RESPONSE_HEADERS: Final = frozenset(
    {
        "content-type",
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
        "openai-processing-ms",
        "x-request-id",
        "request-id",
        "x-generation-id",
    }
)
RESPONSE_HEADER_PREFIXES: Final = ("x-ratelimit-", "anthropic-ratelimit-")
REQUEST_HEADERS: Final = frozenset(
    {"content-type", "accept", "anthropic-version", "anthropic-beta", "openai-beta"}
)


def keep_response_header(name: str) -> bool:
    low = name.lower()
    return low in RESPONSE_HEADERS or low.startswith(RESPONSE_HEADER_PREFIXES)


def keep_request_header(name: str) -> bool:
    return name.lower() in REQUEST_HEADERS


def scrub_headers(
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]], *, response: bool
) -> dict[str, list[str]]:
    """Allowlisted headers, names lower-cased and sorted, values as scrubbed string lists.

    Sorting makes re-recordings byte-identical whatever order the server sent them in.
    """
    keep = keep_response_header if response else keep_request_header
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, list[str]] = {}
    for name, value in items:
        if not keep(name):
            continue
        values = value if isinstance(value, list | tuple) else [value]
        out.setdefault(name.lower(), []).extend(scrub_text(str(v)) for v in values)
    return dict(sorted(out.items()))


def scrub_json(value: Any) -> Any:
    """A copy of a parsed JSON value with every string (keys too) scrubbed."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {scrub_text(str(k)): scrub_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_json(v) for v in value]
    return value
