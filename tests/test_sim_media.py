"""The simulator's Images API and generation-job API, in process and over real HTTP."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image

from llmkit.clock import VirtualClock
from llmkit.sim.core import Simulator
from llmkit.sim.faults import Fault, FaultRule
from llmkit.sim.media import JOB_SECONDS
from llmkit.sim.scenarios import get_scenario
from llmkit.sim.server import SimServer

AUTH = {"authorization": "Bearer sim"}


def _post(sim: Simulator, path: str, body: dict[str, object], **headers: str) -> tuple[int, bytes]:
    plan = sim.handle("POST", path, {**AUTH, **headers}, json.dumps(body).encode())
    return plan.status, plan.body


def test_image_is_deterministic_png_of_the_requested_size_with_usage() -> None:
    sim = Simulator("healthy", VirtualClock())
    body = {"model": "gpt-image-1", "prompt": "a red fox", "size": "512x512"}
    status, raw = _post(sim, "/v1/images/generations", body)
    assert status == 200
    data = json.loads(raw)
    assert set(data) >= {"created", "data", "usage", "size", "output_format"}
    assert data["usage"]["input_tokens"] > 0
    assert data["usage"]["output_tokens"] > 0
    img = Image.open(io.BytesIO(base64.b64decode(data["data"][0]["b64_json"])))
    assert img.format == "PNG"
    assert img.size == (512, 512)
    again = Simulator("healthy", VirtualClock())
    assert json.loads(_post(again, "/v1/images/generations", body)[1])["data"] == data["data"]
    other = dict(body, prompt="a blue whale")
    assert json.loads(_post(again, "/v1/images/generations", other)[1])["data"] != data["data"]


def test_idempotency_key_returns_the_same_image_without_a_second_generation() -> None:
    sim = Simulator("healthy", VirtualClock())
    body = {"model": "gpt-image-1", "prompt": "a cat", "size": "256x256"}
    first = _post(sim, "/v1/images/generations", body, **{"idempotency-key": "k1"})
    second = _post(sim, "/v1/images/generations", body, **{"idempotency-key": "k1"})
    assert first == second
    assert sim.media.generations == 1
    _post(sim, "/v1/images/generations", body)
    assert sim.media.generations == 2
    assert list(sim.media.generations_by_prompt().values()) == [2]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "gpt-image-1", "prompt": "x", "size": "9x9"}, "size"),
        ({"model": "nope", "prompt": "x"}, "model"),
    ],
)
def test_bad_image_requests_are_400_with_the_param(body: dict[str, object], param: str) -> None:
    status, raw = _post(Simulator("healthy", VirtualClock()), "/v1/images/generations", body)
    assert status == 400
    assert json.loads(raw)["error"]["param"] == param


def test_refusal_and_injected_faults_use_openai_error_shapes() -> None:
    sim = Simulator("healthy", VirtualClock())
    status, raw = _post(
        sim, "/v1/images/generations", {"model": "gpt-image-1", "prompt": "[refuse]"}
    )
    assert status == 400
    assert json.loads(raw)["error"]["code"] == "moderation_blocked"
    sc = get_scenario("healthy").plus(FaultRule(Fault.RATE_LIMIT, retry_after=2.0))
    plan = Simulator(sc, VirtualClock()).handle(
        "POST", "/v1/images/generations", AUTH, b'{"model":"gpt-image-1","prompt":"x"}'
    )
    assert plan.status == 429
    assert dict(plan.headers)["retry-after"] == "2"
    reset = get_scenario("healthy").plus(FaultRule(Fault.RESET))
    plan = Simulator(reset, VirtualClock()).handle("GET", "/v1/videos/x", AUTH, b"")
    assert plan.abort == "reset"
    assert not plan.headers_sent


def test_job_goes_queued_in_progress_completed_then_downloads_a_gif() -> None:
    clock = VirtualClock()
    sim = Simulator("healthy", clock)
    status, raw = _post(sim, "/v1/videos/generations", {"prompt": "a wave", "size": "128x96"})
    assert status == 200
    job_id = json.loads(raw)["request_id"]
    seen = []
    for _ in range(6):
        view = json.loads(sim.handle("GET", f"/v1/videos/{job_id}", AUTH, b"").body)
        seen.append((view["status"], view["progress"]))
        clock.sleep(JOB_SECONDS / 4)
    assert seen[0] == ("queued", 0)
    assert any(s == "in_progress" and 0 < p < 100 for s, p in seen)
    assert seen[-1] == ("completed", 100)
    plan = sim.handle("GET", f"/v1/videos/{job_id}/content", AUTH, b"")
    assert dict(plan.headers)["content-type"] == "image/gif"
    gif = Image.open(io.BytesIO(plan.body))
    assert gif.size == (128, 96)
    assert gif.n_frames == 8


def test_job_faults_fail_midway_never_finish_and_cut_download() -> None:
    clock = VirtualClock()
    sim = Simulator("healthy", clock)
    ids = {}
    for marker in ("fail-midway", "never-finish", "cut-download"):
        raw = _post(sim, "/v1/videos/generations", {"prompt": f"x [{marker}]"})[1]
        ids[marker] = json.loads(raw)["request_id"]
    clock.sleep(JOB_SECONDS * 10)
    failed = json.loads(sim.handle("GET", f"/v1/videos/{ids['fail-midway']}", AUTH, b"").body)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "generation_failed"
    stuck = json.loads(sim.handle("GET", f"/v1/videos/{ids['never-finish']}", AUTH, b"").body)
    assert stuck["status"] == "in_progress"
    assert stuck["progress"] == 99
    cut = sim.handle("GET", f"/v1/videos/{ids['cut-download']}/content", AUTH, b"")
    assert cut.abort == "reset"
    assert int(dict(cut.headers)["content-length"]) > len(cut.body)
    whole = sim.handle("GET", f"/v1/videos/{ids['cut-download']}/content", AUTH, b"")
    assert whole.abort is None
    assert whole.status == 200


def test_create_with_the_same_key_returns_the_same_job() -> None:
    sim = Simulator("healthy", VirtualClock())
    a = _post(sim, "/v1/videos/generations", {"prompt": "p"}, **{"idempotency-key": "j1"})
    b = _post(sim, "/v1/videos/generations", {"prompt": "p"}, **{"idempotency-key": "j1"})
    assert a == b
    assert sim.media.generations == 1
    listing = json.loads(sim.handle("GET", "/v1/videos", AUTH, b"").body)
    assert len(listing["data"]) == 1


def test_media_endpoints_over_real_http_and_a_cut_download_is_visible() -> None:
    with SimServer("healthy", time_scale=50) as url, httpx.Client(base_url=url, headers=AUTH) as c:
        r = c.post("/v1/images/generations", json={"model": "gpt-image-1", "prompt": "hi"})
        assert r.status_code == 200
        assert r.json()["data"][0]["b64_json"]
        job = c.post("/v1/videos/generations", json={"prompt": "y [cut-download]"}).json()
        status = ""
        for _ in range(200):
            status = c.get(f"/v1/videos/{job['request_id']}").json()["status"]
            if status == "completed":
                break
        assert status == "completed"
        with pytest.raises(httpx.HTTPError):
            c.get(f"/v1/videos/{job['request_id']}/content")
        assert (
            c.get(f"/v1/videos/{job['request_id']}/content").headers["content-type"] == "image/gif"
        )
        assert c.get("/v1/videos/nope").status_code == 404
        assert httpx.post(url + "/v1/images/generations", json={}).status_code == 401
