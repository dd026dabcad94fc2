"""The status API (FastAPI) and the jobs page in a real headless Chromium, plus the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from llmkit.browser import BrowserUnavailableError, dump_dom, find_chromium, query
from llmkit.jobs.api import create_app
from llmkit.jobs.queue import JobQueue, JobsConfig
from llmkit.sim.server import SimServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[JobQueue]:
    """A queue whose jobs run inline (huey's immediate mode) against a served simulator."""
    with SimServer("healthy", time_scale=20) as url:
        q = JobQueue(JobsConfig(data_dir=tmp_path, provider_url=url + "/v1", poll_interval=0.05))
        q.huey.immediate = True
        yield q


def test_submit_get_list_download_and_events(queue: JobQueue) -> None:
    client = TestClient(create_app(queue))
    r = client.post("/jobs", json={"prompt": "a fox", "idempotency_key": "fox-1"})
    assert r.status_code == 201
    job = r.json()
    assert job["state"] == "done"
    again = client.post("/jobs", json={"prompt": "a fox", "idempotency_key": "fox-1"})
    assert again.status_code == 200
    assert again.json()["id"] == job["id"]
    got = client.get(f"/jobs/{job['id']}").json()
    assert [t["state"] for t in got["transitions"]][-1] == "done"
    assert client.get("/jobs").json()["data"][0]["id"] == job["id"]
    art = client.get(f"/jobs/{job['id']}/artifacts/artifact")
    assert art.headers["content-type"] == "image/png"
    assert art.content[:4] == b"\x89PNG"
    assert client.get(f"/jobs/{job['id']}/artifacts/thumbnail").status_code == 200
    assert client.get(f"/jobs/{job['id']}/artifacts/secrets").status_code == 404
    assert client.get("/jobs/job_nope").status_code == 404
    assert client.post(f"/jobs/{job['id']}/retry").status_code == 409
    events = client.get("/events", params={"follow": "false"}).text
    states = [
        json.loads(line[6:])["state"] for line in events.splitlines() if line.startswith("data: ")
    ]
    assert states[:2] == ["validated", "queued"]
    assert states[-1] == "done"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "size": "7x7"}, "size"),
        ({"prompt": "x", "kind": "hologram"}, "kind"),
    ],
)
def test_bad_input_is_422_with_field_and_reason_and_creates_nothing(
    queue: JobQueue, body: dict[str, str], field: str
) -> None:
    client = TestClient(create_app(queue))
    r = client.post("/jobs", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", field]
    assert detail["msg"]
    assert queue.store.list() == []
    assert list((queue.config.data_dir / "artifacts" / "objects").iterdir()) == []


def test_the_page_lists_jobs_with_thumbnails_in_a_real_browser(queue: JobQueue) -> None:
    if find_chromium() is None:
        if os.environ.get("LLMKIT_REQUIRE_BROWSER") == "1":
            pytest.fail("LLMKIT_REQUIRE_BROWSER=1 but no chromium is installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    client = TestClient(create_app(queue))
    for prompt in ("a fox", "a wave"):
        kind = "animation" if "wave" in prompt else "image"
        assert client.post("/jobs", json={"prompt": prompt, "kind": kind}).status_code == 201
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(queue), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)  # waiting for a real server thread to bind
        try:
            dom = dump_dom(f"http://127.0.0.1:{port}/")
        except BrowserUnavailableError as exc:
            pytest.fail(str(exc))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert query(dom, "body", data_ready="1")
    rows = query(dom, "tr", data_state="done")
    assert len(rows) == 2
    images = query(dom, "img")
    assert len(images) == 2
    assert all(img.attrs.get("data-loaded") == "1" for img in images)
    assert "2 jobs, 2 done" in query(dom, "p", id="summary")[0].text


def test_cli_refuses_bad_input_with_exit_2_and_reports_status(tmp_path: Path) -> None:
    env = {**os.environ, "LLMKIT_JOBS_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "llmkit", "jobs"]
    bad = subprocess.run(  # noqa: S603
        [*cmd, "submit", "x", "--size", "3x3"], env=env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2
    assert "size: must be one of" in bad.stderr
    assert not (tmp_path / "artifacts" / "objects").exists() or not any(
        (tmp_path / "artifacts" / "objects").iterdir()
    )
    ok = subprocess.run(  # noqa: S603
        [*cmd, "submit", "a boat", "--key", "boat-1"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    job = json.loads(ok.stdout)
    assert job["state"] == "queued"
    assert job["created_now"] is True
    status = subprocess.run(  # noqa: S603
        [*cmd, "status", job["id"]], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(status.stdout)["id"] == job["id"]
    listed = subprocess.run([*cmd, "list"], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    assert job["id"] in listed.stdout
    missing = subprocess.run(  # noqa: S603
        [*cmd, "status", "job_nope"], env=env, capture_output=True, text=True, check=False
    )
    assert missing.returncode == 1


def test_served_sse_streams_state_changes(queue: JobQueue) -> None:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(queue), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)  # waiting for a real server thread to bind
        base = f"http://127.0.0.1:{port}"
        httpx.post(base + "/jobs", json={"prompt": "live"}, timeout=30)
        seen: list[str] = []
        with httpx.stream("GET", base + "/events", timeout=30) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:])["state"])
                if "done" in seen:
                    break
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert seen[0] == "validated"
    assert seen[-1] == "done"
