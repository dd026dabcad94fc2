"""Run one notebook for the demo report, and the notebook tests: find, execute, read back.

A ``notebooks/NN_*.py`` (jupytext percent format) is converted to a notebook and executed with
nbclient in a kernel whose environment has no ``MPLBACKEND`` (ipykernel only captures inline
figures when it is unset), cwd ``notebooks/``. The executed ``.ipynb`` is saved either way, and
:class:`NotebookRun` keeps what the report shows of it: title, lead paragraph, every figure as a
base64 PNG, which figure is the headline, and any error. A failing notebook is a result, never
an exception, so one broken notebook cannot hide the others.

The notebook tests execute each notebook through this same code, so what they check is what
the report shows. jupytext, nbclient and nbformat are imported only when a notebook is run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "NOTEBOOK_BUDGET_S",
    "NOTEBOOK_NAME",
    "NOTEBOOK_TIMEOUT",
    "NotebookRun",
    "execute_notebook",
    "kernel_env",
    "notebook_paths",
]

NOTEBOOK_NAME = re.compile(r"^\d\d_[A-Za-z0-9_]+\.py$")
"""``notebooks/NN_name.py``: the files the demo and the notebook tests execute."""

NOTEBOOK_TIMEOUT = 60.0
"""Seconds any one cell may run (each notebook is meant to finish in under 20 s)."""
NOTEBOOK_BUDGET_S = 20.0
"""Each notebook's time budget on a 2-core machine; the demo prints runs over it."""


def notebook_paths(root: str | Path) -> list[Path]:
    """Every ``notebooks/NN_*.py`` under ``root``, in order."""
    folder = Path(root) / "notebooks"
    return sorted(p for p in folder.glob("*.py") if NOTEBOOK_NAME.match(p.name))


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
