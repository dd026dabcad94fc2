"""The timed response plan, and how one is built from a rendered answer and its fault.

A :class:`SimResponse` is everything about one exchange decided in advance: status, headers,
each body chunk with the simulated delay before it, and how the exchange ends if not cleanly
(a hang, a reset). Building it is pure -- no clock, no socket -- so the same plan can be played
in process on a virtual clock (:mod:`llmkit.sim.transport`) or over real HTTP
(:mod:`llmkit.sim.server`), and both show a client exactly the same bytes.

The builders here take a wire's rendered answer and shape it by the request's fault: an error
reply, silence, a reset, a body cut in half, a stream that stops, stalls or turns to an error
event mid-way. Gzip is applied last, to the finished plan, so every fault looks the same on the
wire whether the client asked for compression or not.
"""

from __future__ import annotations

import gzip as _gzip
import zlib
from dataclasses import dataclass, replace
from typing import Literal

from llmkit.sim.faults import Fault
from llmkit.sim.gen import Call
from llmkit.sim.latency import Timing
from llmkit.sim.routing import Wire
from llmkit.sim.wire import openrouter
from llmkit.sim.wire.common import Ctx, Reply

__all__ = [
    "ERROR_FAULTS",
    "Abort",
    "Chunk",
    "SimResponse",
    "failure_plan",
    "gzipped",
    "json_plan",
    "reply_plan",
    "stream_plan",
]

Abort = Literal["hang", "reset"]


@dataclass(frozen=True, slots=True)
class Chunk:
    delay: float
    """Simulated seconds between the previous write (or the headers) and this one."""
    data: bytes


@dataclass(frozen=True, slots=True)
class SimResponse:
    status: int
    """0 when the exchange aborts before any response (``headers_sent`` False)."""
    headers: tuple[tuple[str, str], ...]
    chunks: tuple[Chunk, ...]
    delay: float = 0.0
    """Simulated seconds before the status line and headers."""
    abort: Abort | None = None
    """How the exchange ends instead of cleanly: ``hang`` (silence for ``hang_seconds``, then
    the connection closes) or ``reset`` (the connection closes at once)."""
    headers_sent: bool = True
    hang_seconds: float = 0.0
    stream: bool = False
    fault: Fault | None = None
    """The fault that shaped this response, for tests and telemetry."""

    @property
    def body(self) -> bytes:
        return b"".join(c.data for c in self.chunks)

    @property
    def duration(self) -> float:
        """Simulated seconds from request to the last byte (excluding a hang)."""
        return self.delay + sum(c.delay for c in self.chunks)


ERROR_FAULTS = frozenset(
    {
        Fault.RATE_LIMIT,
        Fault.INSUFFICIENT_QUOTA,
        Fault.BILLING,
        Fault.SERVER_ERROR,
        Fault.SERVER_ERROR_FINAL,
        Fault.BAD_GATEWAY,
        Fault.UNAVAILABLE,
        Fault.OVERLOADED,
        Fault.CONTEXT_LENGTH,
        Fault.CONTENT_FILTER,
        Fault.AUTH,
    }
)
"""Faults answered with an HTTP error reply instead of the completion."""


def reply_plan(r: Reply, delay: float = 0.0, fault: Fault | None = None) -> SimResponse:
    """A complete reply sent in one piece after ``delay``."""
    return SimResponse(r.status, r.headers, (Chunk(0.0, r.body),), delay=delay, fault=fault)


def failure_plan(
    wire: Wire,
    ctx: Ctx,
    call: Call,
    timing: Timing,
    fault: Fault | None,
    *,
    input_tokens: int,
    hang: float,
) -> SimResponse | None:
    """The plan for a request whose fault leaves no completion to send (an error reply, a
    hang, a reset), or None when the completion is rendered (cleanly or not)."""
    if fault in ERROR_FAULTS:
        assert fault is not None
        ctx.processing_ms = round(timing.ttft * 50)
        r = wire.error(ctx, fault, tokens=input_tokens)
        delay = timing.ttft if r.status >= 500 else timing.ttft * 0.05
        return reply_plan(r, delay, fault)
    if fault is Fault.HANG or (fault is Fault.STALL and not call.stream):
        return SimResponse(
            0,
            (),
            (),
            abort="hang",
            headers_sent=False,
            hang_seconds=hang,
            stream=call.stream,
            fault=fault,
        )
    if fault is Fault.RESET:
        return SimResponse(
            0,
            (),
            (),
            delay=timing.ttft,
            abort="reset",
            headers_sent=False,
            stream=call.stream,
            fault=fault,
        )
    if fault is Fault.MIDSTREAM_ERROR and not call.stream:
        return reply_plan(wire.error(ctx, Fault.SERVER_ERROR), timing.ttft, fault)
    return None


