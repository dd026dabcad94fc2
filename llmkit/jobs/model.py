"""What a media job is: its input (:class:`JobSpec`), its persisted record (:class:`Job`), its
states, and the validation that runs before anything is created.

States, in order (``failed`` can follow any of them; ``post_process_failed`` is its own state so
a post-processing bug can be fixed and retried without calling the provider again)::

    validated → queued → calling → stored → post_processed → done
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from llmkit.errors import BadRequestError

__all__ = [
    "STAGES",
    "TERMINAL",
    "Job",
    "JobInputError",
    "JobSpec",
    "Limits",
    "validate",
]

STAGES: Final = ("validated", "queued", "calling", "stored", "post_processed", "done")
TERMINAL: Final = frozenset({"done", "failed", "post_process_failed"})
KINDS: Final = ("image", "animation")


class JobInputError(BadRequestError):
    """A job's input was refused before anything was created (HTTP 422, CLI exit code 2).

    ``field`` names the offending input and ``reason`` says why, in words a user can act on.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", provider="llmkit-jobs", code="invalid_job_input")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Limits:
    """What the pipeline accepts. The defaults follow OpenAI's Images API (GPT image models)."""

    max_prompt_chars: int = 4000
    sizes: frozenset[str] = frozenset({"256x256", "512x512", "1024x1024", "1536x1024", "1024x1536"})
    formats: frozenset[str] = frozenset({"png", "jpeg", "webp"})
    blocked_words: frozenset[str] = frozenset({"gore", "nsfw"})
    """A local content rule checked before any provider call (the provider has its own)."""
    max_active_per_account: int = 50
    """Jobs not yet ``done``/``failed`` an account may have at once."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job's input: what to generate, for whom, and the key that makes a resubmit safe."""

    prompt: str
    kind: str = "image"
    """``image`` (Images API) or ``animation`` (the create → poll → download job API)."""
    size: str = "256x256"
    format: str = "png"
    model: str = ""
    """Empty: ``gpt-image-1`` for an image, ``grok-imagine-video`` for an animation."""
    account: str = "default"
    idempotency_key: str | None = None
    """The same key returns the same job; None derives one from the input itself."""

    def __post_init__(self) -> None:
        if self.model == "" and isinstance(self.kind, str):
            default = "grok-imagine-video" if self.kind == "animation" else "gpt-image-1"
            object.__setattr__(self, "model", default)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        known = {"prompt", "kind", "size", "format", "model", "account", "idempotency_key"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise JobInputError(unknown[0], "is not a job field")
        for name in known & set(data):
            value = data[name]
            if not (value is None and name == "idempotency_key") and not isinstance(value, str):
                raise JobInputError(name, "must be a string")
        if "prompt" not in data:
            raise JobInputError("prompt", "is required")
        return cls(**dict(data))

    def key(self) -> str:
        """The idempotency key: the given one, else a hash of the whole input."""
        if self.idempotency_key:
            return self.idempotency_key
        raw = "\0".join((self.account, self.kind, self.model, self.size, self.format, self.prompt))
        return "auto-" + hashlib.sha256(raw.encode()).hexdigest()[:32]

    def prompt_hash(self) -> str:
        return hashlib.sha256(self.prompt.encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "kind": self.kind,
            "size": self.size,
            "format": self.format,
            "model": self.model,
            "account": self.account,
            "idempotency_key": self.idempotency_key,
        }

    def dimensions(self) -> tuple[int, int]:
        w, _, h = self.size.partition("x")
        return int(w), int(h)


_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def validate(spec: JobSpec, limits: Limits | None = None) -> JobSpec:
    """Raise :class:`JobInputError` for the first thing wrong with ``spec``; return it if fine.

    Runs before a record, a file or a provider call exists, so refusing costs nothing.
    The per-account limit needs the store and is checked there.
    """
    limits = limits or Limits()
    prompt = spec.prompt.strip()
    if not prompt:
        raise JobInputError("prompt", "must not be empty")
    if len(spec.prompt) > limits.max_prompt_chars:
        raise JobInputError(
            "prompt", f"is {len(spec.prompt)} characters; the limit is {limits.max_prompt_chars}"
        )
    lowered = prompt.lower()
    for word in sorted(limits.blocked_words):
        if re.search(rf"\b{re.escape(word)}\b", lowered):
            raise JobInputError("prompt", f"contains a blocked word ({word!r})")
    if spec.kind not in KINDS:
        raise JobInputError("kind", f"must be one of {', '.join(KINDS)}")
    if spec.size not in limits.sizes:
        raise JobInputError("size", f"must be one of {', '.join(sorted(limits.sizes))}")
    if spec.format not in limits.formats:
        raise JobInputError("format", f"must be one of {', '.join(sorted(limits.formats))}")
    if spec.kind == "animation" and spec.format != "png":
        raise JobInputError("format", "animations are delivered as GIF; leave format as png")
    if not spec.model or len(spec.model) > 64:
        raise JobInputError("model", "must be 1 to 64 characters")
    if not _KEY.match(spec.account):
        raise JobInputError("account", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    if spec.idempotency_key is not None and not _KEY.match(spec.idempotency_key):
        raise JobInputError("idempotency_key", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    return spec


@dataclass(frozen=True, slots=True)
class Job:
    """A job record as the store holds it (the store is the source of truth, not the queue)."""

    id: str
    key: str
    spec: JobSpec
    state: str
    created: float
    updated: float
    attempts: int = 0
    """Times a worker started a stage run for this job (a resumed job counts each run)."""
    provider_calls: int = 0
    """Generation creates sent to the provider (retries of one create with its key count once)."""
    provider_job_id: str | None = None
    artifact: str | None = None
    """sha256 of the stored artifact."""
    thumbnail: str | None = None
    contact_sheet: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    lease_owner: str | None = None
    lease_until: float | None = None
    transitions: tuple[tuple[str, float], ...] = field(default=())

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def as_dict(self) -> dict[str, Any]:
        spec = self.spec.as_dict()
        spec["prompt_sha256"] = self.spec.prompt_hash()
        return {
            "id": self.id,
            "idempotency_key": self.key,
            "state": self.state,
            "input": spec,
            "created": self.created,
            "updated": self.updated,
            "attempts": self.attempts,
            "provider_calls": self.provider_calls,
            "provider_job_id": self.provider_job_id,
            "artifact": self.artifact,
            "thumbnail": self.thumbnail,
            "contact_sheet": self.contact_sheet,
            "error": None
            if self.error_kind is None
            else {"kind": self.error_kind, "message": self.error_message},
            "transitions": [{"state": s, "at": t} for s, t in self.transitions],
        }
