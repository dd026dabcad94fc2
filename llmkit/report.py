"""``llmkit demo``: replay the cassette catalogue, run the notebooks, write one HTML report.

Three steps, each usable alone (the tests build a report from a small subset):

1. :func:`summarize_cassettes` -- replay every cassette offline on a virtual clock through the
   naive policy (one attempt) and the recorded retry policy, with ``llmkit replay``'s own code
   (:func:`llmkit.cassettes.runner.replay_cassette`), keeping each cassette's provenance.
2. :func:`execute_notebook` -- convert a ``notebooks/NN_*.py`` (jupytext percent format) to a
   notebook and execute it with nbclient in a kernel whose environment has no ``MPLBACKEND``
   (ipykernel only captures inline figures when it is unset), cwd ``notebooks/``.
3. :func:`write_report` -- one self-contained ``index.html`` that fits an ordinary 1280-px
   window: a short summary and each notebook's headline chart first (the figure of the cell
   tagged ``headline``, else its first), then the cassette catalogue (collapsible), every
   notebook's figures embedded as base64 PNGs with links to the executed ``.ipynb`` files,
   and where every number came from.

Everything runs offline: cassettes are replayed, notebooks use cassettes and the in-process
simulator. jupytext, nbclient and nbformat are imported only here, only when used.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmkit.cassettes.runner import Summary, replay_cassette
from llmkit.cassettes.serializer import load_cassette
from llmkit.cassettes.timeline import Provenance

__all__ = [
    "CassetteReport",
    "NotebookRun",
    "cassette_paths",
    "execute_notebook",
    "kernel_env",
    "notebook_paths",
    "run_demo",
    "summarize_cassettes",
    "write_report",
]

NOTEBOOK_NAME = re.compile(r"^\d\d_[A-Za-z0-9_]+\.py$")
"""``notebooks/NN_name.py``: the files the demo and the notebook tests execute."""

NOTEBOOK_TIMEOUT = 60.0
"""Seconds any one cell may run (each notebook is meant to finish in under 20 s)."""
NOTEBOOK_BUDGET_S = 20.0
"""Each notebook's time budget on a 2-core machine; the demo prints runs over it."""


# --------------------------------------------------------------------------- discovery


def notebook_paths(root: str | Path) -> list[Path]:
    """Every ``notebooks/NN_*.py`` under ``root``, in order."""
    folder = Path(root) / "notebooks"
    return sorted(p for p in folder.glob("*.py") if NOTEBOOK_NAME.match(p.name))


def cassette_paths(root: str | Path) -> list[Path]:
    """Every ``cassettes/<group>/<name>.yaml`` under ``root``, sorted."""
    return sorted((Path(root) / "cassettes").glob("*/*.yaml"))


# --------------------------------------------------------------------------- cassettes


@dataclass(frozen=True, slots=True)
class CassetteReport:
    """One cassette: where it came from and what replaying it did, naive and with retries."""

    name: str
    """``<group>/<file stem>``."""
    description: str
    provenance: Provenance
    naive: Summary
    retry: Summary
    full: Summary | None = None
    """For a cassette recorded through a fallback (``notes.secondary``): the replay with the
    fallback too (``llmkit replay --policy full``); the retry columns replay the primary's
    retries alone. None otherwise."""

    def provenance_text(self) -> str:
        p = self.provenance
        if p.source == "live":
            return f"live recording of {p.provider} on {p.recorded_on} (llmkit {p.llmkit_version})"
        return (
            f"simulator {p.simulator_version}, scenario {p.scenario}, seed {p.seed} "
            f"(llmkit {p.llmkit_version})"
        )


