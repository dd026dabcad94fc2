"""``llmkit demo``: replay the catalogue, run the notebooks, write the report, check it.

:func:`run_demo` is the whole pipeline (with a progress bar): the steps live in
:mod:`llmkit.report.catalogue`, :mod:`llmkit.report.notebooks` and :mod:`llmkit.report.page`.
:func:`demo_main` is the command around it: it refuses a root without cassettes (an installed
package ships none) in one line with status 2, prints the catalogue and each notebook's time
as plain text, and loads the page in the system's Chromium when there is one. Its status is
0 only when every notebook ran cleanly, so ``make demo`` fails when the report shows a failure.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from llmkit.report.catalogue import CassetteReport, cassette_paths, summarize_cassettes
from llmkit.report.notebooks import (
    NOTEBOOK_BUDGET_S,
    NotebookRun,
    execute_notebook,
    notebook_paths,
)
from llmkit.report.page import write_report

__all__ = ["demo_main", "run_demo"]


def run_demo(
    root: str | Path,
    *,
    build: str | Path | None = None,
    notebooks: Sequence[Path] | None = None,
    cassettes: Sequence[Path] | None = None,
    progress: bool = True,
) -> tuple[Path, list[CassetteReport], list[NotebookRun]]:
    """Everything ``llmkit demo`` does; returns (index.html, cassette reports, notebook runs)."""
    from tqdm import tqdm  # noqa: PLC0415

    root = Path(root)
    build_dir = Path(build) if build is not None else root / "build"
    cassette_list = list(cassettes) if cassettes is not None else cassette_paths(root)
    notebook_list = list(notebooks) if notebooks is not None else notebook_paths(root)
    started = time.perf_counter()
    with tqdm(
        total=len(cassette_list) + len(notebook_list),
        desc="llmkit demo",
        unit="step",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:

        def step(name: str) -> None:
            bar.set_postfix_str(name, refresh=False)
            bar.update(1)

        reports = summarize_cassettes(cassette_list, progress=step)
        runs = []
        for path in notebook_list:
            bar.set_postfix_str(path.name)
            runs.append(execute_notebook(path, build_dir / "notebooks"))
            step(path.name)
    index = write_report(build_dir / "report", reports, runs, seconds=time.perf_counter() - started)
    return index, reports, runs


def _text_table(reports: Sequence[CassetteReport]) -> list[str]:
    """The catalogue summary as plain text (what ``llmkit demo`` prints)."""

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x * 1000:.0f}"

    head = (
        f"{'cassette':<34} {'calls':>5} {'naive ok':>8} {'retry ok':>8} {'attempts':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'tok in':>7} {'tok out':>7}  errors (retry)"
    )
    lines = [head, "-" * len(head)]
    for r in reports:
        s = r.retry
        errs = ", ".join(f"{k} {v}" for k, v in sorted(s.errors.items())) or "-"
        lines.append(
            f"{r.name:<34} {s.calls:>5} {r.naive.successes:>8} {s.successes:>8} {s.attempts:>8} "
            f"{ms(s.p50_s):>7} {ms(s.p95_s):>7} {ms(s.p99_s):>7} {s.input_tokens:>7} "
            f"{s.output_tokens:>7}  {errs}"
        )
    return lines


def demo_main(
    root: str | Path | None = None,
    *,
    build: str | Path | None = None,
    only: Sequence[str] | None = None,
    notebooks: bool = True,
    progress: bool = True,
) -> int:
    """``llmkit demo``: 0 when every notebook ran cleanly, 1 otherwise, 2 for bad arguments."""
    from llmkit.charts import find_root  # noqa: PLC0415
    from llmkit.errors import CassetteError  # noqa: PLC0415

    if root is not None:
        base = Path(root).resolve()
        if not (base / "cassettes").is_dir():
            print(
                f"llmkit demo: error: --root {root} has no cassettes/ directory "
                "(give the root of an llmkit clone)",
                file=sys.stderr,
            )
            return 2
    else:
        base = find_root(None)
    cassette_list = cassette_paths(base)
    if not cassette_list:
        print(
            f"llmkit demo: error: no cassettes in {base / 'cassettes'}. The demo replays the "
            "repository's cassettes and notebooks, which an installed package does not ship: "
            "run it in a clone (git clone, then make demo) or pass --root CLONE",
            file=sys.stderr,
        )
        return 2
    nb_list = notebook_paths(base) if notebooks else []
    if only:
        wanted = {name.removesuffix(".py") for name in only}
        nb_list = [p for p in nb_list if p.stem in wanted or p.stem[:2] in wanted]
        if not nb_list:
            print(f"llmkit demo: error: no notebook matches {sorted(wanted)}", file=sys.stderr)
            return 2
    try:
        index, reports, runs = run_demo(
            base, build=build, notebooks=nb_list, cassettes=cassette_list, progress=progress
        )
    except CassetteError as exc:
        print(f"llmkit demo: error: {exc.message}", file=sys.stderr)
        return 2
    print("\n".join(_text_table(reports)))
    print()
    for run in runs:
        state = "ok" if run.ok else "FAILED: " + "; ".join(run.errors)
        name, secs, figs = run.source.name, run.seconds, len(run.images)
        budget = (
            "" if secs < NOTEBOOK_BUDGET_S else f"  (over the {NOTEBOOK_BUDGET_S:.0f} s budget)"
        )
        print(f"notebook {name:<36} {secs:5.1f} s  {figs} figures  {state}{budget}")
    print(f"\nreport: {index}")
    _browser_check(index)
    return 0 if all(r.ok for r in runs) else 1


def _browser_check(index: Path) -> None:
    """Load the report in the system's Chromium, when there is one: print what it saw and
    keep a screenshot of the first screen beside the page (``first-screen.png``)."""
    from llmkit.browser import check_file, find_chromium  # noqa: PLC0415

    if find_chromium() is None:
        print("browser check: skipped (no chromium; apt-get install chromium)")
        return
    shot = index.parent / "first-screen.png"
    try:
        seen = check_file(index, screenshot_to=shot)
    except (OSError, RuntimeError) as exc:
        print(f"browser check: could not run ({exc})")
        return
    verdict = (
        "ok"
        if seen.fits and not seen.broken_images and not seen.console
        else "PROBLEMS: "
        + "; ".join(
            [*(["wider than 1280 px"] if not seen.fits else [])]
            + [f"image not decoded: {b}" for b in seen.broken_images]
            + [f"console: {m}" for m in seen.console]
        )
    )
    print(
        f"browser check: {seen.images} images decoded in Chromium at {seen.width} px "
        f"(page {seen.scroll_width} px wide), {len(seen.console)} console messages: {verdict}"
    )
    print(f"first screen: {shot}")
