"""A long-running generation job API (create → poll → download), sans-IO, behind ``llmkit.Client``.

The shape video and animation providers share: ``POST /videos/generations`` answers
``{"request_id": ...}`` (xAI's recorded submit), ``GET /videos/{id}`` reports ``status``
(``queued`` / ``in_progress`` with ``progress`` / ``completed`` / ``failed`` with ``error``,
as OpenAI's retired Videos API did) and ``GET /videos/{id}/content`` downloads the result.

Each of the three is one ordinary client call (deadline, retries, telemetry). The operation is
chosen by ``extra["op"]`` (``create``, ``retrieve``, ``content``) and ``extra["job_id"]``;
:meth:`VideoJobsAdapter.request` builds those requests. ``ChatResponse.text`` carries the job
as JSON (read it with :func:`job_status`) or, for ``content``, the downloaded bytes in base64
(:func:`content_bytes`). ``extra["idempotency_key"]`` on a create is sent as
``Idempotency-Key``: a create retried after a lost answer returns the job already started.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import httpx

from llmkit.errors import InvalidResponseError, LLMError
from llmkit.providers.base import StreamParser, json_body, request_id
from llmkit.providers.openai_errors import classify_openai
from llmkit.providers.openai_images import json_request_with_key
from llmkit.providers.wire import join_url
from llmkit.secrets import APIKey
from llmkit.types import ChatRequest, ChatResponse, Message

__all__ = ["JobStatus", "VideoJobsAdapter", "content_bytes", "job_status", "poll_after"]

_STATES = frozenset({"queued", "in_progress", "completed", "failed"})


@dataclass(frozen=True, slots=True)
class JobStatus:
    id: str
    status: str
    """``queued``, ``in_progress``, ``completed`` or ``failed``."""
    progress: int = 0
    error_code: str | None = None
    error_message: str | None = None


class VideoJobsAdapter:
    """``Client(adapter=VideoJobsAdapter(), ...)``; build calls with :meth:`request`."""

    def __init__(self, name: str = "openai", default_base_url: str = "https://api.x.ai/v1") -> None:
        self.name = name
        self.default_base_url = default_base_url

    @staticmethod
    def request(
        op: str,
        *,
        model: str = "sim-video-1",
        prompt: str = "",
        job_id: str | None = None,
        idempotency_key: str | None = None,
        tags: dict[str, str] | None = None,
        **fields: Any,
    ) -> ChatRequest:
        """The neutral request for one operation of the job API."""
        if op not in ("create", "retrieve", "content"):
            raise ValueError(f"unknown job operation {op!r}")
        if op != "create" and not job_id:
            raise ValueError(f"{op} needs a job_id")
        extra: dict[str, Any] = {"op": op, **fields}
        if job_id:
            extra["job_id"] = job_id
        if idempotency_key:
            extra["idempotency_key"] = idempotency_key
        msgs = (Message("user", prompt),) if prompt else ()
        return ChatRequest(model=model, messages=msgs, extra=extra, tags=tags or {})

    def build_request(
        self, request: ChatRequest, *, base_url: str, api_key: APIKey | None
    ) -> httpx.Request:
        extra = dict(request.extra)
        op = extra.pop("op", "create")
        job_id = extra.pop("job_id", None)
        key = extra.pop("idempotency_key", None)
        if op == "create":
            prompt = request.messages[-1].content if request.messages else ""
            body = {"model": request.model, "prompt": prompt, **extra}
            url = join_url(base_url, "/videos/generations")
            return json_request_with_key("POST", url, body, api_key=api_key, key=key)
        path = f"/videos/{job_id}" + ("/content" if op == "content" else "")
        return json_request_with_key(
            "GET", join_url(base_url, path), None, api_key=api_key, key=None
        )

    def parse_response(self, response: httpx.Response) -> ChatResponse:
        req = response.request
        rid = request_id(response.headers)
        if req.method == "GET" and req.url.path.endswith("/content"):
            data = response.content
            if not data:
                raise self._invalid("job content is empty", response)
            text = base64.b64encode(data).decode()
            return ChatResponse(text=text, model=None, provider=self.name, request_id=rid)
        body = json_body(response, self.name)
        if not isinstance(body, dict):
            raise self._invalid("job response is not a JSON object", response)
        if req.method == "POST":
            job_id = body.get("request_id") or body.get("id")
            if not isinstance(job_id, str) or not job_id:
                raise self._invalid("job create response has no request_id", response)
            out: dict[str, Any] = {"id": job_id, "status": "queued", "progress": 0}
        else:
            status = body.get("status")
            if status not in _STATES or not isinstance(body.get("id"), str):
                raise self._invalid("job status response has no id or a bad status", response)
            out = {"id": body["id"], "status": status, "progress": body.get("progress") or 0}
            err = body.get("error")
            if isinstance(err, dict):
                out["error"] = {"code": err.get("code"), "message": err.get("message")}
        return ChatResponse(
            text=json.dumps(out),
            model=body.get("model") if isinstance(body.get("model"), str) else None,
            provider=self.name,
            id=out["id"],
            finish_reason=out["status"],
            request_id=rid,
        )

    def classify(self, response: httpx.Response) -> LLMError:
        return classify_openai(response, self.name)

    def stream_parser(self, response: httpx.Response) -> StreamParser:
        raise NotImplementedError("the job API does not stream")

    def _invalid(self, message: str, response: httpx.Response) -> InvalidResponseError:
        return InvalidResponseError(
            message,
            provider=self.name,
            status=response.status_code,
            request_id=request_id(response.headers),
        )


def job_status(response: ChatResponse) -> JobStatus:
    """The job a create or retrieve call returned (an answer of :class:`VideoJobsAdapter`;
    anything else is an :class:`InvalidResponseError`)."""
    try:
        data = json.loads(response.text)
        err = data.get("error") or {}
        return JobStatus(
            id=data["id"],
            status=data["status"],
            progress=int(data.get("progress") or 0),
            error_code=err.get("code"),
            error_message=err.get("message"),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidResponseError(
            "not a job status (read it from a VideoJobsAdapter answer)",
            provider=response.provider,
        ) from exc


def poll_after(response: ChatResponse) -> float | None:
    """Seconds the provider asks to wait before polling again (``openai-poll-after-ms``, as
    the OpenAI SDKs' ``poll`` honours), or None when it gave no usable hint."""
    raw = (response.headers or {}).get("openai-poll-after-ms")
    try:
        ms = float(raw) if raw is not None else None
    except ValueError:
        return None
    if ms is None or not 0 <= ms < 3_600_000:  # NaN, negative or absurd: no hint
        return None
    return ms / 1000


def content_bytes(response: ChatResponse) -> bytes:
    """The bytes a ``content`` call downloaded."""
    try:
        return base64.b64decode(response.text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidResponseError(
            "job content is not valid base64", provider=response.provider
        ) from exc
