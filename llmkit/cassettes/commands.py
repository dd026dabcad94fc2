"""``llmkit record`` and ``llmkit replay``: the cassette commands (registered in llmkit.cli).

    llmkit record SCENARIO [--provider P] [--out PATH] [--seed N] [--in-process | --real-time]
    llmkit record --all [--root DIR] [--in-process]

Recording goes over real HTTP to the served simulator on 127.0.0.1, on virtual time (exact,
byte-identical); ``--in-process`` calls the simulator directly (no socket, same bytes);
``--real-time`` serves it sleeping ``--time-scale`` times faster than the wall (measured).
    llmkit replay CASSETTE [--policy naive|retry|full] [--json]

``SCENARIO`` is a catalogue entry (``llmkit record --list``) or any simulator scenario
(``llmkit scenarios``), which is then recorded with a small default workload. Errors are one
line on stderr with exit status 2 (bad argument, missing or corrupt cassette).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_record", "add_replay"]

_ROOT = Path("cassettes")


def _fail(cmd: str, message: str) -> int:
    print(f"llmkit {cmd}: error: {message}", file=sys.stderr)
    return 2


def _bar(total: int, desc: str) -> Any:
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(
        total=total,
        desc=desc,
        unit="call",
        file=sys.stderr,
        leave=False,
        disable=total < 50 or not sys.stderr.isatty(),
    )


# --------------------------------------------------------------------------- record


def _resolve(name: str, provider: str | None) -> tuple[Any, str] | str:
    """(entry, group), or an error message."""
    from llmkit.cassettes import catalogue  # noqa: PLC0415
    from llmkit.sim import SCENARIOS  # noqa: PLC0415

    if provider is not None and provider not in catalogue.GROUPS:
        return f"unknown provider {provider!r}; known: {', '.join(catalogue.GROUPS)}"
    found = catalogue.find(name, provider)
    if found:
        return found[0]
    if catalogue.find(name):
        groups = sorted(g for _, g in catalogue.find(name))
        return f"{name!r} is recorded for {', '.join(groups)}, not {provider!r}"
    if name in SCENARIOS:
        group = provider or "openai"
        if group == "mixed":
            return "a plain simulator scenario needs one provider, not 'mixed'"
        entry = catalogue.Entry(
            name,
            SCENARIOS[name].description,
            SCENARIOS[name],
            catalogue.CATALOGUE[0].workload,
            groups=(group,),
        )
        return entry, group
    known = sorted({e.name for e in catalogue.CATALOGUE} | set(SCENARIOS))
    return f"unknown scenario {name!r}; known: {', '.join(known)}"


def _cmd_record(args: argparse.Namespace) -> int:
    from llmkit.cassettes import catalogue  # noqa: PLC0415
    from llmkit.cassettes.runner import Via, record_entry  # noqa: PLC0415

    if args.list:
        for e, g in catalogue.entries():
            print(f"{g + '/' + e.name:<36} {e.description}")
        return 0
    root = Path(args.root)
    via: Via = "in-process" if args.in_process else "real-time" if args.real_time else "http"
    if args.in_process and args.real_time:
        return _fail("record", "--in-process and --real-time exclude each other")
    if args.all:
        if args.scenario or args.out or args.provider or args.real_time:
            return _fail("record", "--all takes no SCENARIO, --out, --provider or --real-time")
        todo = list(catalogue.entries())
        started = time.perf_counter()
        from tqdm import tqdm  # noqa: PLC0415

        for e, g in tqdm(
            todo,
            desc="recording",
            unit="cassette",
            file=sys.stderr,
            leave=False,
            disable=not sys.stderr.isatty(),
        ):
            path = record_entry(e, g, e.path(root, g), seed=args.seed, via=via)
            print(f"recorded {path}")
        print(f"{len(todo)} cassettes in {time.perf_counter() - started:.1f} s")
        return 0
    if not args.scenario:
        return _fail("record", "give a SCENARIO or --all (see llmkit record --list)")
    resolved = _resolve(args.scenario, args.provider)
    if isinstance(resolved, str):
        return _fail("record", resolved)
    entry, group = resolved
    if not args.time_scale > 0:
        return _fail("record", f"--time-scale must be > 0, got {args.time_scale:g}")
    out = Path(args.out) if args.out else entry.path(root, group)
    try:
        path = record_entry(entry, group, out, seed=args.seed, via=via, time_scale=args.time_scale)
    except OSError as exc:
        return _fail("record", f"cannot write {out}: {exc.strerror or exc}")
    print(f"recorded {path}")
    return 0


def add_record(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "record", help="record cassettes from the simulator (make cassettes: --all)"
    )
    p.add_argument(
        "scenario", nargs="?", metavar="SCENARIO", help="catalogue entry or simulator scenario"
    )
    p.add_argument(
        "--provider",
        default=None,
        help="openai, openai-responses, anthropic, openrouter, gemini, azure, mixed, openai-media",
    )
    p.add_argument("--out", default=None, help="cassette path (default cassettes/<provider>/...)")
    p.add_argument("--seed", type=int, default=None, help="override the entry's seed")
    p.add_argument("--all", action="store_true", help="re-record the whole catalogue")
    p.add_argument("--root", default=str(_ROOT), help="catalogue directory (default cassettes)")
    p.add_argument("--list", action="store_true", help="list the catalogue and exit")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="call the simulator in process (no socket; same bytes); default: real HTTP to "
        "the served simulator on 127.0.0.1, on virtual time",
    )
    p.add_argument(
        "--real-time",
        "--served",
        dest="real_time",
        action="store_true",
        help="serve the simulator sleeping in real (scaled) time; timings measured, "
        "not byte-identical (--served is the old name)",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=100.0,
        help="with --real-time: simulated seconds per real second (default 100)",
    )
    p.set_defaults(func=_cmd_record)


# --------------------------------------------------------------------------- replay


def _cmd_replay(args: argparse.Namespace) -> int:
    from llmkit.cassettes.runner import replay_cassette  # noqa: PLC0415
    from llmkit.cassettes.serializer import load_cassette  # noqa: PLC0415
    from llmkit.errors import CassetteError  # noqa: PLC0415

    if _is_plain_vcrpy(args.cassette):
        return _replay_plain(args)
    try:
        total = len(load_cassette(args.cassette).meta.calls)
        with _bar(total, "replaying") as bar:
            summary = replay_cassette(
                args.cassette, policy=args.policy, progress=bar.update, strict=args.strict
            )
    except CassetteError as exc:
        return _fail("replay", exc.message)
    if args.json:
        print(json.dumps(summary.as_dict(), sort_keys=True))
    else:
        print("\n".join(summary.lines()))
    return 0


def _is_plain_vcrpy(path: str) -> bool:
    """A readable cassette without llmkit's section (recorded by vcrpy or another library)."""
    import yaml  # noqa: PLC0415

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False  # the normal path reports it as a typed error
    return (
        isinstance(doc, dict)
        and "llmkit" not in doc
        and isinstance(doc.get("interactions", doc.get("http_interactions")), list)
    )


