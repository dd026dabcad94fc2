"""Shared helpers for the notebooks and the report: telemetry as tidy frames, and charts.

Two halves, both small:

* **data** -- find a committed cassette (:func:`cassette`), replay it through a
  :class:`~llmkit.client.Client` you configure and get its telemetry back as a pandas
  DataFrame (:func:`replay_frame`, ``llmkit replay``'s own loop), or turn any records into
  one (:func:`frame`).
* **plots** -- side-by-side figures with titles, unit-labelled axes and a data-source line on
  every chart (:func:`figure`, :func:`source`), and the plots the notebooks share
  (:func:`attempt_rate`, :func:`latency_cdf`, :func:`shade`).

Why a helper module at all: every chart must say where its data came from ("replayed cassette
X" or "simulator scenario Y, seed Z") and every notebook must build its figures from the
telemetry records, not from numbers typed in. Keeping that in one place keeps it honest.

``import llmkit`` never imports this module; pandas and matplotlib are imported inside the
functions that need them.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.clock import VirtualClock
from llmkit.errors import CassetteNotFoundError, LLMError
from llmkit.telemetry import AttemptRecord, MemorySink, Record

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "COLORS",
    "attempt_rate",
    "attempt_timeline",
    "cassette",
    "figure",
    "find_root",
    "frame",
    "latency_cdf",
    "percentiles",
    "replay_frame",
    "shade",
    "simulate_calls",
    "source",
]

COLORS = {"naive": "#d62728", "pattern": "#2ca02c", "other": "#1f77b4", "extra": "#ff7f0e"}
"""Red for the naive way, green for the pattern, blue/orange for anything else."""

# --------------------------------------------------------------------------- data


def find_root(start: str | Path | None = None) -> Path:
    """The repository root: the first of ``start`` (default: cwd) and its parents holding
    ``cassettes/`` or ``notebooks/`` next to ``pyproject.toml``; else the package's parent."""
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "pyproject.toml").is_file() and (
            (p / "cassettes").is_dir() or (p / "notebooks").is_dir()
        ):
            return p
    return Path(__file__).resolve().parents[1]


def cassette(group: str, name: str, *, root: str | Path | None = None) -> Path:
    """The committed cassette ``cassettes/<group>/<name>.yaml``.

    ``ValueError`` when the catalogue does not record ``name`` for ``group`` (not every
    provider has every failure). :class:`~llmkit.errors.CassetteNotFoundError` when it does but
    the file is missing: the checkout is broken, and re-recording it quietly here would hide
    that, so the error says to run ``make cassettes``.
    """
    base = find_root(root)
    path = base / "cassettes" / group / f"{name}.yaml"
    if path.is_file():
        return path
    from llmkit.cassettes.catalogue import find  # noqa: PLC0415

    if not find(name, group):
        raise ValueError(
            f"no cassette {group}/{name}: not in {base / 'cassettes'} nor in the catalogue "
            "(`llmkit record --list` shows what is recorded)"
        )
    raise CassetteNotFoundError(
        path,
        f"the catalogue records {group}/{name} but {path} is missing; "
        "run `make cassettes` to record the catalogue",
    )


def frame(records: Iterable[Record] | MemorySink, *, origin: float | None = None) -> pd.DataFrame:
    """One row per record with plain column names (the record's attribute names), plus
    ``kind`` ("attempt"/"call"), ``t_s`` (seconds since ``origin``, default the first record's
    timestamp) and ``end_s`` (``t_s + latency``).

    ``MemorySink.to_dataframe()`` gives the OpenTelemetry column names for export; this is the
    shape that is pleasant to chart.
    """
    import pandas as pd  # noqa: PLC0415

    recs = records.records if isinstance(records, MemorySink) else list(records)
    names = [f.name for f in fields(AttemptRecord)]
    rows = []
    for r in recs:
        row: dict[str, Any] = {n: getattr(r, n) for n in names}
        row["kind"] = r.kind
        row["tags"] = dict(r.tags)
        rows.append(row)
    df = pd.DataFrame(rows, columns=["kind", *names])
    if df.empty:
        df["t_s"] = pd.Series(dtype=float)
        df["end_s"] = pd.Series(dtype=float)
        return df
    t0 = float(df["timestamp"].min()) if origin is None else origin
    df["t_s"] = df["timestamp"] - t0
    df["end_s"] = df["t_s"] + df["latency"].fillna(0.0)
    df["ok"] = df["error_type"].isna()
    return df


