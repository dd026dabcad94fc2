"""Post-processing: check the artifact decodes and has the requested size, then make a
thumbnail and a contact sheet of its frames (Pillow).

A failure here is the job's own state (``post_process_failed``) with the reason, not a
provider failure: the artifact is already stored, so fixing the cause and retrying never calls
(or bills) the provider again.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageSequence, UnidentifiedImageError

__all__ = ["PostProcessError", "Rendered", "render"]

THUMB = 128
"""Thumbnail's longest side, pixels."""


class PostProcessError(ValueError):
    """The artifact failed a check (does not decode, wrong size)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    thumbnail: bytes
    """PNG, longest side :data:`THUMB`."""
    contact_sheet: bytes
    """PNG: up to 8 frames side by side (one frame for a still image)."""
    frames: int
    size: tuple[int, int]
    media_type: str


def render(data: bytes, expected: tuple[int, int]) -> Rendered:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PostProcessError(f"artifact does not decode as an image ({exc})") from exc
    if img.size != expected:
        raise PostProcessError(
            f"artifact is {img.size[0]}x{img.size[1]}, not {expected[0]}x{expected[1]}"
        )
    media_type = Image.MIME.get(img.format or "", "application/octet-stream")
    frames = [f.convert("RGB") for f in ImageSequence.Iterator(img)]
    if len(frames) > 8:
        step = len(frames) / 8
        frames = [frames[int(i * step)] for i in range(8)]
    thumb = frames[0].copy()
    thumb.thumbnail((THUMB, THUMB))
    cell = thumb.size
    sheet = Image.new("RGB", (cell[0] * len(frames), cell[1]), (255, 255, 255))
    for i, frame in enumerate(frames):
        small = frame.copy()
        small.thumbnail(cell)
        sheet.paste(small, (i * cell[0], 0))
    return Rendered(_png(thumb), _png(sheet), len(frames), img.size, media_type)


def _png(img: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")  # type: ignore[attr-defined]
    return out.getvalue()
