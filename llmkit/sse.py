"""Server-sent events, decoded incrementally (sans-IO: feed bytes, get events).

Real provider streams carry ``event:`` lines, comment lines (``: OPENROUTER PROCESSING``),
keep-alive padding, CRLF or LF line ends, and may stop mid-line. The decoder follows the
WHATWG rules closely enough for all of them; a partial last event is reported by
:meth:`SSEDecoder.close` so a parser can tell a truncated stream from a finished one.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent", "iter_sse"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    """The ``event:`` field, or ``"message"`` when absent."""
    data: str
    id: str | None = None


class SSEDecoder:
    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self.comments = 0

    def feed(self, chunk: bytes | str) -> list[SSEEvent]:
        self._buf += self._text.decode(chunk) if isinstance(chunk, bytes) else chunk
        out: list[SSEEvent] = []
        while True:
            cut = _line_end(self._buf)
            if cut is None:
                break
            line, self._buf = self._buf[: cut[0]], self._buf[cut[1] :]
            ev = self._line(line)
            if ev is not None:
                out.append(ev)
        return out

    def close(self) -> tuple[list[SSEEvent], bool]:
        """Flush. Returns (events, clean): ``clean`` is False when bytes or an event were cut."""
        tail = self._buf + self._text.decode(b"", final=True)
        self._buf = ""
        clean = not tail.strip()
        if tail:
            self._line(tail)
        events: list[SSEEvent] = []
        if self._data or self._event is not None:
            clean = False
            ev = self._dispatch()
            if ev is not None:
                events.append(ev)
        return events, clean

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data and self._event is None:
            return None
        ev = SSEEvent(event=self._event or "message", data="\n".join(self._data), id=self._id)
        self._event, self._data = None, []
        return ev


def _line_end(buf: str) -> tuple[int, int] | None:
    n = buf.find("\n")
    r = buf.find("\r")
    if r == -1 and n == -1:
        return None
    if r == -1 or (n != -1 and n < r):
        return n, n + 1
    if r + 1 < len(buf):
        return (r, r + 2) if buf[r + 1] == "\n" else (r, r + 1)
    return None  # a lone CR at the end may be the first half of CRLF


def iter_sse(chunks: Iterable[bytes | str]) -> Iterator[SSEEvent]:
    """Decode a whole body (tests, replays). Truncation is not reported here; use the decoder."""
    dec = SSEDecoder()
    for chunk in chunks:
        yield from dec.feed(chunk)
    yield from dec.close()[0]
