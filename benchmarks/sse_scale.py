"""SSE decoding cost per line, at two sizes: it must not grow with the stream's length.

    python benchmarks/sse_scale.py            # 20,000 and 200,000 comment lines, one 10 MB line
    python benchmarks/sse_scale.py --small    # 10,000 and 100,000 lines, one 2 MB line (tests)

Decodes with ``llmkit.parse_stream`` (the whole body at once) and with ``SSEDecoder`` fed
64 KB chunks (the streaming path), a body of ``: keep-alive`` comment lines (the padding some
providers send) followed by one answer, and a body whose one ``data:`` line is megabytes long.
Prints CPU time (``time.process_time``: the figures do not move with other processes' load
on a shared machine) and µs per line for each, and the largest time one 64 KB chunk took. Exits 1
when µs per line at the large size is more than 3x the small size's (a decoder that rescans its
buffer per line is quadratic: 200,000 lines once took 8.85 s), or one chunk took over 20 ms
(an async stream decodes on the event loop).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import httpx

import llmkit
from llmkit.sse import SSEDecoder

CHUNK = 64 * 1024
_ANSWER = (
    "data: "
    + json.dumps(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
        }
    )
    + "\n\ndata: [DONE]\n\n"
)


def body(lines: int) -> bytes:
    return (": keep-alive padding line\n" * lines + _ANSWER).encode()


def long_line(size: int) -> bytes:
    return (": x\n" + "data: " + "y" * size + "\n\n").encode()


def parse_seconds(raw: bytes) -> float:
    request = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=raw, request=request
    )
    started = time.process_time()
    llmkit.parse_stream("openai", response)
    return time.process_time() - started


def chunked_seconds(raw: bytes) -> tuple[float, float]:
    """(total, largest single chunk) seconds feeding ``raw`` in 64 KB chunks."""
    decoder = SSEDecoder()
    worst = 0.0
    started = time.process_time()
    for i in range(0, len(raw), CHUNK):
        t = time.process_time()
        decoder.feed(raw[i : i + CHUNK])
        worst = max(worst, time.process_time() - t)
    decoder.close()
    return time.process_time() - started, worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the sizes the tests run")
    args = parser.parse_args(argv)
    sizes = (10_000, 100_000) if args.small else (20_000, 200_000)
    line_mb = 2 if args.small else 10

    print(f"{'comment lines':>14} {'parse_stream s':>15} {'µs/line':>8} {'64KB-chunked s':>15}")
    per_line: list[float] = []
    worst = 0.0
    for n in sizes:
        raw = body(n)
        whole = parse_seconds(raw)
        chunked, chunk_worst = chunked_seconds(raw)
        worst = max(worst, chunk_worst)
        per_line.append(max(whole, chunked) / n * 1e6)
        print(f"{n:>14,} {whole:>15.3f} {per_line[-1]:>8.2f} {chunked:>15.3f}")
    raw = long_line(line_mb * 1024 * 1024)
    chunked, chunk_worst = chunked_seconds(raw)
    worst = max(worst, chunk_worst)
    print(f"one {line_mb} MB data line: 64KB-chunked {chunked:.3f} s")
    print(f"largest time for one 64 KB chunk: {worst * 1e3:.2f} ms")

    ratio = per_line[1] / per_line[0]
    ok_ratio = ratio <= 3.0
    ok_chunk = worst <= 0.020
    print(f"  {'PASS' if ok_ratio else 'FAIL'} µs/line large/small = {ratio:.2f}x (target <= 3x)")
    print(f"  {'PASS' if ok_chunk else 'FAIL'} one chunk {worst * 1e3:.2f} ms (target <= 20 ms)")
    return 0 if ok_ratio and ok_chunk else 1


if __name__ == "__main__":
    sys.exit(main())
