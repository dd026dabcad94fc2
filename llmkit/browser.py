"""A real headless browser check: load a page in the system's Chromium and read its DOM.

One helper for every page llmkit serves or writes (the jobs page, the demo report): Chromium
runs the page's JavaScript for ``budget_ms`` of virtual time, then prints the resulting DOM.
Nothing is downloaded: it uses the ``chromium`` the system package manager installed
(``apt-get install chromium``), with flags that work as root in a container and keep it off
the network (no component updates, sync or background fetches) and a fresh profile each time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["BrowserUnavailableError", "Element", "dump_dom", "find_chromium", "query", "screenshot"]

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
    return done.stdout


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