def summarize_cassettes(
    paths: Iterable[Path], *, progress: Callable[[str], None] | None = None
) -> list[CassetteReport]:
    """Replay each cassette naive and with its recorded retry policy (typed CassetteErrors
    for missing or corrupt files)."""
    out = []
    for path in paths:
        meta = load_cassette(path).meta
        naive = replay_cassette(path, policy="naive")
        retry = replay_cassette(path, policy="retry")
        full = replay_cassette(path, policy="full") if "secondary" in meta.notes else None
        name = f"{path.parent.name}/{path.stem}"
        out.append(
            CassetteReport(
                name, str(meta.notes.get("description", "")), meta.provenance, naive, retry, full
            )
        )
        if progress is not None:
            progress(name)
    return out


# --------------------------------------------------------------------------- notebooks


def kernel_env() -> dict[str, str]:
    """The kernel's environment: ours without ``MPLBACKEND`` (so figures are captured inline)."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["LLMKIT_STATIC_NOTEBOOKS"] = "1"  # llmkit.panel: executed copies draw default knobs once
    return env


@dataclass(slots=True)
class NotebookRun:
    """One executed notebook: its source, the executed ``.ipynb`` and what it produced."""

    source: Path
    output: Path
    title: str = ""
    summary: str = ""
    seconds: float = 0.0
    images: list[str] = field(default_factory=list)
    """Base64 PNGs of every figure, in order."""
    headline: int = 0
    """Index in ``images`` of the headline chart: the first figure of the first code cell
    tagged ``headline``, else 0."""
    errors: list[str] = field(default_factory=list)
    """Error outputs (ename: evalue), or the execution failure; empty when it ran cleanly."""
    first_cell_markdown: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def execute_notebook(
    source: str | Path,
    out_dir: str | Path,
    *,
    timeout: float = NOTEBOOK_TIMEOUT,
    cwd: str | Path | None = None,
) -> NotebookRun:
    """Convert ``source`` with jupytext, execute it with nbclient (cwd: its own folder unless
    ``cwd`` is given) and save the executed notebook as ``out_dir/<stem>.ipynb``.

    Never raises for a failing notebook: the failure is in ``run.errors`` (and in the saved
    notebook, which is written either way).
    """
    import jupytext  # type: ignore[import-untyped]  # noqa: PLC0415
    import nbformat  # noqa: PLC0415
    from jupyter_client.manager import KernelManager  # noqa: PLC0415
    from nbclient import NotebookClient  # noqa: PLC0415
    from nbclient.exceptions import CellExecutionError, CellTimeoutError  # noqa: PLC0415

    source = Path(source).resolve()
    out = Path(out_dir) / f"{source.stem}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(source)
    run = NotebookRun(source, out)
    work = Path(cwd) if cwd is not None else source.parent
    # IPC (a Unix socket) rather than TCP on loopback: the kernel talks only to this process,
    # and ipykernel then has no reason to warn that TCP traffic is unencrypted.
    ipc = tempfile.mkdtemp(prefix="llmkit-kernel-") if os.name == "posix" else None
    km = (
        KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(ipc, "k"))
        if ipc is not None
        else KernelManager(kernel_name="python3")
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=int(timeout),
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
    )
    started = time.perf_counter()
    try:
        client.execute(env=kernel_env(), cwd=str(work))
    except (CellExecutionError, CellTimeoutError) as exc:
        run.errors.append(_first_line(str(exc)) or type(exc).__name__)
    except Exception as exc:  # a kernel that dies or will not start is a failed run, too
        run.errors.append(f"{type(exc).__name__}: {_first_line(str(exc))}")
    finally:
        if km.has_kernel:  # nbclient shuts down only the kernels it created itself
            with contextlib.suppress(Exception):
                km.shutdown_kernel(now=False)
        if ipc is not None:
            shutil.rmtree(ipc, ignore_errors=True)
    run.seconds = time.perf_counter() - started
    nbformat.write(nb, out)  # type: ignore[no-untyped-call]
    _inspect(nb, run)
    return run


def _first_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _inspect(nb: Any, run: NotebookRun) -> None:
    """Fill title, summary, images and error outputs from an executed notebook."""
    cells = list(nb.cells)
    headline_tagged = False
    run.first_cell_markdown = bool(cells) and cells[0].cell_type == "markdown"
    for cell in cells:
        if cell.cell_type == "markdown" and not run.title:
            text = str(cell.source)
            heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
            run.title = heading.group(1).strip() if heading else run.source.stem
            paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
            body = [p for p in paras if not p.startswith("#")]
            run.summary = _lead(body)
        if cell.cell_type != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if "headline" in tags and not headline_tagged:
            headline_tagged = True
            run.headline = len(run.images)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                msg = f"{output.get('ename')}: {output.get('evalue')}"
                if msg not in run.errors:
                    run.errors.append(msg)
            data = output.get("data", {})
            png = data.get("image/png")
            if png:
                run.images.append("".join(png) if isinstance(png, list) else str(png))
    if not run.title:
        run.title = run.source.stem
    if run.headline >= len(run.images):
        run.headline = 0


def _lead(paragraphs: Sequence[str]) -> str:
    """A notebook's opening paragraph; a short lead-in ("**The production failures.**", or one
    ending in a colon) keeps the paragraph after it (often the list it introduces)."""
    if not paragraphs:
        return ""
    first = paragraphs[0]
    short = len(re.sub(r"[*_`]", "", first)) < 60 or first.rstrip().endswith(":")
    return f"{first}\n\n{paragraphs[1]}" if short and len(paragraphs) > 1 else first


# --------------------------------------------------------------------------- HTML

_CSS = """
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1180px; margin: 1.5em auto;
       padding: 0 1em; color: #222; }
