"""Server-sent events, decoded incrementally (sans-IO: feed bytes, get events).

Real provider streams carry ``event:`` lines, comment lines (``: OPENROUTER PROCESSING``),
keep-alive padding, CRLF or LF line ends, and may stop mid-line. The decoder follows the
WHATWG rules closely enough for all of them; a partial last event is reported by
:meth:`SSEDecoder.close` so a parser can tell a truncated stream from a finished one.
"""

from __future__ import annotations

import codecs
import re
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
    """Feed chunks as they arrive; each :meth:`feed` returns the events they complete.

    Linear in the bytes fed, whatever the shape of the stream: a chunk is scanned once for
    line ends, and the text of a line still open (one 10 MB ``data:`` line arriving in 64 KB
    chunks) is kept as a list of parts joined once, when its end arrives.
    """

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        """Text after the last complete line: a line still open (or a lone trailing CR)."""
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self.comments = 0

    def feed(self, chunk: bytes | str) -> list[SSEEvent]:
        text = self._text.decode(chunk) if isinstance(chunk, bytes) else chunk
        if not text:
            return []
        parts = self._parts
        out: list[SSEEvent] = []
        pos = 0
        if parts and parts[-1].endswith("\r"):  # a CR held back: was it the half of a CRLF?
            line = "".join(parts)[:-1]
            parts.clear()
            pos = 1 if text[0] == "\n" else 0
            if (ev := self._line(line)) is not None:
                out.append(ev)
        end = len(text)
        for m in _EOL.finditer(text, pos):
            start = m.start()
            if m.end() == end and start == end - 1 and text[start] == "\r":
                break  # a lone CR at the end may be the first half of CRLF
            if parts:  # the end of a line that began in earlier chunks: join it once
                parts.append(text[pos:start])
                line = "".join(parts)
                parts.clear()
            else:
                line = text[pos:start]
            pos = m.end()
            if (ev := self._line(line)) is not None:
                out.append(ev)
        if pos < end:
            parts.append(text[pos:] if pos else text)
        return out

    def close(self) -> tuple[list[SSEEvent], bool]:
        """Flush. Returns (events, clean): ``clean`` is False when bytes or an event were cut."""
        tail = "".join(self._parts) + self._text.decode(b"", final=True)
        self._parts = []
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
        colon = line.find(":")
        if colon == -1:
            name, value = line, ""
        else:
            name = line[:colon]
            value = line[colon + 2 :] if line.startswith(" ", colon + 1) else line[colon + 1 :]
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


_EOL = re.compile("\r\n|\r|\n")
"""An SSE line end: CRLF, CR or LF (not the other breaks ``str.splitlines`` knows)."""


def iter_sse(chunks: Iterable[bytes | str]) -> Iterator[SSEEvent]:
    """Decode a whole body (tests, replays). Truncation is not reported here; use the decoder."""
    dec = SSEDecoder()
    for chunk in chunks:
        yield from dec.feed(chunk)
    yield from dec.close()[0]
