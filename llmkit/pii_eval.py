"""Measure the PII redactor on data no one here wrote.

Recall: ``Faker`` generates emails, phone numbers, cards, IBANs, national ids and IP addresses in
several locales; each is embedded in a sentence and counted as found when the redacted sentence
no longer contains it. False positives: the prompts of real recorded traffic (other projects'
cassettes, read where they lie, never copied) hold no such values, so every prompt the redactor
changes is counted and listed by type.

Used by ``benchmarks/redaction.py`` (prints the figures), ``tests/test_pii_eval.py`` (holds the
floor) and the security notebook. ``Faker`` is a development dependency, imported on use.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmkit.pii import Redactor

__all__ = [
    "LOCALES",
    "FalsePositives",
    "Recall",
    "measure_false_positives",
    "measure_recall",
    "real_cassette_dirs",
]

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "ja_JP")

TEMPLATES = (
    "Please contact me at {} about the refund.",
    "My details: {}. Thanks!",
    "Can you check why {} was flagged yesterday?",
    "{} is the one on file, update the ticket accordingly.",
    "The customer wrote (from {}) that the order never arrived",
    "Verify {}, then summarise the account history in two lines.",
)

# Faker method per type. ``SSN`` is each locale's national id (``Faker.ssn``): a US SSN for
# en_US (and the locales Faker gives a US-shaped one), the NIR for fr_FR, a BSN for nl_NL,
# a CPF for pt_BR, a codice fiscale for it_IT, a National Insurance number for en_GB.
_GENERATORS: dict[str, Callable[[Any], str]] = {
    "EMAIL": lambda f: f.email(),
    "PHONE": lambda f: f.phone_number(),
    "CARD": lambda f: f.credit_card_number(),
    "IBAN": lambda f: f.iban(),
    "SSN": lambda f: f.ssn(),
    "IP": lambda f: f.ipv4() if f.random.random() < 0.5 else f.ipv6(),
}


@dataclass(frozen=True, slots=True)
class Recall:
    """Per type: values generated and values found; ``misses`` holds a few examples."""

    total: dict[str, int]
    found: dict[str, int]
    misses: dict[str, list[str]] = field(default_factory=dict)

    def recall(self, kind: str) -> float:
        return self.found[kind] / self.total[kind] if self.total[kind] else 1.0

    def rows(self) -> list[tuple[str, int, int, float]]:
        return [(k, self.total[k], self.found[k], self.recall(k)) for k in self.total]


def measure_recall(
    per_type: int = 300, *, locales: Sequence[str] = LOCALES, seed: int = 0,
    redactor: Redactor | None = None,
) -> Recall:  # fmt: skip
    """Generate ``per_type`` values of each type spread over ``locales`` and count recall."""
    from faker import Faker  # noqa: PLC0415 - a development dependency

    red = redactor or Redactor()
    fakers = []
    for i, loc in enumerate(locales):
        f = Faker(loc)
        f.seed_instance(seed * 1000 + i)
        fakers.append(f)
    rng = random.Random(seed)
    total: Counter[str] = Counter()
    found: Counter[str] = Counter()
    misses: dict[str, list[str]] = {}
    for kind, gen in _GENERATORS.items():
        for n in range(per_type):
            f = fakers[n % len(fakers)]
            value = gen(f)
            text = rng.choice(TEMPLATES).format(value)
            total[kind] += 1
            if value not in red.redact(text):
                found[kind] += 1
            else:
                misses.setdefault(kind, []).append(f"{f.locales[0]}: {value}")
    return Recall(dict(total), {k: found[k] for k in total}, misses)


def real_cassette_dirs() -> list[Path]:
    """Folders of real recordings: ``LLMKIT_REAL_CASSETTES`` (os.pathsep-separated) when set,
    else ``../shared/real-cassettes`` and ``-set2`` beside the checkout, those that exist."""
    env = os.environ.get("LLMKIT_REAL_CASSETTES")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p and Path(p).is_dir()]
    shared = Path(__file__).resolve().parents[2] / "shared"
    return [d for d in (shared / "real-cassettes", shared / "real-cassettes-set2") if d.is_dir()]


def _texts(value: Any) -> Iterator[str]:
    """Prompt texts in a request body, whatever the API: messages, system, input, instructions."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key in ("content", "text", "system", "instructions", "input", "prompt", "messages"):
            if key in value:
                yield from _texts(value[key])


def recorded_prompts(dirs: Iterable[Path]) -> Iterator[tuple[str, str]]:
    """``(file name, prompt text)`` for every prompt message in every recording under ``dirs``."""
    from llmkit.recordings import load_recording  # noqa: PLC0415

    for d in dirs:
        for path in sorted(d.glob("*.yaml")):
            for it in load_recording(path):
                try:
                    body = json.loads(it.request.content or b"null")
                except ValueError:
                    continue
                if not isinstance(body, dict):
                    continue
                for key in ("messages", "system", "input", "instructions", "prompt"):
                    for text in _texts(body.get(key)):
                        if text.strip():
                            yield path.name, text


@dataclass(frozen=True, slots=True)
class FalsePositives:
    """How many real prompts the redactor changed (none of them holds private data)."""

    messages: int
    changed: int
    by_type: dict[str, int]
    examples: list[str]

    @property
    def rate(self) -> float:
        return self.changed / self.messages if self.messages else 0.0


def measure_false_positives(
    dirs: Iterable[Path] | None = None, redactor: Redactor | None = None
) -> FalsePositives:
    red = redactor or Redactor()
    messages = changed = 0
    by_type: Counter[str] = Counter()
    examples: list[str] = []
    for name, text in recorded_prompts(real_cassette_dirs() if dirs is None else dirs):
        messages += 1
        findings = red.find(text)
        if findings:
            changed += 1
            by_type.update(f.type for f in findings)
            examples.append(f"{name}: {', '.join(f.type for f in findings)}")
    return FalsePositives(messages, changed, dict(by_type), examples)