def json_plan(wire: Wire, ctx: Ctx, timing: Timing, fault: Fault | None) -> SimResponse:
    """A non-streamed completion: sent whole once the last token is generated, or cut,
    garbled or reset by ``fault``."""
    assert ctx.comp is not None
    total = timing.ttft + ctx.comp.billed_output * timing.per_token
    ctx.processing_ms = round(total * 1000)
    body = wire.json(ctx)
    headers = wire.headers(ctx)
    abort: Abort | None = None
    if fault is Fault.TRUNCATE:
        body = body[: len(body) // 2]
    elif fault is Fault.MALFORMED_JSON:
        body = body.replace(b'":', b'"=', 1)
    elif fault is Fault.RESET_MIDSTREAM:
        headers.append(("content-length", str(len(body))))
        body, abort = body[: len(body) // 2], "reset"
    if wire.provider == "openrouter" and total > 0 and abort is None:
        # OpenRouter commits the 200 early and pads with blank lines while it waits.
        chunks = (Chunk(0.0, b"\n"), Chunk(total / 2, body))
        return SimResponse(200, tuple(headers), chunks, delay=total / 2, fault=fault)
    return SimResponse(
        200, tuple(headers), (Chunk(0.0, body),), delay=total, abort=abort, fault=fault
    )


def stream_plan(
    wire: Wire,
    ctx: Ctx,
    timing: Timing,
    *,
    fault: Fault | None,
    after: int,
    hang: float,
) -> SimResponse:
    """A streamed completion: each event after its tokens' share of the latency, up to the
    ``after``-th token-carrying event when ``fault`` breaks the stream there."""
    ttft, per_token = timing.ttft, timing.per_token
    ctx.processing_ms = round(ttft * 1000)
    events = wire.stream(ctx)
    abort: Abort | None = None
    tail: list[bytes] = []
    if fault is not None:
        cut = _cut(events, after)
        if fault is Fault.MALFORMED_JSON:
            events[cut] = (events[cut][0], _corrupt(events[cut][1]))
        else:
            nxt = events[cut][1]
            events = events[:cut]
            if fault is Fault.MIDSTREAM_ERROR:
                tail = wire.stream_error(ctx)
            elif fault is Fault.TRUNCATE:
                tail = [nxt[: len(nxt) // 2]]
            elif fault is Fault.STALL:
                abort = "hang"
            elif fault is Fault.RESET_MIDSTREAM:
                abort = "reset"
    chunks = [Chunk(tokens * per_token, data) for tokens, data in events]
    chunks += [Chunk(0.0, data) for data in tail]
    delay = ttft
    if wire.provider == "openrouter":
        delay = ttft / 2
        chunks.insert(0, Chunk(0.0, openrouter.KEEPALIVE))
        if len(chunks) > 1:
            chunks[1] = Chunk(chunks[1].delay + ttft / 2, chunks[1].data)
    return SimResponse(
        200,
        tuple(wire.headers(ctx, stream=True)),
        tuple(chunks),
        delay=delay,
        abort=abort,
        hang_seconds=hang,
        stream=True,
        fault=fault,
    )


def _cut(events: list[tuple[int, bytes]], after_tokens: int) -> int:
    """Index just past the ``after_tokens``-th token-carrying event, never past the last
    event but one (so the terminal event is always among the cut-off ones)."""
    seen = 0
    for i, (tokens, _) in enumerate(events):
        if tokens and seen >= after_tokens:
            return i
        if tokens:
            seen += 1
    return max(0, len(events) - 2)


def _corrupt(event: bytes) -> bytes:
    """The same SSE event with its JSON cut in half (still a complete event)."""
    head, sep, data = event.rstrip(b"\n").rpartition(b"data: ")
    return head + sep + data[: max(1, len(data) // 2)] + b"\n\n"


def gzipped(plan: SimResponse) -> SimResponse:
    """The same plan with a gzip body: each chunk sync-flushed so a stream stays incremental,
    and the gzip trailer only when the body ends cleanly. A ``content-length`` (reset
    mid-body) keeps its plain size, still more than is sent."""
    if not plan.headers_sent or not plan.chunks:
        return plan
    if len(plan.chunks) == 1 and plan.abort is None:
        only = plan.chunks[0]
        chunks = [Chunk(only.delay, _gzip.compress(only.data, 6, mtime=0))]
    else:
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        chunks = [
            Chunk(c.delay, z.compress(c.data) + z.flush(zlib.Z_SYNC_FLUSH)) for c in plan.chunks
        ]
        if plan.abort is None:
            chunks[-1] = Chunk(chunks[-1].delay, chunks[-1].data + z.flush(zlib.Z_FINISH))
    headers = (*plan.headers, ("content-encoding", "gzip"))
    return replace(plan, headers=headers, chunks=tuple(chunks))
