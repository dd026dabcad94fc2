"""Secret hygiene: a key type that never prints itself, and one masking pass for every string
that leaves: reprs, log records, exception texts, cassettes.

Why a type and not a convention: a key held in a plain ``str`` ends up in a repr, a traceback's
locals, a log line. :class:`APIKey` keeps the value behind ``reveal()``, which only the request
builder calls.

Why one pass fed by what the process knows, and not a list of places: keys hide in more than
``api_key=`` -- in a base URL's userinfo (``https://user:KEY@host``), in its query (Azure's
``?api-key=``, Gemini's ``?key=``), in extra headers, and in a provider's error that echoes a
key of no known shape, whole or in part. Every secret a client is given is registered here
(:func:`register`); :func:`scrub` masks every registered secret, every long fragment of one
(a partial echo), and every key-shaped pattern. The places that emit strings call ``scrub``
(errors, cassettes, llmkit's own log lines), and :class:`SecretFilter` does the same for any
logging handler -- llmkit installs it on the ``httpx``, ``httpcore`` and llmkit's loggers once a
client is built, and users can install it on their own handlers.

Registered values live in this process's memory only, as long as the process; they are never
printed, pickled or written anywhere.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "ENV_VARS",
    "LOGGERS",
    "APIKey",
    "SecretFilter",
    "header_secrets",
    "install_filter",
    "redact_url",
    "register",
    "scrub",
    "url_secrets",
]

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


MASK: Final = "[REDACTED]"
_FRAGMENT: Final = 8
"""A run of this many characters of a registered secret counts as an echo of it."""
_MIN_SECRET: Final = 6
"""Shorter values (``sim``, ``x``) are not secrets worth masking: they would mask words."""
_PREFILTER_GRAMS: Final = 200
_TOKEN_RE: Final = re.compile(rf"[A-Za-z0-9_\-.~+/=!#%$]{{{_FRAGMENT},}}")


class _Registry:
    """The secrets this process knows, kept so that a scrub costs the same with one key or ten
    thousand (a gateway builds a client per tenant key) and a registration costs the size of
    the new secret.

    Two passes mask what :meth:`mask` is given, and each value is left to the pass that can
    see it:

    * the fragment pass: every 8-character fragment of every value goes into one set, and a
      token of the text (a run of ``_TOKEN_RE`` characters) is masked whole when one of its
      8-character windows is in the set. One set lookup per window, whatever the number of
      keys. A value of 8+ token characters always sits inside one token, which then holds its
      fragments: this pass alone catches it, whole or in part.
    * the literal pass (``in`` and ``replace``): only for the values the fragment pass cannot
      see -- shorter than 8, or holding a character outside the token charset (a space, a
      colon) -- and for the keys given to ``scrub`` itself. Few values, sorted longest first
      once, when one is added, so a secret containing another is masked whole.

    The output is the same as replacing every registered value literally, longest first, then
    running the fragment pass: the token-charset values present in the text are found through
    the fragment pass's hits (``anchors``), and only those join the literal replacement. So
    ``api_key=SECRET`` still reads ``api_key=[REDACTED]``.

    Reads take no lock. Writers hold ``_lock`` and only ever add: ``grams``, ``anchors`` and
    ``values`` grow in place (set and dict membership, ``get`` and ``add`` are each atomic
    under the GIL, and per object in free-threaded builds), and ``literal`` and ``gram_re``
    are replaced by a fresh object with one reference assignment. A reader running during a
    registration may see part of the new secret; it sees every secret whose :func:`register`
    returned before the read began, which is the promise.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: set[str] = set()
        self.grams: set[str] = set()
        self.anchors: dict[str, tuple[tuple[str, int], ...]] = {}
        """One fragment of each token-charset value -> (value, where the fragment starts in
        it). The fragment is the one fewest values share when the value is added, not the
        first: keys share prefixes (``sk-proj-``, ``sk-ant-a``), and a prefix bucket would hold
        a quarter of a gateway's keys, each to copy on add and to try on every hit."""
        self.literal: tuple[str, ...] = ()
        """The values the fragment pass cannot see, longest first."""
        self.gram_re: re.Pattern[str] | None = None
        """Any fragment, as one regex, while there are few: one C-speed scan then tells whether
        a text needs the token pass at all (most texts do not). Past a few keys the
        alternation costs more than the token pass, which is used alone."""

    def add(self, values: Iterable[str]) -> None:
        new = [v for v in values if len(v) >= _MIN_SECRET and v not in self.values]
        if not new:
            return
        with self._lock:
            literal: list[str] = []
            for v in new:
                if v in self.values:
                    continue
                self.values.add(v)
                self.grams.update(v[i : i + _FRAGMENT] for i in range(len(v) - _FRAGMENT + 1))
                if _TOKEN_RE.fullmatch(v):
                    at = min(range(len(v) - _FRAGMENT + 1), key=self._crowd(v))
                    anchor = v[at : at + _FRAGMENT]
                    self.anchors[anchor] = (*self.anchors.get(anchor, ()), (v, at))
                else:
                    literal.append(v)
            if literal:
                self.literal = tuple(sorted({*self.literal, *literal}, key=_longest_first))
            if len(self.grams) <= _PREFILTER_GRAMS:  # grams only grow: once past, it stays off
                pattern = "|".join(map(re.escape, sorted(self.grams)))
                self.gram_re = re.compile(pattern) if pattern else None
            else:
                self.gram_re = None

    def _crowd(self, v: str) -> Callable[[int], int]:
        """How many values are anchored at ``v``'s fragment starting at a position."""
        return lambda i: len(self.anchors.get(v[i : i + _FRAGMENT], ()))

    def mask(self, text: str, extra: Iterable[str] = ()) -> str:
        grams, gram_re = self.grams, self.gram_re
        seen: dict[str, bool] = {}
        found: set[str] = set()
        if grams and (gram_re is None or gram_re.search(text)):
            found = self._scan(text, grams, seen)
        literal = self.literal
        extra = [v for v in extra if len(v) >= 4]
        if found or extra:
            literal = tuple(sorted({*literal, *found, *extra}, key=_longest_first))
        replaced = False
        for v in literal:
            if v in text:
                text, replaced = text.replace(v, MASK), True
        # a replacement makes a new text: look at it again, as the slow way would
        if not (replaced and grams) and True not in seen.values():
            return text

        def fragment_pass(m: re.Match[str]) -> str:
            token = m.group()
            echoes = seen.get(token)  # the tokens the scan saw are not looked at twice
            if echoes is None:
                echoes = _echoes(token, grams)
            return MASK if echoes else token

        return _TOKEN_RE.sub(fragment_pass, text)

    def _scan(self, text: str, grams: set[str], seen: dict[str, bool]) -> set[str]:
        """The token-charset values in ``text`` whole, filling ``seen`` (token -> whether it
        holds a fragment): a set lookup per window, an ``anchors`` lookup where one hits."""
        anchors, found = self.anchors, set[str]()
        for m in _TOKEN_RE.finditer(text):
            token = m.group()
            if token in seen:
                continue
            hit = False
            for i in range(len(token) - _FRAGMENT + 1):
                gram = token[i : i + _FRAGMENT]
                if gram in grams:
                    hit = True
                    for v, at in anchors.get(gram, ()):
                        if i >= at and token.startswith(v, i - at):
                            found.add(v)
            seen[token] = hit
        return found


