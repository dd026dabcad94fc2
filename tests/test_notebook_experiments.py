"""Each notebook's main experiment is a function of its knobs: other knobs, another figure.

The notebook's first code cell (its imports) and its cells tagged ``experiment`` are run in a
namespace -- not the whole notebook -- then ``experiment()`` is drawn with its default knobs,
again (the figure is reproducible), and with the other knobs below; the figure must change.
These are the functions the notebooks' widget panels (``llmkit.panel.explore``) rerun.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import jupytext
import matplotlib.pyplot as plt
import pytest

from llmkit.panel import STATIC_ENV, explore, is_static
from llmkit.report import kernel_env, notebook_paths

ROOT = Path(__file__).resolve().parents[1]

OTHER_KNOBS: dict[str, dict[str, Any]] = {
    "01": {"read_timeout": 6.0, "hang_rate": 0.1},
    "02": {"jitter": "equal"},
    "03": {"bin_minutes": 30},
    "04": {"failure_rate": 0.3},
    "05": {"max_entries": 20},
    "06": {"percentile": 0.99},
}


def _experiment_cells(path: Path) -> str:
    nb = jupytext.read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "experiment" in c.metadata.get("tags", [])]
    return "\n\n".join(c.source for c in [code[0], *tagged]) if tagged else ""


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def test_every_notebook_with_a_panel_is_covered() -> None:
    with_panels = {p.stem[:2] for p in notebook_paths(ROOT) if _experiment_cells(p)}
    assert set(OTHER_KNOBS) <= with_panels, "an experiment lost its tag"


@pytest.mark.parametrize("number", sorted(OTHER_KNOBS))
def test_other_knobs_draw_another_figure(number: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (path,) = [p for p in notebook_paths(ROOT) if p.stem.startswith(number)]
    monkeypatch.chdir(path.parent)
    namespace: dict[str, Any] = {"__name__": f"nb{number}"}
    exec(compile(_experiment_cells(path), str(path), "exec"), namespace)  # noqa: S102
    experiment = namespace["experiment"]
    default = _png(experiment())
    assert _png(experiment()) == default, "the experiment is reproducible"
    assert _png(experiment(**OTHER_KNOBS[number])) != default, "other knobs, another figure"


def test_panels_are_static_in_executed_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    assert kernel_env()[STATIC_ENV] == "1"
    monkeypatch.setenv(STATIC_ENV, "1")
    assert is_static()
    monkeypatch.setenv(STATIC_ENV, "")
    assert not is_static()  # ipywidgets is installed by the dev extra


def test_explore_refuses_a_knob_without_a_default() -> None:
    def experiment(base: float) -> Any:  # pragma: no cover - never drawn
        raise AssertionError

    with pytest.raises(ValueError, match="default"):
        explore(experiment, base=(0.1, 1.0, 0.1))
