"""The one reader of rate-limit reset values, and proof that every caller uses it."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from llmkit import throttle
from llmkit.providers import anthropic_errors, openai_chat, openrouter
from llmkit.ratelimit import (
    OLDEST_CREDIBLE_RESET,
    parse_duration,
    parse_epoch_ms,
    parse_reset,
    parse_rfc3339,
)

WALL = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("250us", 0.00025),
        (" 1s ", 1.0),
        ("17", 17.0),
        (None, None),
        ("", None),
        ("X-RATELIMIT-RESET-TOKENS-XXX", None),
        ("5x", None),
        ("1s5", None),
        ("-3", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_duration(text: str | None, seconds: float | None) -> None:
    got = parse_duration(text)
    assert got == (None if seconds is None else pytest.approx(seconds))


def test_parse_rfc3339_guards_placeholders() -> None:
    assert parse_rfc3339("2026-01-01T00:00:30Z") == WALL + 30
    assert parse_rfc3339("2026-01-01T00:00:30z") == WALL + 30
    assert parse_rfc3339("2026-01-01T01:00:30+01:00") == WALL + 30
    assert parse_rfc3339("1970-01-01T00:00:00Z") is None
    assert parse_rfc3339("1999-12-31T23:59:59Z") is None
    assert parse_rfc3339("2000-01-01T00:00:00Z") == OLDEST_CREDIBLE_RESET
    assert parse_rfc3339("2026-01-01T00:00:30") is None  # no zone
    assert parse_rfc3339("<RESET>") is None
    assert parse_rfc3339(None) is None


def test_parse_epoch_ms() -> None:
    assert parse_epoch_ms(str(int((WALL + 30) * 1000))) == WALL + 30
    assert parse_epoch_ms("0") is None  # 1970: a placeholder, not "now"
    assert parse_epoch_ms("?") is None
    assert parse_epoch_ms("inf") is None
    assert parse_epoch_ms(None) is None


def test_parse_reset_accepts_both_dialects() -> None:
    assert parse_reset("6m0s", wall=WALL) == 360.0
    assert parse_reset("2026-01-01T00:00:30Z", wall=WALL) == 30.0
    assert parse_reset("2025-12-31T23:59:00Z", wall=WALL) == 0.0  # already refilled
    assert parse_reset("1970-01-01T00:00:00Z", wall=WALL) is None


def test_the_readers_have_one_home() -> None:
    for module in (throttle, openai_chat):
        exported = set(getattr(module, "__all__", ()))
        assert not exported & {"parse_duration", "parse_reset", "parse_reset_duration"}
    assert not hasattr(openai_chat, "parse_reset_duration")


def test_adapters_read_resets_through_the_shared_module() -> None:
    """The same placeholders are unknown in every adapter (no private copy drifts)."""
    epoch = httpx.Headers(
        {
            "anthropic-ratelimit-tokens-reset": "1970-01-01T00:00:00Z",
            "anthropic-ratelimit-tokens-remaining": "0",
        }
    )
    assert anthropic_errors.ratelimit_reset_delay(epoch, now=WALL) is None
    real = httpx.Headers({"anthropic-ratelimit-tokens-reset": "2026-01-01T00:00:30Z"})
    assert anthropic_errors.ratelimit_reset_delay(real, now=WALL) == 30.0
    assert openrouter._reset_epoch_ms("0", now=WALL) is None
    assert openrouter._reset_epoch_ms(str(int((WALL + 5) * 1000)), now=WALL) == 5.0
