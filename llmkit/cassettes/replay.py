"""Replay a cassette offline, on any clock, with the recorded timeline and faults.

``vcrpy`` (``record_mode="none"``) answers each HTTP request from the file; it never touches the
network and never records. vcrpy patches httpx's transports, ``MockTransport`` included, so the
timeline lives in a wrapper transport ABOVE the patched one::

    llmkit.Client -> ReplayTransport (timeline: pace, latency, TTFT, faults)
                  -> httpx.HTTPTransport (patched by vcrpy: answers from the cassette)

For each request the wrapper finds the first unplayed timeline step with the request's match
key, waits on the clock until the step's recorded start (``t_s`` after the first request),
then either raises the recorded fault (``httpx.ReadTimeout`` after ``after_s``,
``httpx.RemoteProtocolError`` for a reset, ``httpx.ConnectError``) or lets vcrpy answer and
delivers the body on the recorded timeline: a JSON body after ``latency_s``; an SSE body's
first event after ``ttft_s`` and the rest spread evenly until ``latency_s``. On a
:class:`~llmkit.clock.VirtualClock` a ten-minute recording replays in milliseconds with the
same timestamps.

A request the cassette does not hold raises :class:`CassetteMismatchError` (naming the file,
path and model); a strict replay that ends with unplayed recordings raises
:class:`UnplayedInteractionsError`.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from llmkit.cassettes.matching import model_of, request_key
from llmkit.cassettes.serializer import LoadedCassette, load_cassette
from llmkit.cassettes.timeline import CassetteMeta, FaultStep, ResponseStep, Step
from llmkit.cassettes.vcrconf import make_vcr
from llmkit.clock import Clock, system_clock
from llmkit.errors import CassetteMismatchError, UnplayedInteractionsError

__all__ = ["AsyncReplayTransport", "ReplayTransport", "Replayer", "replay"]


class _Plan:
    """Which timeline step answers which request; shared by sync and async transports."""

    def __init__(self, loaded: LoadedCassette, clock: Clock) -> None:
        self.loaded = loaded
        self.clock = clock
        self._lock = threading.Lock()
        self._by_key: dict[str, list[Step]] = {}
        for step in loaded.meta.timeline:
            self._by_key.setdefault(step.key, []).append(step)
        self._used: set[int] = set()  # id() of consumed steps
        self._origin: float | None = None
        self.played = 0

    def take(self, request: httpx.Request) -> tuple[Step, float]:
        """The step for this request and how long to wait before it starts."""
        body = request.read()
        key = request_key(request.method, request.url.path, body)
        with self._lock:
            candidates = self._by_key.get(key, [])
            step = next((s for s in candidates if id(s) not in self._used), None)
            if step is None:
                why = (
                    f"all {len(candidates)} recorded attempt(s) with this body were already played"
                    if candidates
                    else "no recorded request has this method, path and body"
                )
                raise CassetteMismatchError(
                    self.loaded.path,
                    method=request.method,
                    request_path=request.url.path,
                    model=model_of(body),
                    why=why,
                )
            self._used.add(id(step))
            self.played += 1
            now = self.clock.now()
            if self._origin is None:
                self._origin = now - step.t_s
            return step, max(0.0, self._origin + step.t_s - now)

    def unplayed(self) -> list[str]:
        out = []
        for s in self.loaded.meta.timeline:
            if id(s) in self._used:
                continue
            what = f"fault {s.fault}" if isinstance(s, FaultStep) else f"response {s.response}"
            out.append(f"call {s.call} {what} at t={s.t_s:g}s")
        return out


def _fault(step: FaultStep, request: httpx.Request) -> httpx.TransportError:
    msg = f"recorded {step.fault} after {step.after_s:g}s (cassette replay)"
    if step.fault == "timeout":
        return httpx.ReadTimeout(msg, request=request)
    if step.fault == "connect":
        return httpx.ConnectError(msg, request=request)
    return httpx.RemoteProtocolError(msg, request=request)


def _sse_blocks(body: bytes) -> list[bytes]:
    """Split an SSE body into events (keeping separators) so they can arrive one by one."""
    parts: list[bytes] = []
    start = 0
    norm = body.replace(b"\r\n", b"\n")
    while True:
        cut = norm.find(b"\n\n", start)
        if cut == -1:
            break
        parts.append(norm[start : cut + 2])
        start = cut + 2
    if start < len(norm):
        parts.append(norm[start:])
    return parts or [b""]


def _is_stream(response: httpx.Response) -> bool:
    return "event-stream" in response.headers.get("content-type", "")


def _gaps(step: ResponseStep, n: int) -> tuple[float, float]:
    """(wait before headers+first event, wait between later events)."""
    ttft = step.latency_s if step.ttft_s is None else min(step.ttft_s, step.latency_s)
    rest = step.latency_s - ttft
    return ttft, (rest / (n - 1) if n > 1 else 0.0)


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, blocks: list[bytes], gap: float, clock: Clock) -> None:
        self._blocks, self._gap, self._clock = blocks, gap, clock

    def __iter__(self) -> Iterator[bytes]:
        for i, block in enumerate(self._blocks):
            if i:
                self._clock.sleep(self._gap)
            yield block


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, blocks: list[bytes], gap: float, clock: Clock) -> None:
        self._blocks, self._gap, self._clock = blocks, gap, clock

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i, block in enumerate(self._blocks):
            if i:
                await self._clock.asleep(self._gap)
            yield block


def _paced(
    step: ResponseStep, played: httpx.Response, request: httpx.Request
) -> tuple[float, list[bytes], float]:
    body = played.read()
    if _is_stream(played):
        blocks = _sse_blocks(body)
        first, gap = _gaps(step, len(blocks))
        return first, blocks, gap
    return step.latency_s, [body], 0.0


def _rebuild(played: httpx.Response, stream: Any, request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        played.status_code,
        headers=played.headers,
        stream=stream,
        extensions=played.extensions,
        request=request,
    )


class ReplayTransport(httpx.BaseTransport):
    """Sync httpx transport: the recorded timeline above vcrpy's patched HTTPTransport."""

    def __init__(self, plan: _Plan, replayer: Replayer) -> None:
        self._plan = plan
        self._replayer = replayer
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        step, wait = self._plan.take(request)
        clock = self._plan.clock
        clock.sleep(wait)
        if isinstance(step, FaultStep):
            clock.sleep(step.after_s)
            raise _fault(step, request)
        played = self._replayer._play(lambda: self._inner.handle_request(request), request, step)
        first, blocks, gap = _paced(step, played, request)
        clock.sleep(first)
        return _rebuild(played, _SyncBody(blocks, gap, clock), request)

    def close(self) -> None:
        self._inner.close()


