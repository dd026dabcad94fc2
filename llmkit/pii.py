"""Keep private data out of prompts: detect, replace by typed placeholders, optionally restore.

What is detected, and how each detector stays honest about false positives:

=========  ==============================================================================
type       detector
=========  ==============================================================================
EMAIL      address shape (local part, ``@``, dotted domain with a letter TLD)
PHONE      ``phonenumbers`` (region-aware, validated numbers) **plus** a digit-run detector:
           7-15 digits with phone separators, or 9-15 bare digits, and an extension
           (``x287``, ``ext. 12``) kept with the number. ``phonenumbers`` alone misses many
           real-world spellings (``206.269.0743x9150``, ``+49(0) 778353374``); the digit run
           refuses dates, times and decimals.
CARD       13-19 digits (spaces or dashes allowed) passing the Luhn check
IBAN       country code, two check digits, 11-30 letters/digits passing the mod-97 check
SSN        US social security number or ITIN ``AAA-GG-SSSS`` (area not 000/666, no zero
           group or serial)
NATID      national ids with a checksum: French NIR (mod-97 key), Dutch BSN (11-test),
           Brazilian CPF (two check digits), Italian codice fiscale (check letter), UK
           National Insurance number (prefix rules)
IP         IPv4 and IPv6 addresses, validated by :mod:`ipaddress`
SECRET     key-like strings (provider key prefixes, bearer tokens, AWS/GitHub/Slack/Google
           keys, JWTs, and long mixed-case tokens with digits)
=========  ==============================================================================

Plus user-supplied patterns (``patterns={"ORDER": r"ORD-\\d{6}"}``) and literal names
(``names=["Ada Lovelace"]``): names and postal addresses otherwise need language models, which
this package does not ship.

Placeholders are typed and numbered per call (``<EMAIL_1>``, ``<PHONE_2>``); the same value gets
the same placeholder everywhere in one call, so the model can still tell "the same person wrote
twice" from "two people wrote". :meth:`Redaction.restore` puts the originals back into the
answer; the mapping lives in the :class:`Redaction` value only, in memory, for the call.

``redact(text)`` is the pure function; :class:`RedactionLayer` applies it to every message of a
request before it is sent, in one of three modes (``redact``, ``block`` -- raise
:class:`PIIBlockedError` and send nothing --, or ``allow`` -- send as is, record what was seen).
Telemetry and logs get counts per type, never the values.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from llmkit.errors import BadRequestError
from llmkit.layers import AsyncHandler, CallContext, Handler
from llmkit.outcomes import Column, register_columns
from llmkit.types import ChatRequest, ChatResponse, Message

__all__ = [
    "PII_TYPES",
    "Finding",
    "PIIBlockedError",
    "Redaction",
    "RedactionLayer",
    "RedactionOutcome",
    "Redactor",
    "find_pii",
    "redact",
]

PII_TYPES: Final = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "NATID", "IP", "SECRET")

# Higher wins when two findings overlap: checksummed detectors beat shape-only ones, and the
# phone digit-run (the loosest) loses to everything.
_PRIORITY: Final = {
    "SECRET": 90,
    "EMAIL": 80,
    "IBAN": 70,
    "CARD": 60,
    "SSN": 55,
    "NATID": 50,
    "IP": 40,
    "PHONE": 10,
}
_USER_PRIORITY: Final = 100  # the caller's own patterns and names win over everything


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected value: its type and where it is (``text[start:end]``)."""

    type: str
    start: int
    end: int
    value: str = field(repr=False)

    def __repr__(self) -> str:  # the value is what we are protecting: never printed
        return f"Finding({self.type}, {self.start}:{self.end})"


# ---------------------------------------------------------------------------------- detectors