def _longest_first(value: str) -> tuple[int, str]:
    """Longest first, so a secret containing another is masked whole; ties in a fixed order,
    so the same text masks the same way in every process."""
    return -len(value), value


def _echoes(token: str, grams: set[str]) -> bool:
    return any(token[i : i + _FRAGMENT] in grams for i in range(len(token) - _FRAGMENT + 1))


_REGISTRY: Final = _Registry()


def register(*secrets: APIKey | str | None) -> None:
    """Remember secrets (a key, a URL password, a header value) so every later :func:`scrub`
    masks them, and any long fragment of them, wherever they appear."""
    _REGISTRY.add(
        s.reveal() if isinstance(s, APIKey) else s for s in secrets if s is not None and s != ""
    )


def scrub(text: str, *secrets: APIKey | None) -> str:
    """Mask every registered secret (whole or a fragment of 8+ characters), every given key
    literally whatever its shape, and anything key-like (provider messages echo keys)."""
    extra = [k.reveal() for k in secrets if k is not None]
    return _KEY_RE.sub(_mask, _REGISTRY.mask(text, extra))


# Query parameters that carry credentials: Azure's api-key, Gemini's key, SAS signatures, tokens.
_SECRET_PARAMS: Final = frozenset(
    {"key", "api-key", "api_key", "apikey", "token", "access_token", "auth", "sig",
     "signature", "secret", "password", "code", "x-api-key", "session"}
)  # fmt: skip


def url_secrets(url: str) -> list[str]:
    """The credentials in a URL: userinfo (user and password) and secret query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    out = [p for p in (parts.username, parts.password) if p]
    out += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if _secret_param(k)]
    return out


_SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key", "cookie"}
)


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The credentials in headers a user configured (an injected ``httpx.Client``'s defaults:
    Azure's ``api-key``, a gateway's ``Authorization``): the value, and a scheme's token."""
    out: list[str] = []
    for name, value in headers.items():
        low = name.lower()
        if low in _SECRET_HEADERS or low.endswith(("-key", "-token", "-secret")):
            out.append(value)
            scheme, _, token = value.partition(" ")
            if token and scheme.isalpha():
                out.append(token.strip())
    return out


def _secret_param(name: str) -> bool:
    return name.lower() in _SECRET_PARAMS


def redact_url(url: str) -> str:
    """``url`` with its userinfo and secret query values replaced by ``***`` (for reprs and
    logs): ``https://u:KEY@host/v1?api-key=KEY&v=1`` -> ``https://***@host/v1?api-key=***&v=1``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _secret_param(k) else v) for k, v in pairs], safe="*")
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


class SecretFilter(logging.Filter):
    """A logging filter that masks secrets in every record it sees (message, arguments and
    exception text): install it on your handlers (``handler.addFilter(SecretFilter())``) or
    loggers. It never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: mask what is there
            message = f"{record.msg} {record.args}"
        masked = scrub(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


_INSTALLED: set[str] = set()
_FILTER: Final = SecretFilter()


LOGGERS: Final = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "llmkit",
    "llmkit.cache",
    "llmkit.hedge",
    "llmkit.telemetry",
    "llmkit.watchdog",
)
"""The loggers that see requests: a logger's filter applies to records logged on it (not to
its children's), so each is named."""


def install_filter(*loggers: str) -> None:
    """Put :class:`SecretFilter` on these loggers (default: :data:`LOGGERS`), once each.
    Clients call it when built; call it for loggers of your own, or add the filter to your
    handlers, which then see every record."""
    for name in loggers or LOGGERS:
        if name not in _INSTALLED:
            logging.getLogger(name).addFilter(_FILTER)
            _INSTALLED.add(name)


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
