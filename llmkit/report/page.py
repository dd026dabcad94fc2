"""The demo report as one self-contained HTML page, from replayed cassettes and executed notebooks.

:func:`write_report` writes ``index.html`` that fits an ordinary 1280-px window: a short
summary and each notebook's headline chart first (the figure of the cell tagged ``headline``,
else its first), then the cassette catalogue (collapsible), every notebook's figures embedded
as base64 PNGs with links to the executed ``.ipynb`` files, and where every number came from.

Nothing is fetched when the page is opened (no scripts, no external images or stylesheets), so
the page is the same offline, in CI artefacts and in a browser years from now. Every piece of
text is escaped; the notebooks' lead paragraphs get just enough inline markdown (bold, code,
emphasis, simple lists) to read as they do in the notebook, not a markdown engine.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from pathlib import Path

from llmkit.report.catalogue import CassetteReport
from llmkit.report.notebooks import NotebookRun

__all__ = ["write_report"]

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
