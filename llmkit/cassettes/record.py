"""Record HTTP traffic into an llmkit cassette: vcrpy captures the bytes, llmkit the timeline.

Four ways to record, one file format:

- **The served simulator on virtual time** (what ``make cassettes`` uses): real HTTP to
  ``SimServer(virtual_time=True)`` on 127.0.0.1 through ``TappedHTTPTransport(clock,
  sim_epoch=...)``. Below vcrpy, each request tells the server the clock's time, and the
  server's planned waits (``x-llmkit-sim-*`` headers, never stored) are played on the
  VirtualClock, read timeouts included; resets are real connection cuts. Exact and
  byte-identical (see :mod:`llmkit.sim.vtime`).
- **The served simulator in real time**: real HTTP to ``SimServer`` on 127.0.0.1. Pass the
  server's clock (``server.clock``, simulated seconds) and its ``time_scale``: timings are
  measured in simulated seconds and the client's timeouts are shortened by the time scale
  on the way out, so a 10 s read timeout fires after 10 simulated seconds. Measured timings
  vary a little from run to run, so these recordings are honest but not byte-identical
  (``llmkit record SCENARIO --real-time``).
- **The in-process simulator on a VirtualClock** (``--in-process``): vcrpy does
  not patch custom transports, only httpx's own (``HTTPTransport``, ``AsyncHTTPTransport``,
  ``WSGITransport``, ``ASGITransport``, ``MockTransport``), so :class:`SimBridge` wraps the
  simulator transport in a ``MockTransport`` that vcrpy does patch. The simulator sleeps on
  the virtual clock, so the recorded timeline is exact and re-recording is byte-identical.
- **Live**, when you have keys (never required): build a normal provider request with your
  key and send it through ``recorder.transport()``. The key is sent but never stored (the
  header allowlist drops ``authorization``/``x-api-key``; bodies are scrubbed); provenance
  says ``source: live`` with today's date::

      prov = Provenance("live", "openai", "my-check", llmkit.__version__,
                        recorded_on=datetime.date.today().isoformat())
      with Recorder("cassettes/live/openai_my_check.yaml", prov) as rec:
          http = httpx.Client(transport=rec.transport())
          with rec.call("openai", {"model": "gpt-4o-mini", "messages": [...]}):
              http.post("https://api.openai.com/v1/chat/completions", json=..., headers=...)

Each attempt becomes one timeline step: a response (its vcrpy interaction index, start offset,
latency and, for SSE bodies, time to first byte) or a transport fault (``timeout``, ``reset``,
``connect``, which vcrpy cannot store). A fault's ``after_s`` is the time the attempt took
before it failed. The file is written to a temporary name and moved into place at the end, so
a failed recording never leaves half a cassette.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpcore
import httpx

from llmkit.cassettes.matching import request_key
from llmkit.cassettes.timeline import (
    CassetteMeta,
    FaultStep,
    Provenance,
    RecordedCall,
    ResponseStep,
    Step,
)
from llmkit.cassettes.vcrconf import use_cassette
from llmkit.clock import Clock, system_clock
from llmkit.sim.vtime import TIME_HEADER, Schedule, parse_schedule

__all__ = ["Recorder", "RecordingTransport", "SimBridge", "TappedHTTPTransport"]

_PROBE = "llmkit_cassette_probe"
_current_call: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "llmkit_cassette_call", default=None
)


@dataclass(slots=True)
class _Probe:
    """When the first and last body bytes of one attempt arrived (clock seconds)."""

    first: float | None = None
    end: float | None = None


def _tap(stream: Any, probe: _Probe, clock: Clock) -> Iterator[bytes]:
    for chunk in stream:
        if chunk and probe.first is None:
            probe.first = clock.now()
        yield chunk
    probe.end = clock.now()


class _TapStream(httpx.SyncByteStream):
    def __init__(self, stream: Any, probe: _Probe, clock: Clock) -> None:
        self._stream, self._probe, self._clock = stream, probe, clock

    def __iter__(self) -> Iterator[bytes]:
        return _tap(self._stream, self._probe, self._clock)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


_NO_RESPONSE = "Server disconnected without sending a response."
_CUT = "peer closed connection without sending complete message body (incomplete chunked read)"


def _read_timeout(request: Any) -> float | None:
    timeout = request.extensions.get("timeout")
    if isinstance(timeout, dict) and timeout.get("read") is not None:
        return float(timeout["read"])
    return None


class _Waiter:
    """Plays a virtual-time schedule's waits on the clock, as a socket with a read timeout
    would: a gap longer than the timeout moves the clock by the timeout and times out."""

    def __init__(self, clock: Clock, timeout: float | None) -> None:
        self._clock, self._timeout = clock, timeout

    def __call__(self, seconds: float) -> None:
        if self._timeout is not None and seconds > self._timeout:
            self._clock.sleep(self._timeout)
            raise httpcore.ReadTimeout("timed out")
        self._clock.sleep(seconds)


def _drain(stream: Any) -> tuple[bytes, bool]:
    """Everything the server sent, and whether the connection was cut before the end."""
    parts: list[bytes] = []
    try:
        for part in stream:
            parts.append(part)
    except (httpcore.NetworkError, httpcore.ProtocolError):
        return b"".join(parts), True
    return b"".join(parts), False


class _VirtualBody:
    """The response body re-cut into the server's writes, each after its virtual wait."""

    def __init__(self, stream: Any, schedule: Schedule, wait: _Waiter) -> None:
        self._stream, self._schedule, self._wait = stream, schedule, wait

    def __iter__(self) -> Iterator[bytes]:
        sched = self._schedule
        data, cut = _drain(self._stream)  # it is all there at once: the server does not sleep
        if cut and sched.abort is None:
            raise httpcore.RemoteProtocolError(_CUT)
        pos = 0
        for size, delay in sched.chunks:
            self._wait(delay)
            piece = data[pos : pos + size]
            pos += size
            if piece:
                yield piece
        if sched.abort == "hang":
            self._wait(sched.hang_seconds)
        if sched.abort is not None:  # the connection was really closed; say it as httpx does
            raise httpcore.RemoteProtocolError(_CUT)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _PoolTap:
    """Wraps httpcore's connection pool to time each response body's first and last byte.

    With ``sim_epoch`` set it speaks the virtual-time protocol (:mod:`llmkit.sim.vtime`) to a
    ``SimServer(virtual_time=True)``: each request carries the clock's time since the epoch,
    and the answer's waits are played on the clock. This happens below vcrpy, so vcrpy never
    sees the protocol's request header, and it stores the body exactly as it arrived.
    """

    def __init__(self, pool: Any, clock: Clock, sim_epoch: float | None = None) -> None:
        self._pool, self._clock, self._epoch = pool, clock, sim_epoch

    def handle_request(self, request: Any) -> Any:
        if self._epoch is not None:
            now = self._clock.now() - self._epoch
            request.headers.append((TIME_HEADER.encode(), repr(now).encode()))
        resp = self._pool.handle_request(request)
        if self._epoch is not None:
            resp = self._virtual(request, resp)
        probe = request.extensions.get(_PROBE)
        if isinstance(probe, _Probe):
            resp.stream = _TapStream(resp.stream, probe, self._clock)
        return resp

    def _virtual(self, request: Any, resp: Any) -> Any:
        sched = parse_schedule(resp.headers)
        if sched is None:
            resp.close()
            raise RuntimeError(
                f"{request.url.host!r} did not answer with a virtual-time plan: is it "
                "SimServer(virtual_time=True) / `llmkit sim serve --virtual-time`?"
            )
        wait = _Waiter(self._clock, _read_timeout(request))
        try:
            if not sched.headers_sent:  # a fault before any response; the cut is real
                wait(sched.hang_seconds if sched.abort == "hang" else sched.delay)
                _drain(resp.stream)
                raise httpcore.RemoteProtocolError(_NO_RESPONSE)
            wait(sched.delay)
        except BaseException:
            resp.close()
            raise
        resp.stream = _VirtualBody(resp.stream, sched, wait)
        return resp

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> _PoolTap:
        self._pool.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._pool.__exit__(*exc)


class TappedHTTPTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose bodies are timed below vcrpy's patch (vcrpy patches the
    class method, so this subclass is recorded like any HTTPTransport).

    ``sim_epoch``: talk to a virtual-time served simulator, telling it ``clock.now() -
    sim_epoch`` with each request (the clock's reading when the server started).
    """

    def __init__(
        self, clock: Clock = system_clock, *, sim_epoch: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._pool = _PoolTap(self._pool, clock, sim_epoch)  # type: ignore[assignment]


class SimBridge(httpx.MockTransport):
    """An in-process transport (the simulator's) presented as a ``MockTransport``, which
    vcrpy patches, so its traffic is recorded without sockets. Bodies are timed too."""

    def __init__(self, inner: httpx.BaseTransport, clock: Clock) -> None:
        self._inner_transport = inner
        self._clock = clock
        super().__init__(self._forward)

    def _forward(self, request: httpx.Request) -> httpx.Response:
        resp = self._inner_transport.handle_request(request)
        probe = request.extensions.get(_PROBE)
        if isinstance(probe, _Probe):
            return httpx.Response(
                resp.status_code,
                headers=resp.headers,
                extensions=resp.extensions,
                stream=_TapStream(resp.stream, probe, self._clock),
                request=request,
            )
        return resp

    def close(self) -> None:
        self._inner_transport.close()


def _fault_kind(exc: BaseException) -> str | None:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "reset"
    return None


class RecordingTransport(httpx.BaseTransport):
    """Sends each attempt through ``inner`` (vcrpy-patched) and appends its timeline step."""

    def __init__(self, recorder: Recorder, inner: httpx.BaseTransport) -> None:
        self._rec = recorder
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        rec = self._rec
        clock = rec.clock
        body = request.read()
        key = request_key(request.method, request.url.path, body)
        call = rec._call_for_attempt()
        probe = _Probe()
        ext = {**request.extensions, _PROBE: probe}
        timeout = ext.get("timeout")
        if rec.time_scale != 1.0 and isinstance(timeout, dict):
            ext["timeout"] = {
                k: (None if v is None else v / rec.time_scale) for k, v in timeout.items()
            }
        request.extensions = ext
        if rec.live_accept_encoding:
            request.headers["accept-encoding"] = "gzip"
        start = clock.now()
        before = rec._interactions()
        try:
            resp = self._inner.handle_request(request)
        except httpx.TransportError as exc:
            kind = _fault_kind(exc)
            if kind is None:
                raise
            rec._add(
                FaultStep(
                    call,
                    key,
                    start - rec.origin,
                    kind,  # type: ignore[arg-type]
                    clock.now() - start,
                )
            )
            raise
        content = resp.read()  # vcrpy already buffered it; this only marks it read
        end = probe.end if probe.end is not None else clock.now()
        ttft = None
        if "event-stream" in resp.headers.get("content-type", "") and content:
            ttft = (probe.first if probe.first is not None else end) - start
        after = rec._interactions()
        if after != before + 1:
            raise RuntimeError(
                "vcrpy did not record this attempt: is the inner transport an httpx transport "
                "that vcrpy patches, and is the recorder open?"
            )
        rec._add(ResponseStep(call, key, start - rec.origin, before, end - start, ttft))
        return resp

    def close(self) -> None:
        self._inner.close()


class Recorder:
    """A cassette being recorded. Use as a context manager; the file appears on clean exit."""

    def __init__(
        self,
        path: str | Path,
        provenance: Provenance,
        *,
        clock: Clock = system_clock,
        notes: Mapping[str, Any] | None = None,
        time_scale: float = 1.0,
    ) -> None:
        if not time_scale > 0:
            raise ValueError("time_scale must be > 0")
        self.path = Path(path)
        self.time_scale = float(time_scale)
        """Simulated seconds per real second (the served simulator's); timeouts are divided."""
        self.provenance = provenance
        self.clock = clock
        self.notes = dict(notes or {})
        self.origin = 0.0
        self.live_accept_encoding = provenance.is_live
        self._steps: list[Step] = []
        self._calls: list[RecordedCall] = []
        self._lock = threading.Lock()
        self._cm: Any = None
        self._cassette: Any = None
        self._tmp: Path | None = None

    # -- context

    def __enter__(self) -> Recorder:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        os.unlink(tmp)  # vcrpy must see no file (it would try to load an empty one)
        self._tmp = Path(tmp)
        self._cm = use_cassette(tmp, record_mode="all")
        self._cassette = self._cm.__enter__()
        if not hasattr(self._cassette, "get_metadata"):  # vcrpy < 9 cannot store our section
            self._cm.__exit__(None, None, None)
            raise RuntimeError("recording llmkit cassettes needs vcrpy>=9 (Cassette.get_metadata)")
        self.origin = self.clock.now()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        cm, self._cm = self._cm, None
        tmp = self._tmp
        assert cm is not None
        assert tmp is not None
        if exc_type is None:
            meta = CassetteMeta(
                self.provenance, tuple(self._calls), tuple(self._steps), notes=self.notes
            )
            section = self._cassette.get_metadata("llmkit", {})
            section.clear()
            section.update(meta.to_dict())
            self._cassette.dirty = True  # a recording with no responses still gets its file
        cm.__exit__(exc_type, exc, tb)
        if exc_type is None:
            os.replace(tmp, self.path)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    # -- what a driver uses

    def transport(self, inner: httpx.BaseTransport | None = None) -> RecordingTransport:
        """The transport to hand to ``httpx.Client``; ``inner`` defaults to a timed
        ``HTTPTransport`` (served simulator or live)."""
        return RecordingTransport(self, inner or TappedHTTPTransport(self.clock))

    @contextlib.contextmanager
    def call(
        self,
        provider: str,
        request: Mapping[str, Any],
        *,
        api: str = "chat",
        t_s: float | None = None,
    ) -> Iterator[int]:
        """Mark one logical call: every attempt inside belongs to it (retries included)."""
        with self._lock:
            index = len(self._calls)
            at = self.clock.now() - self.origin if t_s is None else t_s
            self._calls.append(RecordedCall(at, provider, dict(request), api))
        token = _current_call.set(index)
        try:
            yield index
        finally:
            _current_call.reset(token)

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(self._steps)

    # -- internals used by the transport

    def _call_for_attempt(self) -> int:
        call = _current_call.get()
        if call is not None:
            return call
        with self._lock:  # an attempt outside any call() is its own call
            self._calls.append(RecordedCall(self.clock.now() - self.origin, "http", {}))
            return len(self._calls) - 1

    def _interactions(self) -> int:
        if self._cassette is None:
            raise RuntimeError("use the Recorder as a context manager")
        return len(self._cassette.data)

    def _add(self, step: Step) -> None:
        with self._lock:
            self._steps.append(step)
