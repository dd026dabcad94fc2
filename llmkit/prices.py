"""Prices and the cost of a call, from a maintained price database (``genai-prices``).

A hand-typed price table is wrong within weeks; ``genai-prices`` (pinned in pyproject.toml,
its bundled data only: llmkit never starts its updater) knows each model's price history, so
a call is priced at its own time -- a replayed call at its recorded time -- and a figure
computed today stays the figure tomorrow.

Rules, the same everywhere in llmkit:

- a cost is a :class:`~decimal.Decimal` in US dollars, or None when the model is unpriced
  (never a made-up 0); :attr:`PriceBook.unpriced` counts the calls that could not be priced;
- input tokens are inclusive (as in ``llmkit.Usage`` and ``genai_prices.Usage``); cache reads,
  cache writes and reasoning tokens are priced at the model's own rates for them;
- a cost the provider reported itself (OpenRouter's ``usage.cost``) is kept and preferred.

Your own prices (a fine-tuned model, a negotiated rate) go in ``overrides``: per-million-token
rates keyed by ``(provider, model)`` or by model alone. They win over the database.

``genai-prices`` brings pydantic and takes about a second to import, so it is imported on the
first priced call, not with ``import llmkit``. Each model's rates are looked up once per UTC
day and cached; a call is then priced with a few Decimal multiplications (a tiered price, such
as Anthropic's long-context rates, goes back to the library).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from llmkit.types import Usage

__all__ = ["ModelRates", "PriceBook", "default_prices"]

_MTOK = Decimal(1_000_000)

_PROVIDER_IDS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "openrouter": "openrouter",
    "gemini": "google",
    "google": "google",
    "azure": "azure",
    "groq": "groq",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "together": "together",
    "xai": "x-ai",
    "cerebras": "cerebras",
}
"""llmkit's provider names (named OpenAI-compatible services included) to genai-prices' ids;
a provider not listed (ollama, a custom base_url) is unpriced unless the book overrides it."""


@dataclass(frozen=True, slots=True)
class ModelRates:
    """US dollars per million tokens. ``cache_read``/``cache_write`` default to ``input``."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_read", "cache_write"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, Decimal):
                object.__setattr__(self, name, value := Decimal(str(value)))
            if not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a non-negative number of dollars, got {value}")

    def cost(self, usage: Usage) -> Decimal | None:
        """The cost of ``usage``; None when it reports no token counts at all."""
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        read = usage.cache_read_tokens or 0
        write = usage.cache_write_tokens or 0
        plain = max(0, (usage.input_tokens or 0) - read - write)
        total = (
            plain * self.input
            + read * (self.input if self.cache_read is None else self.cache_read)
            + write * (self.input if self.cache_write is None else self.cache_write)
            + (usage.output_tokens or 0) * self.output
        )
        return total / _MTOK


def _at(wall: float | None) -> datetime:
    return datetime.now(tz=UTC) if wall is None else datetime.fromtimestamp(wall, tz=UTC)


class PriceBook:
    """Prices usage from ``genai-prices`` (and your ``overrides``); implements the cache's
    ``Pricer`` protocol. Thread-safe; one instance can serve every client."""

    def __init__(
        self,
        overrides: Mapping[str | tuple[str, str], ModelRates] | None = None,
        *,
        database: bool = True,
    ) -> None:
        self.overrides: dict[str | tuple[str, str], ModelRates] = dict(overrides or {})
        for key, rates in self.overrides.items():
            if not isinstance(rates, ModelRates):
                raise TypeError(f"override {key!r} must be ModelRates, not {type(rates).__name__}")
        self.database = database
        self.priced = 0
        self.unpriced = 0
        """Calls that could not be priced (unknown model, or no usage reported)."""
        self._lock = threading.Lock()
        self._rates: dict[tuple[str, str, str], ModelRates | Any | None] = {}

    def cost(
        self, provider: str, model: str | None, usage: Usage, *, at: float | None = None
    ) -> Decimal | None:
        """Dollars for ``usage`` of ``model`` at wall time ``at`` (unix s; None: now). The
        provider's own reported cost (``usage.cost``) wins when present."""
        value = self._cost(provider, model, usage, at)
        with self._lock:
            if value is None:
                self.unpriced += 1
            else:
                self.priced += 1
        return value

    def _cost(
        self, provider: str, model: str | None, usage: Usage, at: float | None
    ) -> Decimal | None:
        if usage.cost is not None:
            return usage.cost
        if not model:
            return None
        rates = self.rates(provider, model, at=at)
        if rates is None:
            return None
        if isinstance(rates, ModelRates):
            return rates.cost(usage)
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        total: Decimal = rates.calc_price(_library_usage(usage))["total_price"]
        return total

    def rates(self, provider: str, model: str, *, at: float | None = None) -> Any:
        """The rates in force for ``model`` at ``at``: :class:`ModelRates` (an override, or
        the database's flat prices), the library's ``ModelPrice`` (tiered prices), or None."""
        key = provider.lower(), model, _at(at).date().isoformat()
        try:
            return self._rates[key]
        except KeyError:
            pass
        found = self._lookup(key[0], model, _at(at))
        with self._lock:
            self._rates[key] = found
        return found

    def _lookup(self, provider: str, model: str, when: datetime) -> Any:
        override = self.overrides.get((provider, model), self.overrides.get(model))
        if override is not None or not self.database:
            return override
        provider_id = _PROVIDER_IDS.get(provider)
        if provider_id is None:
            return None
        from genai_prices import data_snapshot  # noqa: PLC0415 - pydantic: ~1 s to import
        from genai_prices.types import TieredPrices  # noqa: PLC0415

        ref = model.removeprefix("models/")
        try:
            _, info = data_snapshot.get_snapshot().find_provider_model(ref, None, provider_id, None)
        except LookupError:
            return None
        price = info.get_prices(when)
        flat = {
            name: getattr(price, f"{name}_mtok", None)
            for name in ("input", "output", "cache_read", "cache_write")
        }
        if any(isinstance(v, TieredPrices) for v in flat.values()):
            return price
        if flat["input"] is None or flat["output"] is None:
            return price
        return ModelRates(
            input=flat["input"],
            output=flat["output"],
            cache_read=flat["cache_read"],
            cache_write=flat["cache_write"],
        )

    def __repr__(self) -> str:
        return (
            f"PriceBook(overrides={len(self.overrides)}, database={self.database}, "
            f"priced={self.priced}, unpriced={self.unpriced})"
        )


def _library_usage(usage: Usage) -> Any:
    from genai_prices import Usage as LibUsage  # noqa: PLC0415

    return LibUsage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_read_tokens=usage.cache_read_tokens or 0,
        cache_write_tokens=usage.cache_write_tokens or 0,
    )


_DEFAULT: PriceBook | None = None


def default_prices() -> PriceBook:
    """The process-wide :class:`PriceBook` clients use unless given ``prices=``."""
    global _DEFAULT  # noqa: PLW0603 - one shared book, made on first use
    if _DEFAULT is None:
        _DEFAULT = PriceBook()
    return _DEFAULT
