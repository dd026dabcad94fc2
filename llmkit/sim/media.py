"""The simulator's media endpoints: OpenAI's Images API and a create → poll → download job API.

``POST /v1/images/generations`` answers like OpenAI's Images API (``data[].b64_json``,
``usage``, the echoed ``size``/``output_format``/``quality``) with a real PNG (or JPEG/WebP)
that Pillow draws from the prompt and the scenario seed: the same request gives the same bytes.

``POST /v1/videos/generations`` starts a generation job and answers ``{"request_id": ...}``
(the shape of xAI's recorded submit); ``GET /v1/videos/{id}`` reports the job the way OpenAI's
Videos API did (``status`` ``queued`` / ``in_progress`` with ``progress`` / ``completed`` /
``failed`` with ``error``); ``GET /v1/videos/{id}/content`` downloads the result: a short
**animated GIF** the simulator renders (labelled ``image/gif``; it is not a video codec).
``GET /v1/videos`` lists every job, which is how a benchmark counts generations per prompt.

Both creates honour an ``Idempotency-Key`` header: the same key returns the same image or the
same job instead of starting (and billing) a second generation.

Faults: the scenario's fault rules apply to every media request exactly as to chat (429 with
retry-after, 5xx, hangs, resets, content-policy refusals). Job-level faults are asked for in
the prompt, so a test can pick them: ``[fail-midway]`` (the job fails at 50%),
``[never-finish]`` (it stays ``in_progress``), ``[cut-download]`` (the first download is cut
halfway), ``[refuse]`` (the create is refused by moderation).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmkit.sim.faults import Fault
from llmkit.sim.wire import openai as openai_wire
from llmkit.sim.wire.common import Ctx, Reply

__all__ = ["JOB_SECONDS", "Cut", "MediaSim", "is_media_path", "render_frames", "render_image"]

JOB_SECONDS = 2.0
"""Simulated seconds a generation job takes from create to completed."""

_IMAGE_MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-2", "dall-e-2", "dall-e-3")
_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_MAX_SIDE = 3840


def is_media_path(path: str) -> bool:
    return path.startswith(("/v1/images/", "/v1/videos"))


def _palette(prompt: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}\0{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def render_image(prompt: str, size: tuple[int, int], seed: int, fmt: str = "png") -> bytes:
    """A deterministic picture for ``prompt``: a background and a few shapes, drawn by Pillow."""
    from PIL import Image, ImageDraw  # noqa: PLC0415 - Pillow only when media is asked for

    rng = _palette(prompt, seed)
    w, h = size
    img = Image.new("RGB", size, tuple(rng.randrange(40, 200) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(w // 8, w // 2 + 2), y0 + rng.randrange(h // 8, h // 2 + 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    out = io.BytesIO()
    img.save(out, format=_FORMATS.get(fmt, "PNG"))
    return out.getvalue()


def render_frames(prompt: str, size: tuple[int, int], seed: int, frames: int = 8) -> bytes:
    """A short animated GIF for ``prompt``: a ball crossing a seeded background."""
    from PIL import Image, ImageDraw  # noqa: PLC0415 - Pillow only when media is asked for

    rng = _palette(prompt, seed)
    w, h = size
    bg = tuple(rng.randrange(40, 200) for _ in range(3))
    fg = tuple(rng.randrange(256) for _ in range(3))
    r = max(4, min(w, h) // 8)
    images = []
    for i in range(frames):
        img = Image.new("RGB", size, bg)
        x = r + (w - 2 * r) * i // max(1, frames - 1)
        ImageDraw.Draw(img).ellipse((x - r, h // 2 - r, x + r, h // 2 + r), fill=fg)
        images.append(img)
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return out.getvalue()


def _size(value: Any, default: str) -> tuple[int, int] | None:
    text = default if value in (None, "auto") else value
    if not isinstance(text, str) or "x" not in text:
        return None
    a, _, b = text.partition("x")
    if not (a.isdigit() and b.isdigit()):
        return None
    w, h = int(a), int(b)
    if not (16 <= w <= _MAX_SIDE and 16 <= h <= _MAX_SIDE):
        return None
    return w, h


@dataclass(frozen=True, slots=True)
class Cut:
    """A download whose connection is cut after half of ``reply``'s body has gone out."""

    reply: Reply


@dataclass(slots=True)
class _Job:
    id: str
    model: str
    prompt: str
    size: tuple[int, int]
    created: float
    """Simulator time of the create."""
    created_wall: int
    fate: str = "ok"
    downloads: int = 0


@dataclass(slots=True)
class _State:
    jobs: dict[str, _Job] = field(default_factory=dict)
    job_keys: dict[str, str] = field(default_factory=dict)
    image_keys: dict[str, bytes] = field(default_factory=dict)
    generations: int = 0
    by_prompt: dict[str, int] = field(default_factory=dict)
    """Generations started per prompt sha256 (how duplicates are counted)."""


