"""Secret scrubbing cost as the number of registered keys grows (a gateway with a client per
tenant key holds thousands in one process).

    python benchmarks/secret_scrub.py            # 1, 100, 1,000 and 10,000 keys
    python benchmarks/secret_scrub.py --small    # 1, 100 and 1,000 keys (tests)

Registers distinct random keys of the shapes providers hand out (OpenAI ``sk-proj-...``,
Anthropic ``sk-ant-api03-...``, a 39-character Google ``AIza...``, a 32-hex Azure key) with
``llmkit.secrets.register``, growing the process's registry to each size in turn, and prints
for each size: the total µs spent registering the keys so far, and the µs per
``llmkit.secrets.scrub`` of (a) a 200-character log line with no secret and (b) a 2 KB
exception text holding one registered key whole and a 10-character fragment of another. Times
are CPU time (``time.process_time``: they do not move with other processes' load on a shared
machine). Each scrubbed text is checked: the key and the fragment must be gone.

Exits 1 when a secret was left in a text, or when µs per scrub at the largest size is more
than 3x the figure at 100 keys (scrubbing must not grow with the number of keys; the figure
at one key is lower because a single regex prefilter answers while there are few fragments).
"""

from __future__ import annotations

import argparse
import functools
import random
import string
import sys
import time
from collections.abc import Callable

from llmkit.secrets import register, scrub

GROWTH_TARGET = 3.0
_BASE62 = string.ascii_letters + string.digits
_URLSAFE = _BASE62 + "-_"


def keys(count: int, seed: int) -> list[str]:
    """``count`` distinct random keys, cycling through four provider shapes."""
    rng = random.Random(seed)

    def pick(alphabet: str, n: int) -> str:
        return "".join(rng.choices(alphabet, k=n))

    shapes: tuple[Callable[[], str], ...] = (
        lambda: "sk-proj-" + pick(_URLSAFE, 48 + rng.randrange(40)),
        lambda: "sk-ant-api03-" + pick(_URLSAFE, 93) + "AA",
        lambda: "AIza" + pick(_URLSAFE, 35),
        lambda: pick("0123456789abcdef", 32),
    )
    out: dict[str, None] = {}
    while len(out) < count:
        out[shapes[len(out) % len(shapes)]()] = None
    return list(out)


LOG_LINE = (
    'INFO httpx: HTTP Request: POST https://gateway.internal/v1/chat/completions "HTTP/1.1 200 '
    'OK" tenant=acme-media request_id=req_7Hq2mZx9Lw4kPv3R elapsed_ms=842 model=gpt-4o-mini '
    "prompt_tokens=1234 out=88"
)[:200]


def exception_text(key: str, fragment: str) -> str:
    """A 2 KB traceback-like text with ``key`` whole and ``fragment`` (part of another key)."""
    frames = "".join(
        f'  File "/srv/gateway/app/handlers/tenant_{i}.py", line {40 + i}, in handle_request\n'
        f"    response = client.chat(messages=messages, model=model, timeout=deadline_{i})\n"
        for i in range(12)
    )
    head = "Traceback (most recent call last):\n" + frames
    tail = (
        f"llmkit.errors.AuthError: 401 from upstream: Incorrect API key provided: {key}. "
        f"The previous key ending in ...{fragment} was revoked on rotation; see the dashboard.\n"
    )
    text = head + tail
    return (head[: 2048 - len(tail)] + tail) if len(text) > 2048 else text.ljust(2048)


def per_call_us(fn: Callable[[], object], min_seconds: float = 0.2, min_calls: int = 20) -> float:
    """CPU µs per call of ``fn``, over at least ``min_calls`` calls and ``min_seconds``."""
    fn()  # warm
    calls, started = 0, time.process_time()
    while True:
        for _ in range(min_calls):
            fn()
        calls += min_calls
        spent = time.process_time() - started
        if spent >= min_seconds:
            return spent / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the sizes the tests run")
    parser.add_argument("--sizes", type=int, nargs="+", help="registry sizes, ascending")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sizes: list[int] = args.sizes or ([1, 100, 1000] if args.small else [1, 100, 1000, 10_000])
    all_keys = keys(max(sizes), args.seed)

    print(f"{'keys':>7}{'register total µs':>19}{'µs/key':>8}"
          f"{'log line µs/scrub':>19}{'2 KB exception µs/scrub':>25}")  # fmt: skip
    ok, registered, register_s = True, 0, 0.0
    rows: dict[int, tuple[float, float]] = {}
    for size in sizes:
        started = time.process_time()
        for key in all_keys[registered:size]:
            register(key)
        register_s += time.process_time() - started
        registered = size

        whole, other = all_keys[size // 2], all_keys[size - 1]
        fragment = other[len(other) // 2 - 5 : len(other) // 2 + 5]
        text = exception_text(whole, fragment)
        masked = scrub(text)
        if whole in masked or fragment in masked or scrub(LOG_LINE) != LOG_LINE:
            print(f"  FAIL a secret was left in the text (or the log line changed) at {size}")
            ok = False
        log_us = per_call_us(lambda: scrub(LOG_LINE))
        exc_us = per_call_us(functools.partial(scrub, text))
        rows[size] = (log_us, exc_us)
        print(f"{size:>7,}{register_s * 1e6:>19,.0f}{register_s * 1e6 / size:>8.1f}"
              f"{log_us:>19.1f}{exc_us:>25.1f}")  # fmt: skip

    base = 100 if 100 in rows else sizes[0]
    largest = sizes[-1]
    if largest > base:
        log_ratio = rows[largest][0] / rows[base][0]
        exc_ratio = rows[largest][1] / rows[base][1]
        grew = max(log_ratio, exc_ratio) > GROWTH_TARGET
        ok = ok and not grew
        print(f"  µs/scrub {largest:,} keys / {base:,} keys: log line {log_ratio:.2f}x, "
              f"exception {exc_ratio:.2f}x")  # fmt: skip
        print(f"  {'FAIL' if grew else 'PASS'} µs/scrub at {largest:,} keys <= "
              f"{GROWTH_TARGET:g}x the figure at {base:,}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
