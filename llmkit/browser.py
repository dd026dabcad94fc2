"""A real headless browser check: load a page in the system's Chromium and read its DOM.

One helper for every page llmkit serves or writes (the jobs page, the demo report): Chromium
runs the page's JavaScript for ``budget_ms`` of virtual time, then prints the resulting DOM.
Nothing is downloaded: it uses the ``chromium`` the system package manager installed
(``apt-get install chromium``), with flags that work as root in a container and keep it off
the network (no component updates, sync or background fetches) and a fresh profile each time.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

__all__ = [
    "BrowserUnavailableError",
    "Element",
    "PageCheck",
    "check_file",
    "dump_dom",
    "find_chromium",
    "query",
    "screenshot",
]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
)


class BrowserUnavailableError(RuntimeError):
    """No Chromium on this machine (install the system package; nothing is downloaded)."""


def find_chromium() -> str | None:
    """The Chromium executable (``LLMKIT_CHROMIUM`` overrides), or None."""
    env = os.environ.get("LLMKIT_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(args: list[str], timeout: float) -> str:
    return _run_full(args, timeout)[0]


def _run_full(args: list[str], timeout: float) -> tuple[str, str]:
    """Chromium's (stdout, stderr) for ``args``."""
    exe = find_chromium()
    if exe is None:
        raise BrowserUnavailableError("no chromium found: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="llmkit-chromium-") as profile:
        cmd = [exe, *_FLAGS, f"--user-data-dir={profile}", *args]
        done = subprocess.run(  # noqa: S603 - fixed executable and flags
            cmd, capture_output=True, text=True, timeout=timeout, check=False
        )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"chromium exited with {done.returncode}: {' | '.join(tail)}")
    return done.stdout, done.stderr


def dump_dom(url: str, *, budget_ms: int = 5000, timeout: float = 90.0) -> str:
    """The page's DOM after its scripts ran for ``budget_ms`` of (virtual) time."""
    return _run([f"--virtual-time-budget={budget_ms}", "--dump-dom", url], timeout)


def screenshot(
    url: str, path: str | Path, *, size: tuple[int, int] = (1200, 800), budget_ms: int = 5000
) -> Path:
    out = Path(path).resolve()
    _run(
        [
            f"--virtual-time-budget={budget_ms}",
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={out}",
            url,
        ],
        90.0,
    )
    return out


class Element:
    """A tag from a dumped DOM: ``tag``, ``attrs`` and its direct ``text``."""

    __slots__ = ("attrs", "tag", "text")

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.text = ""

    def __repr__(self) -> str:
        return f"Element({self.tag!r}, {self.attrs!r})"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(el)
        if tag not in {"img", "br", "meta", "link", "input", "hr"}:
            self._open.append(el)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1].text += data


def query(dom: str, tag: str, **attrs: str | None) -> list[Element]:
    """Elements of ``tag`` whose attributes match (``None``: present with any value)."""
    parser = _Collect()
    parser.feed(dom)
    out = []
    for el in parser.elements:
        if el.tag != tag:
            continue
        if all(
            (k.replace("_", "-") in el.attrs)
            if v is None
            else el.attrs.get(k.replace("_", "-")) == v
            for k, v in attrs.items()
        ):
            out.append(el)
    return out


# ------------------------------------------------------------------ a whole page, checked

_PROBE = "/__llmkit_check__.html"
_PROBE_SCRIPT = """<script>
(async () => {
  if (document.readyState !== "complete") {
    await new Promise(done => window.addEventListener("load", done));
  }
  const images = [...document.images];  // loaded (or failed) by the time "load" fires
  const out = document.createElement("pre");
  out.id = "llmkit-check";
  out.textContent = JSON.stringify({
    images: images.length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0))
      .map(i => i.alt || i.src.slice(0, 60)),
    scrollWidth: document.documentElement.scrollWidth,
    headings: [...document.querySelectorAll("h1,h2,h3")].map(h => h.id || h.textContent.trim()),
  });
  document.body.appendChild(out);
})();
</script>"""
"""Appended to the page as served to the check (never to the file): once the page has loaded
(every image fetched and decoded, or failed), it writes what it found into the DOM that
Chromium dumps."""
_CONSOLE = re.compile(r":(?:INFO|WARNING|ERROR):CONSOLE[^\]]*\]\s*(.*)")


@dataclass(frozen=True, slots=True)
class PageCheck:
    """What a real Chromium saw of a page at a given window width."""

    images: int
    broken_images: tuple[str, ...]
    """Images that did not decode (their alt text)."""
    scroll_width: int
    """The page's full width in CSS pixels: more than the window means a horizontal scroll."""
    width: int
    headings: tuple[str, ...]
    """Ids (or texts) of the page's h1-h3, in order."""
    console: tuple[str, ...]
    """Console messages the page logged (errors included)."""

    @property
    def fits(self) -> bool:
        return self.scroll_width <= self.width


@contextmanager
def _serve(directory: Path, probe: bytes) -> Iterator[str]:
    """``directory`` over HTTP on 127.0.0.1; ``_PROBE`` answers ``probe`` (the page with the
    check appended), so the page loads as it would from a server, relative links included."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == _PROBE:
                body = probe
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def check_file(
    path: str | Path,
    *,
    size: tuple[int, int] = (1280, 800),
    screenshot_to: str | Path | None = None,
    budget_ms: int = 10000,
) -> PageCheck:
    """Load a written page (``build/report/index.html``) in Chromium at ``size`` and report
    its images (decoded or not), width, headings and console messages; optionally keep a
    screenshot of its first screen. Served on 127.0.0.1 so the probe and the page share an
    origin; nothing leaves the machine."""
    page = Path(path).resolve()
    width, height = size
    probe = page.read_bytes() + _PROBE_SCRIPT.encode()
    with _serve(page.parent, probe) as base:
        dom, err = _run_full(
            ["--enable-logging=stderr", "--v=0", f"--virtual-time-budget={budget_ms}",
             f"--window-size={width},{height}", "--dump-dom", base + _PROBE],
            120.0,
        )  # fmt: skip
        if screenshot_to is not None:
            screenshot(f"{base}/{page.name}", screenshot_to, size=size, budget_ms=budget_ms)
    found = [el for el in query(dom, "pre", id="llmkit-check")]
    if not found:
        raise RuntimeError("the page did not finish loading in the browser")
    data = json.loads(found[0].text)
    return PageCheck(
        images=int(data["images"]),
        broken_images=tuple(data["broken"]),
        scroll_width=int(data["scrollWidth"]),
        width=width,
        headings=tuple(data["headings"]),
        console=tuple(m for m in _CONSOLE.findall(err)),
    )
