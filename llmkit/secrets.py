"""Secret hygiene: a key type that never prints itself, and a scrubber for text that might.

Why a type and not a convention: a key held in a plain ``str`` ends up in a repr, a traceback's
locals, a log line. :class:`APIKey` keeps the value behind ``reveal()``, which only the request
builder calls.
"""

from __future__ import annotations

import os
import re
from typing import Final

__all__ = ["ENV_VARS", "APIKey", "scrub"]

# Key-like shapes: provider prefixes, bearer tokens, and a long opaque token right after the
# words "api key" (OpenAI-compatible servers echo "Incorrect API key provided: <key>"). The label
# stays, so the message still says what went wrong; only the value is masked.
_KEY_RE: Final = re.compile(
    r"sk-(?:proj-|ant-(?:api\d\d-)?|or-v1-|svcacct-)?[A-Za-z0-9_\-*]{8,}"
    r"|AIza[A-Za-z0-9_\-]{20,}|gsk_[A-Za-z0-9]{20,}|xai-[A-Za-z0-9]{20,}"
    r"|(?P<query>[?&]key=)[A-Za-z0-9._\-]{8,}"
    r"|(?P<bearer>(?i:bearer)\s+)[A-Za-z0-9._\-]{8,}"
    r"|(?P<label>(?i:api[_\s-]?key(?:\s+provided)?)[\"'=:\s]+)[A-Za-z0-9._\-]{12,}"
)


def _mask(m: re.Match[str]) -> str:
    return (m.group("bearer") or m.group("label") or m.group("query") or "") + "[REDACTED]"


ENV_VARS: Final[dict[str, tuple[str, ...]]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "azure": ("AZURE_OPENAI_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "cerebras": ("CEREBRAS_API_KEY",),
    "ollama": ("OLLAMA_API_KEY",),
}


def scrub(text: str, *secrets: APIKey | None) -> str:
    """Mask anything key-like in ``text`` (provider messages echo partial keys), and every
    given key literally, whatever its shape."""
    for key in secrets:
        if key is not None and len(key.reveal()) >= 4:
            text = text.replace(key.reveal(), "[REDACTED]")
    return _KEY_RE.sub(_mask, text)


class APIKey:
    """An API key whose ``repr``/``str`` are masked. ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @classmethod
    def from_env(cls, provider: str) -> APIKey | None:
        for name in ENV_VARS.get(provider, ()):
            value = os.environ.get(name)
            if value:
                return cls(value)
        return None

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "APIKey('****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, APIKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("APIKey is not picklable: keys do not leave the process")
