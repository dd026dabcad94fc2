"""Content-addressed artifact storage: a file appears whole or not at all.

``put`` writes to a temporary file in ``tmp/`` (same filesystem), fsyncs it, renames it to
``objects/<sha256[:2]>/<sha256>`` and fsyncs the directory; only then is the metadata file
(``<sha256>.json``: job, provider, model, prompt hash — not the prompt unless configured —
size, checksum, media type) is written the same way just before, so an object is never visible
without it. A worker killed at any point leaves at most a
temporary file nobody reads; writing the same bytes again is a no-op, so a resumed stage is
idempotent. :meth:`ArtifactStore.audit` checks every visible object against its name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ArtifactStore", "AuditReport"]


@dataclass(frozen=True, slots=True)
class AuditReport:
    objects: int
    half_written: tuple[str, ...]
    """Visible objects whose bytes do not hash to their name, or lack their metadata."""
    temporary: int
    """Leftover temporary files (invisible; a crash mid-write leaves these)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(target: Path, data: bytes, tmp_dir: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=target.name[:16] + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


class ArtifactStore:
    def __init__(self, root: str | Path, *, keep_prompt: bool = False) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.keep_prompt = keep_prompt

    def path(self, sha: str) -> Path:
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError("not a sha256 hex digest")
        return self.objects / sha[:2] / sha

    def put(self, data: bytes, meta: Mapping[str, Any], *, prompt: str | None = None) -> str:
        """Store ``data`` and its metadata; returns its sha256. Idempotent."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        target.parent.mkdir(exist_ok=True)
        info = {**meta, "sha256": sha, "size": len(data)}
        if self.keep_prompt and prompt is not None:
            info["prompt"] = prompt
        meta_path = target.with_name(sha + ".json")
        if not meta_path.exists():  # metadata first: the object's rename is the commit point
            _atomic_write(meta_path, json.dumps(info, sort_keys=True).encode(), self.tmp)
        if not (target.exists() and target.stat().st_size == len(data)):
            _atomic_write(target, data, self.tmp)
        return sha

    def get(self, sha: str) -> bytes:
        return self.path(sha).read_bytes()

    def meta(self, sha: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.path(sha).with_name(sha + ".json").read_text())
        return data

    def _visible(self) -> Iterator[Path]:
        for sub in sorted(self.objects.iterdir()):
            for p in sorted(sub.iterdir()):
                if p.suffix != ".json":
                    yield p

    def audit(self) -> AuditReport:
        bad: list[str] = []
        n = 0
        for p in self._visible():
            n += 1
            meta = p.with_name(p.name + ".json")
            if hashlib.sha256(p.read_bytes()).hexdigest() != p.name or not meta.exists():
                bad.append(p.name)
        return AuditReport(n, tuple(bad), sum(1 for _ in self.tmp.iterdir()))
