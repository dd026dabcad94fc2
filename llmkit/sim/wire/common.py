"""What every wire module needs: the per-request context and small encoding helpers."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from llmkit.sim.gen import Call, Completion
from llmkit.sim.ratelimit import Admission

__all__ = ["BAD_GATEWAY_HTML", "Ctx", "Reply", "dumps", "hex_id", "sse"]

BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
"""What Cloudflare sends for a 502: HTML, not JSON, so clients must cope."""

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class Ctx:
    """Everything a wire module needs to render one response. Built by the core per request."""

    __slots__ = (
        "adm",
        "cache_read",
        "cache_write",
        "call",
        "comp",
        "created",
        "model",
        "obfuscate",
        "processing_ms",
        "provider",
        "request_id",
        "resp_id",
        "retry_after",
        "rng",
        "wall",
    )

    def __init__(self, provider: str, rng: random.Random, wall: float) -> None:
        self.provider = provider
        self.rng = rng
        self.wall = wall
        self.created = int(wall)
        self.call: Call | None = None
        self.comp: Completion | None = None
        self.model = ""
        self.request_id = ""
        self.resp_id = ""
        self.processing_ms = 0
        self.adm: Admission | None = None
        self.retry_after: float | None = None
        self.cache_read = 0
        """Prompt tokens served from the prompt cache (included in ``comp.input_tokens``)."""
        self.cache_write = 0
        """Prompt tokens written to the cache (Anthropic reports them apart)."""
        self.obfuscate = False


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete, non-streamed answer (success or error) before timing is applied."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


_ENCODER = json.JSONEncoder(separators=(",", ":"))


def dumps(obj: Any) -> str:
    """Compact JSON, as the APIs send it (one shared encoder: this is on the hot path)."""
    if isinstance(obj, str):
        return jstr(obj)
    return _ENCODER.encode(obj)


jstr: Callable[[str], str] = encode_basestring_ascii
"""A JSON string literal, via the C encoder."""


def sse(data: str, event: str | None = None) -> bytes:
    if event is None:
        return f"data: {data}\n\n".encode()
    return f"event: {event}\ndata: {data}\n\n".encode()


def hex_id(rng: random.Random, nbytes: int = 16) -> str:
    return f"{rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def b58_id(rng: random.Random, n: int = 24) -> str:
    return "".join(rng.choices(_B58, k=n))


def alnum_id(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_B58, k=n))


def split_args(args: str, size: int = 4) -> list[str]:
    """Tool-call arguments as the providers stream them: a few characters per delta."""
    return [args[i : i + size] for i in range(0, len(args), size)] or [""]


class Invalid(Exception):
    """The request itself is wrong (400): a wire module turns it into its own error body."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


def require_model(data: Any) -> str:
    if not isinstance(data, dict):
        raise Invalid("The request body must be a JSON object.")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise Invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    return model


def opt_int(data: dict[str, Any], *names: str) -> int | None:
    for name in names:
        v = data.get(name)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise Invalid(
                f"Invalid '{name}': integer below minimum value.", name, "integer_below_min_value"
            )
        return v
    return None


_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def reasoning_model(model: str) -> bool:
    """OpenAI's reasoning families (also behind an OpenRouter ``vendor/`` prefix)."""
    return model.rsplit("/", 1)[-1].startswith(_REASONING_PREFIXES)


def effort(value: Any) -> str | None:
    """The effort a ``reasoning_effort`` string or a ``reasoning`` object asks for."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if value.get("enabled") is False:
            return "none"
        e = value.get("effort")
        return e if isinstance(e, str) else "medium"
    return None