def replay_frame(
    path: str | Path,
    *,
    retry: Any = None,
    budget: Any = False,
    timeout: float | None = None,
    deadline: float | None = None,
    layers: Sequence[Any] = (),
    attempt_layers: Sequence[Any] = (),
    seed: int = 0,
) -> pd.DataFrame:
    """Replay every call of a cassette through a :class:`~llmkit.client.Client` on a fresh
    :class:`VirtualClock`, at the recorded arrival times, and return its telemetry
    (:func:`frame`; ``t_s`` counts from the start of the recording).

    ``retry`` defaults to the attempts the cassette was recorded with; ask for fewer to see
    the naive behaviour (a replay cannot invent attempts that were never recorded: asking for
    more raises :class:`~llmkit.errors.CassetteMismatchError`). The replay serves each
    attempt at its recorded time, latency and fault, so backoff and timeout *values* cannot be
    re-tuned on a cassette -- use the simulator for that.
    """
    from llmkit.cassettes.runner import ReplayOptions, replay_cassette  # noqa: PLC0415

    options: ReplayOptions = {
        "budget": budget,
        "deadline": deadline,
        "layers": layers,
        "attempt_layers": attempt_layers,
        "seed": seed,
    }
    if retry is not None:  # None: the attempts the cassette was recorded with
        options["retry"] = retry
    if timeout is not None:  # None: the timeout the cassette was recorded with
        options["timeout"] = timeout
    clock = VirtualClock()
    sink = MemorySink()
    origin = clock.wall()
    replay_cassette(path, policy="retry", clock=clock, telemetry=sink, **options)
    return frame(sink, origin=origin)


def simulate_calls(
    scenario: Any,
    *,
    n: int = 200,
    gap_s: float = 2.0,
    model: str = "gpt-4o-mini",
    provider: str = "openai",
    seed: int = 0,
    max_tokens: int = 64,
    **client_options: Any,
) -> pd.DataFrame:
    """``n`` calls, one every ``gap_s`` simulated seconds, from one
    :class:`~llmkit.client.Client` (configured by ``client_options``: ``retry``, ``timeout``,
    ``deadline``, ``budget``...) to the in-process simulator running ``scenario`` (a
    :class:`~llmkit.sim.Scenario` or its name) with ``seed``, on a :class:`VirtualClock`.
    Returns the telemetry (:func:`frame`; ``t_s`` from the first call).

    Use it where a cassette cannot answer: re-tuning timeouts and backoff values, or
    thousands of calls. Label the chart "simulator scenario <name>, seed <seed>".
    """
    from llmkit.cassettes.runner import BASE_URLS, SIM_KEY  # noqa: PLC0415
    from llmkit.client import Client  # noqa: PLC0415
    from llmkit.sim import SimTransport, Simulator  # noqa: PLC0415

    clock = VirtualClock()
    sink = MemorySink()
    sim = Simulator(scenario, clock, seed=seed)
    options: dict[str, Any] = {"seed": seed, **client_options}
    client = Client(
        provider,
        transport=SimTransport(sim),
        base_url=BASE_URLS.get(provider),
        api_key=SIM_KEY,
        clock=clock,
        telemetry=sink,
        **options,
    )
    origin = clock.wall()
    with client:
        for i in range(n):
            clock.set(i * gap_s)
            with contextlib.suppress(LLMError):  # recorded in the telemetry
                client.chat(
                    model=model,
                    messages=[{"role": "user", "content": f"Classify support ticket #{i}."}],
                    max_tokens=max_tokens,
                )
    return frame(sink, origin=origin)


def percentiles(values: Iterable[float], qs: Sequence[float] = (0.5, 0.95, 0.99)) -> list[float]:
    """Linear-interpolated percentiles (``llmkit replay``'s own function); NaN when empty."""
    from llmkit.cassettes.runner import percentile  # noqa: PLC0415

    s = sorted(values)
    return [math.nan if (v := percentile(s, q)) is None else v for q in qs]