class MediaSim:
    """The media endpoints of one :class:`~llmkit.sim.core.Simulator` (state lives here)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._state = _State()

    @property
    def generations(self) -> int:
        """Generations started (images drawn plus jobs created); idempotent replays excluded."""
        return self._state.generations

    def generations_by_prompt(self) -> dict[str, int]:
        """Generations started per prompt (sha256 hex): more than one is a duplicate."""
        with self._lock:
            return dict(self._state.by_prompt)

    def _started(self, prompt: str) -> None:
        h = hashlib.sha256(prompt.encode()).hexdigest()
        self._state.generations += 1
        self._state.by_prompt[h] = self._state.by_prompt.get(h, 0) + 1

    def handle(
        self,
        ctx: Ctx,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        t: float,
        fault: Fault | None,
        retry_after: float | None,
    ) -> Reply | Fault | Cut:
        """A reply, a transport fault (hang/reset) or a cut download for the core to play."""
        ctx.request_id = f"req_{ctx.rng.getrandbits(64):016x}"
        h = tuple(openai_wire.headers(ctx))
        method = method.upper()
        creates = method == "POST"
        if fault is not None and (creates or fault not in (Fault.CONTENT_FILTER,)):
            if fault in (Fault.HANG, Fault.RESET, Fault.STALL, Fault.RESET_MIDSTREAM):
                return Fault.RESET if fault is Fault.RESET_MIDSTREAM else fault
            if fault in (Fault.TRUNCATE, Fault.MALFORMED_JSON, Fault.MIDSTREAM_ERROR):
                fault = Fault.SERVER_ERROR
            if fault is Fault.CONTENT_FILTER:
                return _moderation(h)
            ctx.retry_after = retry_after
            return openai_wire.error(ctx, fault)
        if path == "/v1/images/generations" and creates:
            return self._image(ctx, headers, body, h)
        if path == "/v1/videos/generations" and creates:
            return self._create_job(ctx, headers, body, h, t)
        if method == "GET" and path == "/v1/videos":
            return self._list(h, t)
        if method == "GET" and path.startswith("/v1/videos/"):
            rest = path[len("/v1/videos/") :]
            job_id, _, tail = rest.partition("/")
            job = self._state.jobs.get(job_id)
            if job is None:
                return _error(404, f"No video found with id '{job_id}'.", "not_found", h)
            if tail == "":
                view = self._view(job, t)
                if view["status"] in ("queued", "in_progress"):
                    # As OpenAI's job APIs do: when to look again, in milliseconds.
                    h = (*h, ("openai-poll-after-ms", str(_poll_after_ms(job, t))))
                return Reply(200, json.dumps(view).encode(), h)
            if tail == "content":
                return self._content(job, t, h)
        return openai_wire.not_found(ctx, method, path)

    # ----------------------------------------------------------------------------- images

    def _image(self, ctx: Ctx, headers: Mapping[str, str], body: bytes, h: Any) -> Reply:
        data = _json(body)
        if isinstance(data, Reply):
            return Reply(data.status, data.body, h)
        prompt, model = data.get("prompt"), data.get("model", "dall-e-2")
        if not isinstance(prompt, str) or not prompt.strip():
            return _error(400, "Missing required parameter: 'prompt'.", "missing_required", h)
        if model not in _IMAGE_MODELS:
            return _error(400, f"Invalid model '{model}'.", "invalid_value", h, "model")
        size = _size(data.get("size"), "1024x1024")
        if size is None:
            return _error(400, f"Invalid size '{data.get('size')}'.", "invalid_value", h, "size")
        fmt = data.get("output_format", "png")
        if fmt not in _FORMATS:
            return _error(400, f"Invalid output_format '{fmt}'.", "invalid_value", h)
        if "[refuse]" in prompt:
            return _moderation(h)
        key = _header(headers, "idempotency-key")
        with self._lock:
            cached = self._state.image_keys.get(key) if key else None
            if cached is None:
                self._started(prompt)
        if cached is not None:
            return Reply(200, cached, h)
        picture = render_image(prompt, size, self.seed, fmt)
        tokens = max(1, len(prompt) // 4)
        out = {
            "created": ctx.created,
            "background": "opaque",
            "data": [{"b64_json": base64.b64encode(picture).decode()}],
            "output_format": fmt,
            "quality": data.get("quality", "auto"),
            "size": f"{size[0]}x{size[1]}",
            "usage": {
                "input_tokens": tokens,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": tokens},
                "output_tokens": 272,
                "total_tokens": tokens + 272,
            },
        }
        raw = json.dumps(out).encode()
        if key:
            with self._lock:
                self._state.image_keys[key] = raw
        return Reply(200, raw, h)

    # ------------------------------------------------------------------------------- jobs

    def _create_job(
        self, ctx: Ctx, headers: Mapping[str, str], body: bytes, h: Any, t: float
    ) -> Reply:
        data = _json(body)
        if isinstance(data, Reply):
            return Reply(data.status, data.body, h)
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return _error(400, "Missing required parameter: 'prompt'.", "missing_required", h)
        size = _size(data.get("size"), "256x256")
        if size is None:
            return _error(400, f"Invalid size '{data.get('size')}'.", "invalid_value", h, "size")
        if "[refuse]" in prompt:
            return _moderation(h)
        key = _header(headers, "idempotency-key")
        with self._lock:
            existing = self._state.job_keys.get(key) if key else None
            if existing is None:
                job_id = (  # a key gives a stable id (a recorded workload can name it)
                    "vid_" + hashlib.sha256(key.encode()).hexdigest()[:24]
                    if key
                    else f"vid_{ctx.rng.getrandbits(96):024x}"
                )
                fate = "ok"
                for marker in ("fail-midway", "never-finish", "cut-download"):
                    if f"[{marker}]" in prompt:
                        fate = marker
                model = str(data.get("model", "sim-video-1"))
                job = _Job(job_id, model, prompt, size, t, int(ctx.wall), fate)
                self._state.jobs[job_id] = job
                self._started(prompt)
                if key:
                    self._state.job_keys[key] = job_id
                existing = job_id
        return Reply(200, json.dumps({"request_id": existing}).encode(), h)

    def _view(self, job: _Job, t: float) -> dict[str, Any]:
        age = t - job.created
        progress = min(100, max(0, int(100 * age / JOB_SECONDS)))
        status = "queued" if age < JOB_SECONDS * 0.1 else "in_progress"
        error = None
        if job.fate == "fail-midway" and progress >= 50:
            status, progress = "failed", 50
            error = {"code": "generation_failed", "message": "The generation failed midway."}
        elif job.fate == "never-finish":
            progress = min(progress, 99)
        elif progress >= 100:
            status = "completed"
        out: dict[str, Any] = {
            "id": job.id,
            "object": "video",
            "model": job.model,
            "status": status,
            "progress": progress,
            "size": f"{job.size[0]}x{job.size[1]}",
            "prompt": job.prompt,
            "created_at": job.created_wall,
            "completed_at": job.created_wall + int(JOB_SECONDS) if status == "completed" else None,
        }
        if error is not None:
            out["error"] = error
        return out

    def _content(self, job: _Job, t: float, h: Any) -> Reply | Cut:
        view = self._view(job, t)
        if view["status"] != "completed":
            msg = f"Video '{job.id}' is not ready: status {view['status']}."
            return _error(409, msg, "video_not_ready", h)
        with self._lock:
            job.downloads += 1
            first = job.downloads == 1
        gif = render_frames(job.prompt, job.size, self.seed)
        reply = Reply(
            200, gif, (("content-type", "image/gif"), *(x for x in h if x[0] != "content-type"))
        )
        return Cut(reply) if job.fate == "cut-download" and first else reply

    def _list(self, h: Any, t: float) -> Reply:
        with self._lock:
            jobs = list(self._state.jobs.values())
        data = [self._view(j, t) for j in jobs]
        return Reply(
            200, json.dumps({"object": "list", "data": data, "has_more": False}).encode(), h
        )


def _poll_after_ms(job: _Job, t: float) -> int:
    """The poll hint for a job still running: a quarter of the time it has left, between
    250 ms and 1 s (a job that never finishes keeps getting the longest)."""
    left = max(0.0, job.created + JOB_SECONDS - t)
    return int(min(1000, max(250, left * 1000 / 4)))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name:
            return str(v)
    return None


def _json(body: bytes) -> dict[str, Any] | Reply:
    try:
        data = json.loads(body)
    except ValueError:
        return _error(400, "We could not parse the JSON body of your request.", None, ())
    if not isinstance(data, dict):
        return _error(400, "The request body must be a JSON object.", None, ())
    return data


def _error(status: int, message: str, code: str | None, h: Any, param: str | None = None) -> Reply:
    err = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return Reply(status, json.dumps({"error": err}).encode(), tuple(h))


def _moderation(h: Any) -> Reply:
    msg = (
        "Your request was rejected by the safety system. If you believe this is an error, "
        "contact us at help.openai.com and include the request ID. safety_violations=[violence]."
    )
    err = {
        "message": msg,
        "type": "image_generation_user_error",
        "param": None,
        "code": "moderation_blocked",
    }
    return Reply(400, json.dumps({"error": err}).encode(), tuple(h))
