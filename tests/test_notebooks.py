"""Every ``notebooks/NN_*.py`` is valid paired jupytext and runs cleanly, offline, with figures.

The execution test converts each file to a notebook in ``tmp_path`` and runs it with nbclient
(``llmkit.report.execute_notebook``, the same code ``llmkit demo`` uses) in a kernel whose
environment has no ``MPLBACKEND`` -- conftest sets it for plain pytest, and ipykernel only
captures inline figures when it is unset -- with cwd ``notebooks/`` and a 60 s cell timeout.
Speed is not judged here (no timed unit tests): ``llmkit demo`` prints each notebook's time
against its 20 s budget.
New notebooks are picked up by name; nothing here lists them.
"""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbformat
import pytest

from llmkit.report import NOTEBOOK_NAME, execute_notebook, kernel_env, notebook_paths

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = notebook_paths(ROOT)
IDS = [p.stem for p in NOTEBOOKS]


def test_notebooks_are_found() -> None:
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS
    assert all(NOTEBOOK_NAME.match(p.name) for p in NOTEBOOKS)


def test_generated_ipynb_files_are_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "notebooks/*.ipynb" in ignored


def test_kernel_env_leaves_mplbackend_unset() -> None:
    assert os.environ.get("MPLBACKEND") == "Agg"  # set by conftest for plain pytest
    env = kernel_env()
    assert "MPLBACKEND" not in env
    assert env.get("PATH") == os.environ.get("PATH")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_paired_percent_jupytext(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ---\n# jupyter:\n"), "needs a jupytext YAML header"
    nb = jupytext.reads(text, fmt="py:percent")
    assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    kinds = [c.cell_type for c in nb.cells]
    assert kinds[0] == "markdown", "a notebook opens with its story, not code"
    assert kinds.count("code") >= 3
    assert kinds.count("markdown") >= 3
    assert "# %% [markdown]" in text
    # Canonical: writing it back as py:percent gives the same cells.
    again = jupytext.reads(jupytext.writes(nb, fmt="py:percent"), fmt="py:percent")
    assert [c.source for c in again.cells] == [c.source for c in nb.cells]
    nbformat.validate(jupytext.reads(text, fmt="py:percent"))
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    assert "exercise" in md, "every notebook ends with exercises"
    assert "what to tune" in md


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes_cleanly_with_figures(path: Path, tmp_path: Path) -> None:
    run = execute_notebook(path, tmp_path, timeout=60, cwd=path.parent)
    assert run.errors == [], f"{path.name}: {run.errors}"
    assert run.output == tmp_path / f"{path.stem}.ipynb"
    executed = nbformat.read(run.output, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "every code cell ran"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    stderr = "".join(
        o.get("text", "")
        for o in outputs
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
    )
    assert "Traceback" not in stderr
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 1, "a notebook shows at least one chart"
    assert len(run.images) == len(images)
    assert executed.cells[0].cell_type == "markdown"
    assert run.seconds < 60  # a hang guard, not a speed check: `llmkit demo` prints each time