# --------------------------------------------------------------------------- plots


def figure(
    ncols: int = 2,
    *,
    title: str,
    nrows: int = 1,
    width: float = 6.0,
    height: float = 3.6,
    sharey: bool = False,
    sharex: bool = False,
) -> tuple[Figure, list[Axes]]:
    """A titled figure of ``nrows x ncols`` panels (naive left, pattern right, by convention)."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, height * nrows + 0.6),
        sharey=sharey,
        sharex=sharex,
        squeeze=False,
        layout="constrained",
    )
    fig.suptitle(title, fontweight="bold")
    return fig, [ax for row in axes for ax in row]


def source(fig: Figure, text: str) -> None:
    """Write the data source under the figure: ``replayed cassette X`` or
    ``simulator scenario Y, seed Z`` (wrapped to the figure's width)."""
    width_in, height_in = fig.get_size_inches()
    lines = textwrap.wrap(f"Data: {text}", width=max(40, int(width_in * 17)))
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=8, color="#444444", ha="left", va="bottom")
    from matplotlib.layout_engine import ConstrainedLayoutEngine  # noqa: PLC0415

    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):  # keep the layout clear of the note
        bottom = min(0.4, (0.08 + 0.14 * len(lines)) / height_in)
        engine.set(rect=(0.0, bottom, 1.0, 1.0 - bottom))


def attempt_rate(
    ax: Axes,
    df: pd.DataFrame,
    *,
    bin_s: float = 0.5,
    until: float | None = None,
    color: str = COLORS["other"],
    title: str | None = None,
) -> None:
    """Attempts started per second over time (a histogram of attempt start times)."""
    import numpy as np  # noqa: PLC0415

    att = df[df["kind"] == "attempt"]
    end = until if until is not None else float(att["t_s"].max() if len(att) else 1.0) + bin_s
    bins = np.arange(0.0, end + bin_s, bin_s)
    counts, edges = np.histogram(att["t_s"], bins=bins)
    ax.bar(edges[:-1], counts / bin_s, width=bin_s, align="edge", color=color, alpha=0.85)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("attempts started per second")
    if title:
        ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)


def latency_cdf(ax: Axes, values: Iterable[float], *, label: str, color: str | None = None) -> None:
    """Empirical CDF of latencies (seconds on x, fraction of calls on y)."""
    import numpy as np  # noqa: PLC0415

    s = np.sort(np.asarray(list(values), dtype=float))
    if len(s) == 0:
        return
    ax.step(s, np.arange(1, len(s) + 1) / len(s), where="post", label=label, color=color)
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("fraction of calls ≤ x")
    ax.grid(alpha=0.3)


def shade(ax: Axes, start: float, end: float, label: str = "outage") -> None:
    """Shade a window of time (an outage, an incident) on a time axis."""
    ax.axvspan(start, end, color="#999999", alpha=0.18, label=label)


def attempt_timeline(ax: Axes, df: pd.DataFrame, *, title: str | None = None) -> None:
    """One horizontal bar per attempt, from its start to its end, green for a success and red
    for a failure (labelled with the status or error), one row per attempt of each call."""
    att = df[df["kind"] == "attempt"].reset_index(drop=True)
    numbers = {cid: n for n, cid in enumerate(dict.fromkeys(att["call_id"]), start=1)}
    labels = []
    for i, row in att.iterrows():
        ok = bool(row["ok"])
        y = len(att) - 1 - int(str(i))
        width = max(float(row["latency"] or 0.0), 0.02)
        ax.barh(y, width, left=row["t_s"], color=COLORS["pattern" if ok else "naive"], alpha=0.85)
        what = "200 OK" if ok else f"{_status(row['status'])}{row['error_type']}"
        ax.text(row["t_s"] + width, y, f"  {what}", va="center", fontsize=8)
        labels.append(f"call {numbers[row['call_id']]} attempt {row['attempt']}")
    ax.set_yticks(range(len(att)), list(reversed(labels)), fontsize=8)
    ax.set_xlabel("time since the call started (s)")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title)


def _status(value: Any) -> str:
    try:
        return f"{int(value)} "
    except (TypeError, ValueError):
        return ""
