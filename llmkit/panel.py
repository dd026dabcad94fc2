"""Knobs for a notebook's main experiment: a widget panel in JupyterLab, one static chart
elsewhere.

Each notebook writes its main experiment as a function of its knobs that returns a matplotlib
figure (``def experiment(base=1.0, jitter="full") -> Figure``), then calls
``explore(experiment, base=(0.25, 4.0, 0.25), jitter=["full", "equal"])``:

* in JupyterLab, a slider or drop-down per knob (starting at the function's defaults) reruns
  the experiment on its virtual clock and redraws the chart when a knob is released, and
  prints how long the redraw took;
* in an executed copy (``make demo``, the notebook tests: their kernels get
  ``LLMKIT_STATIC_NOTEBOOKS=1`` from :func:`llmkit.report.kernel_env`), or wherever
  ipywidgets is missing, it draws the chart once with the default knobs and stays static.

Knob specs follow ipywidgets' abbreviations: ``(min, max, step)`` for a slider (floats make a
float slider), a list for a drop-down. ``import llmkit`` never imports this module.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["STATIC_ENV", "Knob", "explore", "is_static"]

STATIC_ENV = "LLMKIT_STATIC_NOTEBOOKS"
"""Set (to anything but ``""``/``0``) to draw panels once, statically, with default knobs."""

Knob = tuple[float, float, float] | Sequence[Any]


def is_static() -> bool:
    """True in executed copies (:data:`STATIC_ENV` set) and where ipywidgets is missing."""
    if os.environ.get(STATIC_ENV, "") not in ("", "0"):
        return True
    try:
        import ipywidgets  # noqa: F401, PLC0415
    except ImportError:
        return True
    return False


def _defaults(experiment: Callable[..., Figure], names: Sequence[str]) -> dict[str, Any]:
    params = inspect.signature(experiment).parameters
    missing = [n for n in names if n not in params or params[n].default is inspect.Parameter.empty]
    if missing:
        raise ValueError(f"every knob needs a default in the experiment's signature: {missing}")
    return {n: params[n].default for n in names}


def _widget(name: str, spec: Knob, value: Any) -> Any:
    import ipywidgets as w  # noqa: PLC0415

    style = {"description_width": "initial"}
    if isinstance(spec, tuple) and len(spec) == 3 and all(isinstance(x, int | float) for x in spec):
        lo, hi, step = spec
        if all(isinstance(x, int) for x in (lo, hi, step, value)):
            return w.IntSlider(
                value=value, min=lo, max=hi, step=step, description=name,
                continuous_update=False, style=style,
            )  # fmt: skip
        return w.FloatSlider(
            value=float(value), min=float(lo), max=float(hi), step=float(step), description=name,
            continuous_update=False, style=style, readout_format=".3g",
        )  # fmt: skip
    options = list(spec)
    if value not in options:
        raise ValueError(f"knob {name}: default {value!r} is not one of {options}")
    return w.Dropdown(options=options, value=value, description=name, style=style)


def explore(experiment: Callable[..., Figure], **knobs: Knob) -> None:
    """Show ``experiment``'s chart with a panel of ``knobs`` (static in executed copies)."""
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from IPython.display import display  # noqa: PLC0415

    defaults = _defaults(experiment, list(knobs))
    if is_static():
        started = time.perf_counter()
        fig = experiment()
        took = time.perf_counter() - started
        display(fig)  # type: ignore[no-untyped-call]
        plt.close(fig)
        knobs_text = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
        print(
            f"drawn once with the default knobs ({knobs_text}) in {took:.2f} s; "
            "in JupyterLab a panel lets you move them"
        )
        return
    import ipywidgets as w  # noqa: PLC0415

    controls = {name: _widget(name, spec, defaults[name]) for name, spec in knobs.items()}

    def redraw(**values: Any) -> None:
        started = time.perf_counter()
        fig = experiment(**values)
        took = time.perf_counter() - started
        display(fig)  # type: ignore[no-untyped-call]
        plt.close(fig)
        print(f"redrawn in {took:.2f} s")

    out = w.interactive_output(redraw, controls)
    display(
        w.HBox(  # type: ignore[no-untyped-call]
            list(controls.values()), layout=w.Layout(flex_flow="row wrap")
        ),
        out,
    )
