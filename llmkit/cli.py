"""The ``llmkit`` command line.

One ``_add_<name>(subparsers)`` function per command registers its arguments and sets
``func``; adding a command is a local change: write the function, add it to ``_COMMANDS``.
Bad arguments print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one clear line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _scenario_name(value: str) -> str:
    from llmkit.sim.scenarios import SCENARIOS  # noqa: PLC0415 - keep `llmkit --help` fast

    if value not in SCENARIOS:
        known = ", ".join(sorted(SCENARIOS))
        raise argparse.ArgumentTypeError(f"unknown scenario {value!r}; known: {known}")
    return value


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be within 0..65535, got {port}")
    return port


def _positive_float(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return x


# --------------------------------------------------------------------------- scenarios


def _cmd_scenarios(args: argparse.Namespace) -> int:
    from llmkit.sim.scenarios import SCENARIOS  # noqa: PLC0415

    width = max(len(name) for name in SCENARIOS)
    for name in sorted(SCENARIOS):
        print(f"{name:<{width}}  {SCENARIOS[name].description}")
    return 0


def _add_scenarios(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    p = subparsers.add_parser("scenarios", help="list the simulator's named scenarios")
    p.set_defaults(func=_cmd_scenarios)


# --------------------------------------------------------------------------- sim


def _cmd_sim_serve(args: argparse.Namespace) -> int:
    from llmkit.sim.server import SimServer, serve  # noqa: PLC0415

    def ready(server: SimServer) -> None:
        url = server.base_url
        sc = server.simulator.scenario
        pace = "virtual time" if args.virtual_time else f"time scale {args.time_scale:g}"
        print(
            f"llmkit sim: scenario {sc.name!r} (seed {sc.seed}, {pace}) "
            f"serving on {url}\n"
            f"  OpenAI base_url:     {url}/v1\n"
            f"  Anthropic base_url:  {url}\n"
            f"  OpenRouter base_url: {url}/api/v1\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )

    try:
        serve(
            args.scenario,
            host=args.host,
            port=args.port,
            seed=args.seed,
            time_scale=args.time_scale,
            on_ready=ready,
            virtual_time=args.virtual_time,
        )
    except OSError as exc:
        print(f"llmkit sim serve: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _add_sim(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    p = subparsers.add_parser("sim", help="run the provider simulator")
    sub = p.add_subparsers(dest="sim_command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    s = sub.add_parser("serve", help="serve the simulator over HTTP")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=_port, default=8000, help="port (0 picks a free one)")
    s.add_argument(
        "--scenario",
        type=_scenario_name,
        default="healthy",
        help="named scenario (see `llmkit scenarios`)",
    )
    s.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    s.add_argument(
        "--time-scale",
        type=_positive_float,
        default=1.0,
        help="run simulated time this many times faster than the wall clock",
    )
    s.add_argument(
        "--virtual-time",
        action="store_true",
        help="never sleep: each request sends its clock in x-llmkit-sim-time and gets the "
        "planned timing back in x-llmkit-sim-* headers (what `llmkit record` uses)",
    )
    s.set_defaults(func=_cmd_sim_serve)


# --------------------------------------------------------------------------- cassettes


def _add_record(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    from llmkit.cassettes.commands import add_record  # noqa: PLC0415

    add_record(subparsers)


def _add_replay(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    from llmkit.cassettes.commands import add_replay  # noqa: PLC0415

    add_replay(subparsers)


# --------------------------------------------------------------------------- inspect


def _cmd_inspect(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from llmkit.inspection import inspect_path  # noqa: PLC0415

    try:
        rows = list(inspect_path(args.path, provider=args.provider))
    except FileNotFoundError as exc:
        print(f"llmkit inspect: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict(), sort_keys=False))
        return 0
    if not rows:
        print(f"no cassettes (*.yaml, *.yml, *.json) under {args.path}")
        return 0

    def cell(value: object) -> str:
        return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    head = ("interaction", "provider", "status", "kind", "retryable", "retry_after", "in", "out")
    table = [
        (
            row.file if row.index is None else f"{row.file}#{row.index}",
            *(cell(v) for v in (row.provider, row.status, row.kind, row.retryable)),
            *(cell(v) for v in (row.retry_after, row.input_tokens, row.output_tokens)),
            "" if row.error is None else f"unreadable: {row.error}",
        )
        for row in rows
    ]
    widths = [max(len(r[i]) for r in (head, *table)) for i in range(len(head))]
    for r in (head, *table):
        print("  ".join(c.ljust(w) for c, w in zip(r, [*widths, 0], strict=False)).rstrip())
    bad = sum(row.error is not None for row in rows)
    print(f"{len(rows)} interactions, {bad} unreadable")
    return 0


def _add_inspect(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="read every cassette in a directory and show how llmkit classifies each interaction",
        description="Read every cassette under PATH (vcrpy, pytest-recording, pydantic-ai's "
        "variant, Ruby VCR, llmkit's own) and print, per interaction, the provider, status, "
        "llmkit's classification (kind, retryable, retry_after) and the usage it parses.",
    )
    p.add_argument(
        "path", metavar="PATH", help="a cassette directory (searched recursively) or file"
    )
    p.add_argument(
        "--provider",
        default=None,
        help="force the provider (default: told from each request's host and path)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per interaction (file, index, provider, status, kind, retryable, "
        "retry_after, input_tokens, output_tokens, error)",
    )
    p.set_defaults(func=_cmd_inspect)


# --------------------------------------------------------------------------- demo


def _cmd_demo(args: argparse.Namespace) -> int:
    from llmkit.report import demo_main  # noqa: PLC0415 - jupytext/nbclient only when used

    return demo_main(
        args.root,
        build=args.build,
        only=args.notebook,
        notebooks=not args.no_notebooks,
        progress=not args.quiet,
    )


def _add_demo(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    p = subparsers.add_parser(
        "demo",
        help="replay the cassettes, run the notebooks, write build/report/index.html (offline)",
    )
    p.add_argument("--root", default=None, help="repository root (default: found from the cwd)")
    p.add_argument("--build", default=None, help="output directory (default ROOT/build)")
    p.add_argument(
        "--notebook",
        action="append",
        default=None,
        metavar="NAME",
        help="run only this notebook (e.g. 00_quickstart or 00; repeatable)",
    )
    p.add_argument("--no-notebooks", action="store_true", help="only replay the cassettes")
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_cmd_demo)


# --------------------------------------------------------------------------- main

_COMMANDS: tuple[Callable[[argparse._SubParsersAction[_Parser]], None], ...] = (
    _add_scenarios,
    _add_sim,
    _add_record,
    _add_replay,
    _add_inspect,
    _add_demo,
)


def build_parser() -> _Parser:
    parser = _Parser(prog="llmkit", description="Operate products on LLM APIs.")
    from llmkit import __version__  # noqa: PLC0415

    parser.add_argument("--version", action="version", version=f"llmkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for add in _COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`llmkit scenarios | head -3`): stop quietly, as Unix tools do, and
        # point stdout at /dev/null so the interpreter's final flush does not complain again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