_EMAIL: Final = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b"
)
_CARD: Final = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN: Final = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN: Final = re.compile(r"(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-])")
_NIR: Final = re.compile(
    r"(?<!\d)[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?!\d)"
)
_BSN_CPF: Final = re.compile(r"(?<![\d.-])(?:\d{9}|\d{11}|\d{3}\.\d{3}\.\d{3}-\d{2})(?![\d-])")
_CF: Final = re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPRST]\d{2}[A-Z]\d{3}[A-Z]\b")
_NINO: Final = re.compile(
    r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
    r"|\bZZ ?\d{2} ?\d{2} ?\d{2} ?[A-Z]\b"  # ZZ: example and temporary numbers
)
_IPV4: Final = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6: Final = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_SECRET: Final = re.compile(
    r"sk-(?:proj-|ant-(?:api\d\d-)?|or-v1-|svcacct-)?[A-Za-z0-9_\-]{16,}"
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}\b"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bAIza[0-9A-Za-z_\-]{35}"
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    r"|(?<=[Bb]earer )[A-Za-z0-9._\-]{16,}"
)
# A long opaque token: 32+ characters mixing lower case, upper case and digits (a hex digest or
# a UUID has no upper case, an English word has no digits).
_TOKEN: Final = re.compile(r"(?<![\w-])[A-Za-z0-9_\-]{32,}(?![\w-])")
_PHONE_RUN: Final = re.compile(
    r"(?<![\w.+/-])(?:\+|00)?\(?\d[\d\s().\-/]{5,22}\d"
    r"(?:\s?(?:x|ext\.?|extension|#)\s?\d{1,6})?(?![\w/-])",
    re.IGNORECASE,
)
_DATE_OR_TIME: Final = re.compile(
    r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$|^\d{1,2}:\d{2}"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    s = value.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _ssn_ok(m: re.Match[str]) -> bool:
    area, group, serial = m.group(1), m.group(2), m.group(3)
    # 9xx areas are ITINs (taxpayer numbers, as private as an SSN): kept.
    return area not in ("000", "666") and group != "00" and serial != "0000"


def _nir_ok(value: str) -> bool:
    s = value.replace(" ", "")
    body, key = s[:13], int(s[13:])
    body = body.replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == key


def _bsn_ok(s: str) -> bool:
    total = sum(int(d) * w for d, w in zip(s[:8], range(9, 1, -1), strict=True))
    return s[0] != "0" and (total - int(s[8])) % 11 == 0


def _cpf_ok(s: str) -> bool:
    d = [int(c) for c in s]
    if len(set(d)) == 1:
        return False
    for n in (9, 10):
        check = sum(d[i] * (n + 1 - i) for i in range(n)) * 10 % 11 % 10
        if check != d[n]:
            return False
    return True


_CF_ODD: Final = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10,
                  22, 25, 24, 23]  # fmt: skip


def _cf_ok(s: str) -> bool:
    total = 0
    for i, ch in enumerate(s[:15]):
        n = int(ch) if ch.isdigit() else ord(ch) - 65
        total += _CF_ODD[n] if i % 2 == 0 else n
    return chr(65 + total % 26) == s[15]


