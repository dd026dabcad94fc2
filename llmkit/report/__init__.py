"""``llmkit demo``: replay the cassette catalogue, run the notebooks, write one HTML report.

Three steps, each usable alone (the tests build a report from a small subset), and the command
that runs them, one module each:

1. :mod:`llmkit.report.catalogue` -- :func:`summarize_cassettes` replays every cassette offline
   on a virtual clock through the naive policy (one attempt) and the recorded retry policy,
   with ``llmkit replay``'s own code, keeping each cassette's provenance.
2. :mod:`llmkit.report.notebooks` -- :func:`execute_notebook` converts a ``notebooks/NN_*.py``
   (jupytext percent format) to a notebook and executes it with nbclient, keeping its figures.
3. :mod:`llmkit.report.page` -- :func:`write_report` writes one self-contained ``index.html``:
   headline charts first, then the catalogue, every figure, and where every number came from.
4. :mod:`llmkit.report.demo` -- :func:`run_demo` runs the three; ``demo_main`` is the
   ``llmkit demo`` command around it (plain-text summary, browser check, exit status).

Everything runs offline: cassettes are replayed, notebooks use cassettes and the in-process
simulator. jupytext, nbclient and nbformat are imported only when a notebook is executed.
"""

from __future__ import annotations

from llmkit.report.catalogue import CassetteReport, cassette_paths, summarize_cassettes
from llmkit.report.demo import demo_main as demo_main
from llmkit.report.demo import run_demo
from llmkit.report.notebooks import NOTEBOOK_BUDGET_S as NOTEBOOK_BUDGET_S
from llmkit.report.notebooks import NOTEBOOK_NAME as NOTEBOOK_NAME
from llmkit.report.notebooks import NOTEBOOK_TIMEOUT as NOTEBOOK_TIMEOUT
from llmkit.report.notebooks import NotebookRun, execute_notebook, kernel_env, notebook_paths
from llmkit.report.page import write_report

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
