"""``llmkit demo`` and its report, built from a small subset of cassettes and one notebook."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmkit.cli import main
from llmkit.report import (
    cassette_paths,
    notebook_paths,
    run_demo,
    summarize_cassettes,
    write_report,
)

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ("openai/retry-after", "openai/auth", "anthropic/overloaded-529")


def _subset() -> list[Path]:
    paths = [ROOT / "cassettes" / f"{name}.yaml" for name in SUBSET]
    missing = [p for p in paths if not p.is_file()]
    assert not missing, f"committed cassettes missing: {missing}"
    return paths


def _fake_root(tmp_path: Path) -> Path:
    """A repository-shaped folder holding only the subset of cassettes."""
    root = tmp_path / "repo"
    for name in SUBSET:
        dest = root / "cassettes" / f"{name}.yaml"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "cassettes" / f"{name}.yaml", dest)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    return root


def test_discovery_finds_the_catalogue_and_the_notebooks() -> None:
    cassettes = cassette_paths(ROOT)
    assert len(cassettes) >= 30
    assert all(p.suffix == ".yaml" and p.parent.parent.name == "cassettes" for p in cassettes)
    names = [p.name for p in notebook_paths(ROOT)]
    assert names[:4] == [
        "00_quickstart.py",
        "01_timeouts_and_deadlines.py",
        "02_retries_backoff_jitter.py",
        "03_telemetry.py",
    ]


def test_summaries_compare_naive_with_the_recorded_retry_policy() -> None:
    reports = {r.name: r for r in summarize_cassettes(_subset())}
    assert set(reports) == set(SUBSET)
    ra = reports["openai/retry-after"]
    assert (ra.naive.successes, ra.naive.errors) == (0, {"rate_limit": 1})
    assert (ra.retry.successes, ra.retry.attempts) == (1, 3)
    assert ra.retry.p50_s is not None
    assert ra.retry.p50_s > 2.0  # two recorded 1 s retry-after waits
    auth = reports["openai/auth"]
    assert auth.retry.errors == {"auth": 1}
    assert auth.retry.attempts == 1  # never retried
    ov = reports["anthropic/overloaded-529"]
    assert ov.provenance.source == "simulator"
    assert ov.provenance_text().startswith(f"simulator {ov.provenance.simulator_version}")
    assert f"seed {ov.provenance.seed}" in ov.provenance_text()


def test_report_from_a_subset_has_tables_images_links_and_provenance(tmp_path: Path) -> None:
    notebook = ROOT / "notebooks" / "00_quickstart.py"
    index, reports, runs = run_demo(
        ROOT, build=tmp_path, notebooks=[notebook], cassettes=_subset(), progress=False
    )
    assert index == tmp_path / "report" / "index.html"
    assert [r.ok for r in runs] == [True], runs[0].errors
    executed = tmp_path / "notebooks" / "00_quickstart.ipynb"
    assert executed.is_file()
    page = index.read_text(encoding="utf-8")

    # Summary tables: one row per cassette, with the replayed numbers.
    assert page.count("<table>") == 2
    for name in SUBSET:
        assert f"<code>{name}</code>" in page
    ra = next(r for r in reports if r.name == "openai/retry-after")
    assert f"{ra.retry.p50_s * 1000:,.0f}" in page
    assert "rate_limit&nbsp;1" in page
    assert "auth&nbsp;1" in page

    # Self-contained: every figure is an inline PNG, and there is at least one.
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(runs[0].images) >= 1
    assert len(images) == len(runs[0].images) + 1  # every figure, plus the headline up top
    assert images[0] == runs[0].images[runs[0].headline]
    assert runs[0].headline > 0, "00 tags its headline chart, which is not its first figure"

    # Layout: summary and headline charts first, the catalogue after them and collapsible.
    assert page.index("Notebooks at a glance") < page.index("<details>") < page.index("<table>")
    assert '<a href="#00_quickstart">' in page
    assert 'id="00_quickstart"' in page
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'src="(?!data:)', page), "no external resources"

    # The executed notebook is linked, relative to the report.
    link = re.search(r'href="([^"]+\.ipynb)"', page)
    assert link is not None
    assert (index.parent / link.group(1)).resolve() == executed.resolve()
    assert "Quickstart" in page

    # Provenance of each cassette.
    for r in reports:
        assert r.provenance_text() in page
    assert "scenario retry-after-then-ok, seed 7" in page
    assert "never presented as live traffic" in page


def test_report_marks_a_failing_notebook(tmp_path: Path) -> None:
    bad = tmp_path / "nb" / "99_broken.py"
    bad.parent.mkdir()
    bad.write_text(
        "# %% [markdown]\n# # Broken\n\n# %%\nraise RuntimeError('boom')\n", encoding="utf-8"
    )
    _, _, runs = run_demo(
        ROOT, build=tmp_path / "build", notebooks=[bad], cassettes=[], progress=False
    )
    assert runs[0].errors
    assert "boom" in " ".join(runs[0].errors)
    page = (tmp_path / "build" / "report" / "index.html").read_text(encoding="utf-8")
    assert "FAILED" in page
    assert "boom" in page


def test_write_report_escapes_text(tmp_path: Path) -> None:
    reports = summarize_cassettes(_subset()[:1])
    index = write_report(tmp_path, reports, [])
    page = index.read_text(encoding="utf-8")
    assert "<script" not in page
    assert page.startswith("<!doctype html>")


def test_demo_command_without_notebooks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _fake_root(tmp_path)
    code = main(["demo", "--root", str(root), "--no-notebooks", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    for name in SUBSET:
        assert name in out
    assert f"report: {root / 'build' / 'report' / 'index.html'}" in out
    assert (root / "build" / "report" / "index.html").is_file()


def test_demo_command_errors_are_one_line_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _fake_root(tmp_path)
    assert main(["demo", "--root", str(root), "--notebook", "nope", "--quiet"]) == 2
    assert "no notebook matches" in capsys.readouterr().err
    corrupt = root / "cassettes" / "openai" / "retry-after.yaml"
    corrupt.write_text("llmkit: [not, a, mapping\n", encoding="utf-8")
    assert main(["demo", "--root", str(root), "--no-notebooks", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmkit demo: error:")
    assert len(err.strip().splitlines()) == 1


def test_importing_report_and_charts_does_not_import_pandas_or_matplotlib() -> None:
    code = (
        "import sys, llmkit.report, llmkit.charts, llmkit.cli; "
        "bad = [m for m in ('pandas', 'matplotlib', 'jupytext', 'nbclient') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)  # noqa: S603


def test_notebook_intro_renders_inline_markdown_safely() -> None:
    from llmkit.report.page import _inline_markdown

    out = _inline_markdown("**The failure.** a `429` is *not* final <script>alert(1)</script>")
    assert out.startswith("<b>The failure.</b> a <code>429</code> is <em>not</em> final")
    assert "<script>" not in out
    assert "&lt;script&gt;" in out


def test_a_cassette_recorded_through_a_fallback_says_what_its_row_means(tmp_path: Path) -> None:
    pair = ROOT / "cassettes" / "mixed" / "fallback-pair.yaml"
    (report,) = summarize_cassettes([pair])
    assert report.retry.successes == 0  # the primary's retries alone
    assert report.full is not None
    assert report.full.successes == report.full.calls == report.retry.calls
    page = write_report(tmp_path, [report], []).read_text(encoding="utf-8")
    assert "Recorded through a fallback" in page
    assert "--policy full" in page
    assert f"{report.full.successes} of {report.full.calls} succeed" in page
    (plain,) = summarize_cassettes(_subset()[:1])
    assert plain.full is None


def test_a_short_lead_keeps_the_list_it_introduces() -> None:
    from llmkit.report.notebooks import _lead
    from llmkit.report.page import _paragraphs

    paras = ["**The production failures.**", "1. *The tail.* slow\n2. *The storm.* 429s", "x"]
    lead = _lead(paras)
    assert lead == f"{paras[0]}\n\n{paras[1]}"
    out = _paragraphs(lead)
    assert out.startswith("<p><b>The production failures.</b></p><ol><li><em>The tail.</em>")
    assert out.count("<li>") == 2
    from llmkit.report import NotebookRun
    from llmkit.report.page import _headline_card

    card = _headline_card(NotebookRun(Path("06_x.py"), Path("06_x.ipynb"), summary=lead))
    assert "<b>The production failures.</b> <em>The tail.</em> slow" in card
    assert " 1." not in card
    long_first = ["A whole first paragraph that says enough on its own to stand alone.", "next"]
    assert _lead(long_first) == long_first[0]


def test_demo_root_is_used_as_given_or_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An explicit --root is never swapped for the checkout the command happens to run in.
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    assert main(["demo", "--root", str(empty), "--no-notebooks", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err
    assert "no cassettes/" in err
    assert len(err.strip().splitlines()) == 1


def test_demo_from_an_installed_package_says_how_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import llmkit.charts

    # As from site-packages: no clone above the cwd, and no cassettes beside the package.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(llmkit.charts, "find_root", lambda start=None: tmp_path)
    assert main(["demo", "--no-notebooks", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "run it in a clone" in err
    assert "--root" in err
    assert len(err.strip().splitlines()) == 1


def test_notebook_kernels_start_and_stop_without_warnings(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from llmkit.report import execute_notebook

    source = tmp_path / "tiny.py"
    source.write_text("# %% [markdown]\n# # Tiny\n\n# %%\nprint(6 * 7)\n", encoding="utf-8")
    run = execute_notebook(source, tmp_path / "out", timeout=60)
    assert run.ok, run.errors
    assert "42" in (tmp_path / "out" / "tiny.ipynb").read_text(encoding="utf-8")
    err = capfd.readouterr().err
    # the kernel talks over a Unix socket (no "TCP without encryption" warning) and is shut
    # down before the run returns (no "Parent appears to have exited" once we exit)
    assert "WARNING" not in err, err