class AsyncReplayTransport(httpx.AsyncBaseTransport):
    """Async twin of :class:`ReplayTransport` (sleeps with ``clock.asleep``)."""

    def __init__(self, plan: _Plan, replayer: Replayer) -> None:
        self._plan = plan
        self._replayer = replayer
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        step, wait = self._plan.take(request)
        clock = self._plan.clock
        await clock.asleep(wait)
        if isinstance(step, FaultStep):
            await clock.asleep(step.after_s)
            raise _fault(step, request)
        played = await self._replayer._aplay(self._inner, request, step)
        first, blocks, gap = _paced(step, played, request)
        await clock.asleep(first)
        return _rebuild(played, _AsyncBody(blocks, gap, clock), request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class Replayer:
    """A cassette opened for offline replay. Use as a context manager (vcrpy is patched
    inside it); hand :meth:`transport` or :meth:`async_transport` to an httpx client."""

    def __init__(self, path: str | Path, *, clock: Clock = system_clock, strict: bool = True):
        self.path = Path(path)
        self.clock = clock
        self.strict = strict
        self.loaded = load_cassette(self.path)  # typed errors before vcrpy sees the file
        self._plan = _Plan(self.loaded, clock)
        self._cm: Any = None
        self._vcr_cassette: Any = None

    @property
    def meta(self) -> CassetteMeta:
        return self.loaded.meta

    def transport(self) -> ReplayTransport:
        return ReplayTransport(self._plan, self)

    def async_transport(self) -> AsyncReplayTransport:
        return AsyncReplayTransport(self._plan, self)

    @property
    def played(self) -> int:
        return self._plan.played

    def unplayed(self) -> list[str]:
        return self._plan.unplayed()

    def __enter__(self) -> Replayer:
        self._cm = make_vcr().use_cassette(
            str(self.path), record_mode="none", allow_playback_repeats=False
        )
        self._vcr_cassette = self._cm.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        cm, self._cm = self._cm, None
        if cm is not None:
            cm.__exit__(exc_type, exc, tb)
        if self.strict and exc_type is None:
            left = self.unplayed()
            if left:
                raise UnplayedInteractionsError(self.path, left)

    # vcrpy calls, with its raw exceptions turned into ours and the played index checked

    def _check(self, request: httpx.Request, step: ResponseStep) -> None:
        if self._vcr_cassette.play_counts.get(step.response, 0) != 1:
            raise CassetteMismatchError(
                self.path,
                method=request.method,
                request_path=request.url.path,
                model=model_of(request.content),
                why=f"vcrpy played a different interaction than timeline response {step.response}",
            )

    def _mismatch(self, request: httpx.Request, exc: Exception) -> CassetteMismatchError:
        reason = getattr(exc, "reason", "no_match")
        return CassetteMismatchError(
            self.path,
            method=request.method,
            request_path=request.url.path,
            model=model_of(request.content),
            why=f"vcrpy: {reason}",
        )

    def _play(self, send: Any, request: httpx.Request, step: ResponseStep) -> httpx.Response:
        import vcr.errors  # noqa: PLC0415 - vcrpy is imported where it is used

        if self._vcr_cassette is None:
            raise RuntimeError("use the Replayer as a context manager (with Replayer(...) as r)")
        try:
            played: httpx.Response = send()
        except vcr.errors.CannotOverwriteExistingCassetteException as exc:
            raise self._mismatch(request, exc) from None
        self._check(request, step)
        return played

    async def _aplay(
        self, inner: httpx.AsyncHTTPTransport, request: httpx.Request, step: ResponseStep
    ) -> httpx.Response:
        import vcr.errors  # noqa: PLC0415

        if self._vcr_cassette is None:
            raise RuntimeError("use the Replayer as a context manager (async with is not needed)")
        try:
            played = await inner.handle_async_request(request)
        except vcr.errors.CannotOverwriteExistingCassetteException as exc:
            raise self._mismatch(request, exc) from None
        self._check(request, step)
        await played.aread()
        return played


def replay(path: str | Path, *, clock: Clock = system_clock, strict: bool = True) -> Replayer:
    """``with replay("cassettes/openai/success.yaml", clock=VirtualClock()) as r: ...``"""
    return Replayer(path, clock=clock, strict=strict)