def _replay_plain(args: argparse.Namespace) -> int:
    """A plain vcrpy cassette holds attempts but not the logical calls and timing that a policy
    replay re-sends, so each recorded interaction is played through llmkit's parsers."""
    from llmkit.inspection import inspect_path  # noqa: PLC0415

    rows = list(inspect_path(args.cassette))
    ok = sum(r.status is not None and r.status < 400 and r.kind is None for r in rows)
    kinds: dict[str, int] = {}
    for r in rows:
        if r.kind is not None:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
    if args.json:
        print(
            json.dumps(
                {
                    "cassette": Path(args.cassette).name,
                    "format": "vcrpy",
                    "interactions": [r.to_dict() for r in rows],
                    "ok": ok,
                    "errors": kinds,
                },
                sort_keys=True,
            )
        )
        return 0
    print(
        f"{Path(args.cassette).name}: a plain vcrpy cassette ({len(rows)} interactions, no "
        "llmkit: section), so each recorded response is read as llmkit classifies it; "
        "--policy needs the calls and timeline an llmkit recording keeps"
    )
    for r in rows:
        what = r.error or r.kind or f"ok, {r.input_tokens} in / {r.output_tokens} out tokens"
        extra = "" if r.retryable is None else f" (retryable={r.retryable})"
        print(f"  #{r.index} {r.provider or '?'} {r.status}: {what}{extra}")
    print(f"{ok} ok, errors: {kinds or 'none'}")
    return 0


def add_replay(subparsers: Any) -> None:
    p = subparsers.add_parser("replay", help="replay a cassette offline through a policy stack")
    p.add_argument("cassette", metavar="CASSETTE", help="path to a cassette YAML file")
    p.add_argument(
        "--policy",
        choices=("naive", "retry", "full"),
        default="retry",
        help="naive (1 attempt), retry (as recorded), full (retry+breaker+fallback)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2) when recorded interactions are left unplayed",
    )
    p.set_defaults(func=_cmd_replay)
