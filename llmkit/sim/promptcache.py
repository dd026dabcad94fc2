"""The providers' prompt caches, as far as a client can see them: tokens read and written.

A real provider bills a repeated prompt prefix at a discount and says so in the usage it
returns (``cached_tokens``, ``cache_read_input_tokens``, ``cache_creation_input_tokens``).
The simulator reproduces that accounting, not the storage: it remembers a checksum for each
prefix it has seen, per provider and model, and reports the longest one a new prompt repeats.

- OpenAI and OpenRouter cache any repeated prefix of 1024+ tokens by themselves, in 128-token
  steps (a real 1220-token prompt read 1152).
- Anthropic caches only up to the last ``cache_control`` mark, and reports the first sight of
  it as a cache write.

Forgetting is deterministic (oldest first), so a recorded run replays the same usage.
"""

from __future__ import annotations

import threading
import zlib

from llmkit.sim.gen import Call, count_tokens

__all__ = ["CACHE_MIN", "CACHE_SLOTS", "CACHE_STEP", "PromptCache"]

CACHE_MIN = 1024
"""Prompt tokens below which no provider caches."""
CACHE_STEP = 128
"""OpenAI caches in 128-token steps past 1024 (a real 1220-token prompt read 1152)."""
CACHE_SLOTS = 100_000
"""Prefixes remembered per simulator; the oldest are forgotten first (deterministic)."""

_Key = tuple[str, str, int, int]
"""(provider, model, prefix length in tokens, crc32 of the prefix)."""


class PromptCache:
    """The prompt prefixes one simulator has seen. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prefixes: dict[_Key, None] = {}
        """Insertion-ordered, so the first key is the one to forget."""

    def lookup(self, provider: str, call: Call, input_tokens: int) -> tuple[int, int]:
        """(read, written) prompt-cache tokens for this request, remembering its prefixes."""
        prompt = call.prompt
        if call.cache_prefix is None:
            if provider == "anthropic" or input_tokens < CACHE_MIN:
                return 0, 0
            keys, crc, done = [], 0, 0
            for n in range(CACHE_MIN, len(prompt) // 4 + 1, CACHE_STEP):
                crc = zlib.crc32(prompt[done : n * 4].encode(), crc)  # running: O(prompt)
                done = n * 4
                keys.append((provider, call.model, n, crc))
            with self._lock:
                read = max((k[2] for k in keys if k in self._prefixes), default=0)
                self._remember(keys)
            return read, 0
        prefix = prompt[: call.cache_prefix]
        tokens = count_tokens(prefix)
        if tokens < CACHE_MIN:
            return 0, 0
        key = (provider, call.model, tokens, zlib.crc32(prefix.encode()))
        with self._lock:
            seen = key in self._prefixes
            self._remember([key])
        return (tokens, 0) if seen else (0, tokens)

    def _remember(self, keys: list[_Key]) -> None:
        for k in keys:
            self._prefixes.pop(k, None)
            self._prefixes[k] = None
        while len(self._prefixes) > CACHE_SLOTS:
            del self._prefixes[next(iter(self._prefixes))]