h1 { margin-bottom: .2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 12px; margin: 1em 0; width: 100%; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; vertical-align: top; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; overflow-wrap: anywhere; }
tr.bad td { background: #fff3f3; }
.wide { overflow-x: auto; max-width: 100%; } td.d { width: 30%; }
.muted { color: #666; font-size: 13px; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
.fail { color: #b00020; font-weight: bold; } .ok { color: #1a7f37; font-weight: bold; }
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1em; }
.card { border: 1px solid #e4e4e4; border-radius: 6px; padding: .6em .8em; }
.card h3 { margin: .1em 0 .3em; font-size: 16px; } .card p { margin: .2em 0; font-size: 13px; }
.card img { width: 100%; height: auto; }
details { margin: 1em 0; } summary { cursor: pointer; font-weight: 600; }
.note { font-size: 12px; color: #444; margin-top: .3em; }
"""


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x * 1000:,.0f}"


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}&nbsp;{v}" for k, v in sorted(errors.items())) or "–"


def _fallback_note(r: CassetteReport) -> str:
    if r.full is None:
        return ""
    return (
        f"<div class=note>Recorded through a fallback: the retry columns replay the primary's "
        f"retries alone, so {r.retry.calls - r.retry.successes} of {r.retry.calls} calls fail "
        f"there. Replayed with the fallback as well (<code>llmkit replay cassettes/"
        f"{html.escape(r.name)}.yaml --policy full</code>): {r.full.successes} of "
        f"{r.full.calls} succeed.</div>"
    )


def _cassette_table(reports: Sequence[CassetteReport]) -> str:
    head = (
        "<tr><th class=l rowspan=2>cassette</th><th class='l d' rowspan=2>what it recorded</th>"
        "<th rowspan=2>calls</th><th colspan=2>naive (1 attempt)</th>"
        "<th colspan=5>retry policy as recorded</th></tr>"
        "<tr><th>successes</th><th class=l>error kinds</th>"
        "<th>attempts</th><th>successes</th><th class=l>error kinds</th>"
        "<th>p50 / p95 / p99 ms</th><th>tokens in / out</th></tr>"
    )
    rows = []
    for r in reports:
        n, s = r.naive, r.retry
        cls = ' class="bad"' if s.successes < s.calls else ""
        rows.append(
            f"<tr{cls}><td class=l><code>{html.escape(r.name)}</code></td>"
            f"<td class='l d'>{html.escape(r.description)}{_fallback_note(r)}</td>"
            f"<td>{s.calls}</td>"
            f"<td>{n.successes}</td><td class=l>{_errors(n.errors)}</td>"
            f"<td>{s.attempts}</td><td>{s.successes}</td><td class=l>{_errors(s.errors)}</td>"
            f"<td>{_ms(s.p50_s)} / {_ms(s.p95_s)} / {_ms(s.p99_s)}</td>"
            f"<td>{s.input_tokens:,} / {s.output_tokens:,}</td></tr>"
        )
    return f"<div class=wide><table>{head}{''.join(rows)}</table></div>"


def _provenance_table(reports: Sequence[CassetteReport]) -> str:
    rows = "".join(
        f"<tr><td class=l><code>{html.escape(r.name)}</code></td>"
        f"<td class=l>{html.escape(r.provenance.source)}</td>"
        f"<td class=l>{html.escape(r.provenance_text())}</td>"
        f"<td>{r.retry.recorded_s:,.2f}</td><td>{r.retry.unplayed}</td></tr>"
        for r in reports
    )
    return (
        "<table><tr><th class=l>cassette</th><th class=l>source</th><th class=l>provenance</th>"
        "<th>recorded span s</th><th>unplayed attempts (retry replay)</th></tr>"
        f"{rows}</table>"
    )


def _inline_markdown(text: str) -> str:
    """Escape ``text`` and render the inline markdown a notebook's intro uses (bold, code,
    emphasis); enough for one paragraph, not a markdown engine."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return re.sub(r"(?<![*\w])\*([^*\s][^*]*)\*(?!\w)", r"<em>\1</em>", out)


def _paragraphs(text: str) -> str:
    """A notebook's lead as HTML: paragraphs, and ``1.``/``*`` lists, with inline markdown."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        items = re.split(r"^\s*(?:\d+\.|[*-])\s+", para, flags=re.MULTILINE)
        if len(items) > 1 and not items[0].strip():
            tag = "ol" if re.match(r"\s*\d+\.", para) else "ul"
            lis = "".join(f"<li>{_inline_markdown(' '.join(i.split()))}</li>" for i in items[1:])
            out.append(f"<{tag}>{lis}</{tag}>")
        elif para.strip():
            out.append(f"<p>{_inline_markdown(' '.join(para.split()))}</p>")
    return "".join(out)


def _headline_card(run: NotebookRun) -> str:
    """One notebook in the summary grid: title, first sentence, headline chart."""
    anchor = html.escape(run.source.stem)
    flat = re.sub(r"(?m)^\s*(?:\d+\.|[*-])\s+", "", run.summary)  # list items as prose
    first = re.split(r"(?<=[.!?])\s", " ".join(flat.split()), maxsplit=1)[0]
    lead = first if len(first) < 240 else first[:237] + "…"
    if not run.ok:
        body = f'<p class="fail">FAILED: {html.escape("; ".join(run.errors))}</p>'
    elif run.images:
        body = (
            f'<img alt="headline chart of {html.escape(run.title)}" '
            f'src="data:image/png;base64,{run.images[run.headline]}">'
        )
    else:
        body = '<p class="muted">no chart</p>'
    return (
        f'<div class=card><h3><a href="#{anchor}">{html.escape(run.title)}</a></h3>'
        f"<p>{_inline_markdown(lead)}</p>{body}"
        f'<p class="muted">{run.seconds:.1f} s · {len(run.images)} figure(s)</p></div>'
    )


def _notebook_section(run: NotebookRun, report_dir: Path) -> str:
    link = os.path.relpath(run.output, report_dir)
    status = (
        f'<span class="ok">ran cleanly</span> in {run.seconds:.1f} s'
        if run.ok
        else f'<span class="fail">FAILED</span>: {html.escape("; ".join(run.errors))}'
    )
    figures = "".join(
        f'<figure><img alt="figure {i} of {html.escape(run.title)}" '
        f'src="data:image/png;base64,{img}"></figure>'
        for i, img in enumerate(run.images, start=1)
    )
    return (
        f'<h3 id="{html.escape(run.source.stem)}">{html.escape(run.title)}</h3>'
        f'<p class="muted"><code>notebooks/{html.escape(run.source.name)}</code> · {status} · '
        f'executed notebook: <a href="{html.escape(link)}">{html.escape(run.output.name)}</a> · '
        f"{len(run.images)} figure(s)</p>"
        f"{_paragraphs(run.summary)}{figures}"
    )


def write_report(
    out_dir: str | Path,
    cassettes: Sequence[CassetteReport],
    notebooks: Sequence[NotebookRun],
    *,
    seconds: float | None = None,
) -> Path:
    """Write ``out_dir/index.html`` (self-contained: images are inline) and return its path."""
    from llmkit import __version__  # noqa: PLC0415

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sources = sorted({r.provenance.source for r in cassettes})
    calls = sum(r.retry.calls for r in cassettes)
    took = "" if seconds is None else f" in {seconds:.0f} s"
    clean = sum(run.ok for run in notebooks)
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>llmkit demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>llmkit demo report</h1>",
        "<p>llmkit is a small typed Python library and a set of notebooks for operating "
        "products on LLM APIs: timeouts and deadlines, retries with jitter and a budget, "
        "telemetry, fallbacks and circuit breaking, caching, hedging and throttling; token "
        "budgets, cost per call, quotas and smaller models first; keys, private data and "
        "untrusted output; and the job pipeline media products wrap around model calls. Each "
        "notebook below shows a production failure, the naive way and the pattern, on "
        "recorded or simulated traffic.</p>",
        f'<p class="muted">llmkit {html.escape(__version__)} · built offline{took}: no network, '
        f"no API key. {len(notebooks)} notebooks executed ({clean} cleanly); "
        f"{len(cassettes)} cassettes ({calls:,} calls, sources: "
        f"{html.escape(', '.join(sources) or 'none')}) replayed on a virtual clock.</p>",
        "<h2>Notebooks at a glance</h2>",
        "<p>Each notebook's headline chart; the title links to the notebook in full below.</p>",
        f"<div class=grid>{''.join(_headline_card(run) for run in notebooks)}</div>",
        "<h2>Cassette catalogue, replayed</h2>",
        "<details><summary>Every committed cassette replayed naive and with its recorded "
        f"retry policy ({len(cassettes)} rows)</summary>",
        "<p>Replayed twice through <code>llmkit replay</code>'s code: <b>naive</b> (one attempt "
        "per call) and with the <b>retry policy it was recorded with</b>. Latencies are per "
        "call in virtual milliseconds (the recorded timeline), percentiles are "
        "linear-interpolated. Rows where calls still fail with retries are tinted: a "
        "permanent failure (never retried, by design), or a cassette recorded through a "
        "fallback, whose note gives the replay with the fallback too.</p>",
        _cassette_table(cassettes),
        "</details>",
        "<h2>Notebooks</h2>",
        "<p>Each notebook states the production failure it teaches, replays cassettes or "
        "drives the in-process simulator on a virtual clock (each chart names its data "
        "source), and compares the naive way with the pattern.</p>",
        *(_notebook_section(run, out) for run in notebooks),
        "<h2>Provenance</h2>",
        "<details><summary>Where every cassette's bytes came from</summary>",
        "<p><b>simulator</b> recordings were made by "
        "llmkit's provider simulator (version and seed given, so <code>make cassettes</code> "
        "re-records them byte for byte); they are never presented as live traffic.</p>",
        _provenance_table(cassettes),
        "</details>",
        "</body></html>",
    ]
    index = out / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    return index


# --------------------------------------------------------------------------- the demo


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
