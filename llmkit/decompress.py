"""Response bodies decoded with a size cap, so a compressed "bomb" cannot exhaust memory.

A gzip body shrinks a run of zeros about 1,000 times: 1 MB on the wire can inflate to 1 GB.
httpx's decoders and :func:`gzip.decompress` have no limit, so llmkit decodes bodies itself,
piece by piece (``zlib`` with ``max_length``), and raises ``InvalidResponseError`` (not
retryable: the same server would send the same body) as soon as the decoded bytes pass
``max_body``. The cap counts decoded bytes whatever the encoding, identity included, and holds
for streams too (each decoded piece is at most :data:`PIECE` bytes, and the total is capped).

:data:`MAX_BODY_BYTES` (128 MiB) is the default: far above any real answer (a 100,000-token
streamed answer is ~25 MB of SSE; a non-streaming answer, a few MB even with base64 images),
far below what takes a process down. ``Endpoint.max_body`` (``client.endpoint.max_body``) and
the ``max_body=`` argument of ``llmkit.parse_response`` / ``parse_stream`` / ``classify``
change it.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from llmkit.errors import InvalidResponseError

__all__ = ["MAX_BODY_BYTES", "PIECE", "BodyDecoder", "adecode_body", "decode_body"]

MAX_BODY_BYTES = 128 * 1024 * 1024
"""Default cap on a response body's decoded size, in bytes."""
PIECE = 1024 * 1024
"""Largest piece one ``zlib`` call may produce, so one small chunk cannot inflate at once."""

_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


class BodyDecoder:
    """Decode ``Content-Encoding`` (identity, gzip, deflate) chunk by chunk, capped.

    ``feed`` yields decoded pieces; ``finish`` checks the compressed stream was complete.
    Raises InvalidResponseError past ``max_body`` decoded bytes, for an encoding it cannot
    decode, and for a corrupt or truncated compressed stream.
    """

    __slots__ = (
        "_fed",
        "_inflate",
        "_wbits",
        "encoding",
        "max_body",
        "produced",
        "provider",
        "status",
    )

    def __init__(
        self,
        encoding: str | None,
        *,
        max_body: int = MAX_BODY_BYTES,
        provider: str = "",
        status: int | None = None,
    ) -> None:
        if max_body < 1:
            raise ValueError("max_body must be >= 1")
        codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        self.encoding = codings[0] if codings else "identity"
        self.max_body = max_body
        self.provider = provider
        self.status = status
        self.produced = 0
        self._fed = False
        if len(codings) > 1 or (codings and codings[0] not in _WBITS):
            raise self._invalid(f"unsupported content-encoding {encoding!r}")
        self._wbits = _WBITS.get(self.encoding, 0)
        self._inflate = zlib.decompressobj(self._wbits) if self._wbits else None

    def _invalid(self, message: str) -> InvalidResponseError:
        return InvalidResponseError(message, provider=self.provider, status=self.status)

    def _count(self, piece: bytes) -> bytes:
        self.produced += len(piece)
        if self.produced > self.max_body:
            raise self._invalid(
                f"response body larger than {self.max_body:,} bytes once decoded "
                f"({self.encoding}); refusing to read more"
            )
        return piece

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._inflate is None:
            if data:
                yield self._count(data)
            return
        self._fed = self._fed or bool(data)
        while data:
            inflate = self._inflate
            try:
                piece = inflate.decompress(data, min(PIECE, self.max_body - self.produced + 1))
            except zlib.error as exc:
                if self.encoding == "deflate" and self.produced == 0 and self._wbits > 0:
                    # Some servers send raw deflate under "deflate" (httpx accepts both).
                    self._wbits = -15
                    self._inflate = zlib.decompressobj(-15)
                    continue
                raise self._invalid(f"corrupt {self.encoding} response body") from exc
            if piece:
                yield self._count(piece)
            if inflate.unconsumed_tail:
                data = inflate.unconsumed_tail
            elif inflate.eof and inflate.unused_data and self._wbits == 31:
                data = inflate.unused_data  # the next gzip member
                self._inflate = zlib.decompressobj(31)
            else:
                data = b""

    def finish(self) -> Iterator[bytes]:
        inflate = self._inflate
        if inflate is None:
            return
        try:
            piece = inflate.flush()
        except zlib.error as exc:  # pragma: no cover - flush without input does not fail
            raise self._invalid(f"corrupt {self.encoding} response body") from exc
        if piece:
            yield self._count(piece)
        if self._fed and not inflate.eof:
            raise self._invalid(f"truncated {self.encoding} response body")


def decode_body(
    chunks: Iterable[bytes],
    encoding: str | None,
    *,
    max_body: int = MAX_BODY_BYTES,
    provider: str = "",
    status: int | None = None,
) -> Iterator[bytes]:
    """The decoded pieces of ``chunks`` (raw bytes as received), capped at ``max_body``."""
    decoder = BodyDecoder(encoding, max_body=max_body, provider=provider, status=status)
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.finish()


async def adecode_body(
    chunks: AsyncIterable[bytes],
    encoding: str | None,
    *,
    max_body: int = MAX_BODY_BYTES,
    provider: str = "",
    status: int | None = None,
) -> AsyncIterator[bytes]:
    """As :func:`decode_body`, over an async iterable."""
    decoder = BodyDecoder(encoding, max_body=max_body, provider=provider, status=status)
    async for chunk in chunks:
        for piece in decoder.feed(chunk):
            yield piece
    for piece in decoder.finish():
        yield piece