def _ip_ok(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _token_ok(value: str) -> bool:
    return (
        any(c.islower() for c in value)
        and any(c.isupper() for c in value)
        and sum(c.isdigit() for c in value) >= 4
    )


def _phone_run_ok(value: str) -> bool:
    core = str(re.split(r"(?i)\s?(?:x|ext\.?|extension|#)\s?\d", value)[0]).strip()
    digits = sum(c.isdigit() for c in core)
    if not 7 <= digits <= 15 or _DATE_OR_TIME.match(core) or _SSN.fullmatch(core):
        return False  # an SSN-shaped run is the SSN detector's call (it checks the number)
    if re.fullmatch(r"\d+", core):  # a bare run: 9-12 digits (longer ones are ids, counts)
        return 9 <= digits <= 12
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", core):  # 1,234,567 or 1.234.567
        return False
    return not re.fullmatch(r"\d+\.\d+", core)  # a decimal


# Where a phone number could be: 6+ digits with phone punctuation, and what may follow it (an
# extension). ``phonenumbers`` runs on these windows only: on a whole long prompt it costs
# ~10 ms per KB, on the windows a fraction of that.
_PHONE_WINDOW: Final = re.compile(
    r"\+?\(?\d[\d\s().\-/]{4,24}\d(?:\s?(?:x|ext\.?)\s?\d{1,6})?", re.I
)


def _phonenumbers(text: str, regions: Sequence[str]) -> Iterable[tuple[int, int]]:
    import phonenumbers  # noqa: PLC0415 - imported on first use: it is a large table

    for w in _PHONE_WINDOW.finditer(text):
        start = max(0, w.start() - 1)
        window = text[start : w.end() + 1]
        for region in regions:
            for m in phonenumbers.PhoneNumberMatcher(window, region, phonenumbers.Leniency.VALID):
                yield start + m.start, start + m.end


def _detect(text: str, regions: Sequence[str], digit_runs: bool) -> list[Finding]:
    out: list[Finding] = []

    def add(kind: str, start: int, end: int) -> None:
        out.append(Finding(kind, start, end, text[start:end]))

    for m in _SECRET.finditer(text):
        add("SECRET", *m.span())
    for m in _TOKEN.finditer(text):
        if _token_ok(m.group()):
            add("SECRET", *m.span())
    for m in _EMAIL.finditer(text):
        add("EMAIL", *m.span())
    for m in _IBAN.finditer(text):
        if _iban_ok(m.group()):
            add("IBAN", *m.span())
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            add("CARD", *m.span())
    for m in _SSN.finditer(text):
        if _ssn_ok(m):
            add("SSN", *m.span())
    for m in _NIR.finditer(text):
        if _nir_ok(m.group()):
            add("NATID", *m.span())
    for m in _BSN_CPF.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if (len(digits) == 9 and _bsn_ok(digits)) or (len(digits) == 11 and _cpf_ok(digits)):
            add("NATID", *m.span())
    for m in _CF.finditer(text):
        if _cf_ok(m.group()):
            add("NATID", *m.span())
    for m in _NINO.finditer(text):
        add("NATID", *m.span())
    for rx in (_IPV4, _IPV6):
        for m in rx.finditer(text):
            if _ip_ok(m.group()):
                add("IP", *m.span())
    if any(c.isdigit() for c in text):
        for start, end in _phonenumbers(text, regions):
            add("PHONE", start, end)
        for m in _PHONE_RUN.finditer(text) if digit_runs else ():
            value = m.group().rstrip()
            if _phone_run_ok(value):
                add("PHONE", m.start(), m.start() + len(value))
    return out


def _resolve(findings: list[Finding], priority: Mapping[str, int]) -> list[Finding]:
    """Keep non-overlapping findings: higher priority first, then longer, then earlier."""
    ranked = sorted(findings, key=lambda f: (-priority.get(f.type, 0), f.start - f.end, f.start))
    kept: list[Finding] = []
    for f in ranked:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


# ---------------------------------------------------------------------------------- redactor


@dataclass(frozen=True, slots=True)
class Redaction:
    """The result of redacting one call's texts: the redacted texts and how to undo it.

    ``mapping`` (placeholder -> original) is what :meth:`restore` uses; it is excluded from the
    repr and should not outlive the call. ``counts`` (type -> distinct values) is what telemetry
    may keep.
    """

    texts: tuple[str, ...]
    mapping: Mapping[str, str] = field(repr=False)
    counts: Mapping[str, int]

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""

    @property
    def changed(self) -> bool:
        return bool(self.mapping)

    def restore(self, text: str) -> str:
        """Put the original values back where ``text`` (a model's answer) quotes placeholders."""
        if not self.mapping:
            return text
        rx = re.compile("|".join(re.escape(p) for p in sorted(self.mapping, key=len, reverse=True)))
        return rx.sub(lambda m: self.mapping[m.group()], text)


class Redactor:
    """Detectors plus the caller's own patterns and names; one instance serves many calls.

    ``types`` limits the built-in detectors (default: all of :data:`PII_TYPES`);
    ``patterns`` maps a placeholder type to a regex; ``names`` are literal strings (matched
    case-insensitively on word boundaries) replaced as ``<NAME_n>``; ``regions`` are the
    ``phonenumbers`` regions tried for numbers written without a country code;
    ``digit_runs=False`` leaves phone detection to ``phonenumbers`` alone (to compare).
    """

    def __init__(
        self,
        *,
        types: Iterable[str] = PII_TYPES,
        patterns: Mapping[str, str | re.Pattern[str]] | None = None,
        names: Iterable[str] = (),
        regions: Sequence[str] = ("US", "GB", "DE", "FR"),
        digit_runs: bool = True,
    ) -> None:
        self.digit_runs = digit_runs
        self.types = frozenset(types)
        unknown = self.types - set(PII_TYPES)
        if unknown:
            raise ValueError(f"unknown PII types {sorted(unknown)}; known: {list(PII_TYPES)}")
        self.patterns = {k.upper(): re.compile(v) for k, v in (patterns or {}).items()}
        names = [n for n in names if n.strip()]
        self._names = (
            re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b", re.IGNORECASE)
            if names
            else None
        )
        self.regions = tuple(regions)
        self._priority = dict(_PRIORITY) | dict.fromkeys(self.patterns, _USER_PRIORITY)
        self._priority["NAME"] = _USER_PRIORITY

    def find(self, text: str) -> list[Finding]:
        """Every non-overlapping finding in ``text``, in order."""
        found = [f for f in _detect(text, self.regions, self.digit_runs) if f.type in self.types]
        for kind, rx in self.patterns.items():
            found += [Finding(kind, *m.span(), m.group()) for m in rx.finditer(text) if m.group()]
        if self._names is not None:
            found += [Finding("NAME", *m.span(), m.group()) for m in self._names.finditer(text)]
        return _resolve(found, self._priority)

    def redact_all(self, texts: Iterable[str]) -> Redaction:
        """Redact several texts of one call with one numbering (same value, same placeholder)."""
        by_value: dict[tuple[str, str], str] = {}
        mapping: dict[str, str] = {}
        numbers: Counter[str] = Counter()
        out: list[str] = []
        for text in texts:
            parts: list[str] = []
            pos = 0
            for f in self.find(text):
                key = (f.type, f.value)
                placeholder = by_value.get(key)
                if placeholder is None:
                    numbers[f.type] += 1
                    placeholder = f"<{f.type}_{numbers[f.type]}>"
                    by_value[key] = placeholder
                    mapping[placeholder] = f.value
                parts += [text[pos : f.start], placeholder]
                pos = f.end
            parts.append(text[pos:])
            out.append("".join(parts))
        return Redaction(tuple(out), mapping, dict(numbers))

    def redact(self, text: str) -> str:
        return self.redact_all([text]).text


_DEFAULT: Redactor | None = None


def _default() -> Redactor:
    global _DEFAULT  # noqa: PLW0603 - one lazily built default, like re's cache
    if _DEFAULT is None:
        _DEFAULT = Redactor()
    return _DEFAULT


def redact(text: str) -> str:
    """``text`` with every detected private value replaced by a typed placeholder.

    >>> redact("Mail ada@example.org or call +1 206-555-0143")
    'Mail <EMAIL_1> or call <PHONE_1>'
    """
    if not isinstance(text, str):
        raise TypeError(f"redact() takes a str, not {type(text).__name__}")
    return _default().redact(text)


def find_pii(text: str) -> list[Finding]:
    """The findings :func:`redact` would replace (types and spans; values are not printed)."""
    return _default().find(text)


# ---------------------------------------------------------------------------------- the layer


class PIIBlockedError(BadRequestError):
    """The request held private data and the redaction layer is in ``block`` mode: not sent.

    ``counts`` says what was found (type -> distinct values); the values are not in the error.
    """

    def __init__(self, counts: Mapping[str, int]) -> None:
        found = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
        super().__init__(f"request not sent: it holds private data ({found})", code="pii_blocked")
        self.counts = dict(counts)


Mode = Literal["redact", "block", "allow"]


@dataclass(frozen=True, slots=True)
class RedactionOutcome:
    """What the redaction layer did in one call (for telemetry: counts, never values)."""

    mode: Mode
    counts: Mapping[str, int]

    @property
    def found(self) -> int:
        return sum(self.counts.values())


class RedactionLayer:
    """Redact every message of a request before it is sent (and, optionally, restore after).

    Modes: ``redact`` replaces values by placeholders; ``block`` raises
    :class:`PIIBlockedError` before anything is sent; ``allow`` sends the request unchanged and
    only records what it saw. With ``restore=True`` the answer's text (and tool-call arguments)
    get the original values back (``chat``; a stream delivered by ``Client.stream`` carries the
    placeholders). It reports a :class:`RedactionOutcome` (telemetry columns
    ``redaction_mode``, ``redaction_found``, ``redaction_types``: counts, never values). Put it
    first in ``layers=`` so the cache and the transport below (cassettes included) only ever
    see placeholders.
    """

    def __init__(
        self, redactor: Redactor | None = None, *, mode: Mode = "redact", restore: bool = False
    ) -> None:
        if mode not in ("redact", "block", "allow"):
            raise ValueError(f"mode must be 'redact', 'block' or 'allow', not {mode!r}")
        self.redactor = redactor or _default()
        self.mode: Mode = mode
        self.restore = restore

    def _before(self, request: ChatRequest, ctx: CallContext) -> tuple[ChatRequest, Redaction]:
        r = self.redactor.redact_all(m.content for m in request.messages)
        ctx.report(RedactionOutcome(self.mode, r.counts))
        if not r.changed or self.mode == "allow":
            return request, r
        if self.mode == "block":
            raise PIIBlockedError(r.counts)
        pairs = zip(request.messages, r.texts, strict=True)
        messages = tuple(_with_content(m, t) for m, t in pairs)
        return request.with_(messages=messages), r

    def _after(self, response: ChatResponse, r: Redaction) -> ChatResponse:
        if not (self.restore and r.changed and self.mode == "redact"):
            return response
        calls = tuple(type(c)(c.id, c.name, r.restore(c.arguments)) for c in response.tool_calls)
        return response.with_(text=r.restore(response.text), tool_calls=calls)

    def handle(self, request: ChatRequest, ctx: CallContext, next: Handler) -> ChatResponse:
        sent, r = self._before(request, ctx)
        return self._after(next(sent, ctx), r)

    async def ahandle(
        self, request: ChatRequest, ctx: CallContext, next: AsyncHandler
    ) -> ChatResponse:
        sent, r = self._before(request, ctx)
        return self._after(await next(sent, ctx), r)


def _with_content(m: Message, content: str) -> Message:
    if content == m.content:
        return m
    return Message(m.role, content, m.name, m.tool_call_id, m.tool_calls)


def _types(outcome: RedactionOutcome) -> str:
    """``"CARD=1 EMAIL=2"``: what was found, by type (a telemetry-friendly string)."""
    return " ".join(f"{t}={n}" for t, n in sorted(outcome.counts.items()))


register_columns(
    RedactionOutcome,
    Column("redaction_mode", "llmkit.redaction.mode", call=lambda o: o.mode),
    Column("redaction_found", "llmkit.redaction.found", call=lambda o: o.found),
    Column("redaction_types", "llmkit.redaction.types", call=_types),
)
