"""The demo report in a real headless Chromium (the system's; nothing is downloaded): it loads
without console messages, every image decodes, it fits a 1280-px window, and every notebook has
its section with its charts. The same check, on a page built to fail it, reports each fault."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from llmkit.browser import check_file, find_chromium
from llmkit.report import execute_notebook, summarize_cassettes, write_report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    if find_chromium() is None:
        if os.environ.get("LLMKIT_REQUIRE_BROWSER") == "1":
            pytest.fail("LLMKIT_REQUIRE_BROWSER=1 but no chromium is installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")


NOTEBOOK = """# %% [markdown]
# # Two charts
#
# A notebook with a headline chart and a second one.

# %% tags=["headline"]
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(9, 3))
ax.plot([1, 3, 2])
plt.show()

# %%
fig, ax = plt.subplots(figsize=(9, 3))
ax.bar(["a", "b"], [2, 1])
plt.show()
"""


def test_the_report_passes_in_a_real_browser(tmp_path: Path) -> None:
    source = tmp_path / "01_two_charts.py"
    source.write_text(NOTEBOOK, encoding="utf-8")
    run = execute_notebook(source, tmp_path / "notebooks", timeout=120)
    assert run.ok, run.errors
    cassettes = sorted((ROOT / "cassettes").rglob("*.yaml"))
    index = write_report(tmp_path / "report", summarize_cassettes(cassettes), [run])
    shot = tmp_path / "report" / "first-screen.png"
    seen = check_file(index, screenshot_to=shot)
    assert seen.console == ()
    assert seen.broken_images == ()
    assert seen.images == 1 + len(run.images)  # the headline card and every figure
    assert seen.fits, f"{seen.scroll_width} px wide in a {seen.width} px window"
    assert "01_two_charts" in seen.headings  # the notebook's own section
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_report_of_many_megabytes_is_checked_whole(tmp_path: Path) -> None:
    # The real report holds ~50 inline charts (several MB): the check waits for the page's
    # load, not for a time budget, so a large page is read to its end.
    source = tmp_path / "02_many.py"
    source.write_text(NOTEBOOK, encoding="utf-8")
    run = execute_notebook(source, tmp_path / "notebooks", timeout=120)
    big = dataclasses.replace(run, images=run.images * 120)
    index = write_report(tmp_path / "report", [], [big])
    assert index.stat().st_size > 3_000_000
    seen = check_file(index)
    assert seen.images == 1 + len(big.images)
    assert seen.broken_images == ()
    assert seen.console == ()


def test_the_check_reports_what_is_wrong(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(
        "<!doctype html><html><body><h1 id=top>Bad</h1>"
        '<img alt="not a png" src="data:image/png;base64,AAAA">'
        '<div style="width:3000px">wide</div>'
        '<script>console.error("boom");</script></body></html>',
        encoding="utf-8",
    )
    seen = check_file(page)
    assert seen.broken_images == ("not a png",)
    assert not seen.fits
    assert any("boom" in m for m in seen.console)
    assert seen.headings == ("top",)
