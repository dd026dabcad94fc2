"""The Images API and job API adapters: wire shapes (real recordings too) and typed errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from llmkit import Client
from llmkit.clock import VirtualClock
from llmkit.errors import AuthError, ContentFilterError, InvalidResponseError, RateLimitError
from llmkit.providers.openai_images import OpenAIImagesAdapter, image_bytes
from llmkit.providers.video_jobs import VideoJobsAdapter, content_bytes, job_status
from llmkit.recordings import load_recording
from llmkit.secrets import APIKey
from llmkit.sim.faults import Fault, FaultRule
from llmkit.sim.scenarios import get_scenario
from llmkit.sim.transport import SimTransport
from llmkit.types import ChatRequest, Message

SET2 = Path(__file__).resolve().parents[2] / "shared" / "real-cassettes-set2"


def _set2(name: str) -> httpx.Response:
    if not SET2.is_dir():
        pytest.skip(f"{SET2} is absent")
    return load_recording(SET2 / name)[0].response


def _image_request(**extra: object) -> ChatRequest:
    return ChatRequest(
        model="gpt-image-1",
        messages=(Message("user", "a fox"),),
        extra={"size": "256x256", **extra},
    )


def test_images_request_shape_and_idempotency_header() -> None:
    req = OpenAIImagesAdapter().build_request(
        _image_request(idempotency_key="job-1.generate"),
        base_url="http://x/v1",
        api_key=APIKey("sk-test"),
    )
    assert req.method == "POST"
    assert req.url.path == "/v1/images/generations"
    assert req.headers["idempotency-key"] == "job-1.generate"
    body = json.loads(req.content)
    assert body == {"model": "gpt-image-1", "prompt": "a fox", "size": "256x256"}


@pytest.mark.real_cassettes
def test_real_images_generation_parses_with_usage() -> None:
    resp = _set2("openai__images_generation__1.yaml")
    out = OpenAIImagesAdapter().parse_response(resp)
    assert out.usage.input_tokens == 17
    assert out.usage.output_tokens is not None
    assert image_bytes(out)[:3] == b"\xff\xd8\xff"  # the recorded JPEG


@pytest.mark.real_cassettes
def test_real_images_401_is_auth() -> None:
    resp = _set2("openai__images_generation_error_401__1.yaml")
    assert isinstance(OpenAIImagesAdapter().classify(resp), AuthError)


@pytest.mark.real_cassettes
def test_real_xai_video_submit_parses_as_a_queued_job() -> None:
    resp = _set2("xai__video_generation_submit__1.yaml")
    status = job_status(VideoJobsAdapter().parse_response(resp))
    assert status.status == "queued"
    assert status.id == "c84748c1-5ec7-9c62-b013-dc6e71a83de7"


def test_malformed_bodies_are_invalid_response() -> None:
    req = httpx.Request("POST", "http://x/v1/images/generations")
    with pytest.raises(InvalidResponseError):
        OpenAIImagesAdapter().parse_response(httpx.Response(200, json={"data": []}, request=req))
    get = httpx.Request("GET", "http://x/v1/videos/abc")
    with pytest.raises(InvalidResponseError):
        VideoJobsAdapter().parse_response(httpx.Response(200, json={"status": "??"}, request=get))
    with pytest.raises(ValueError, match="job_id"):
        VideoJobsAdapter.request("retrieve")


def test_images_through_client_retry_a_429_and_refusal_is_content_filter() -> None:
    clock = VirtualClock()
    sc = get_scenario("healthy").plus(FaultRule(Fault.RATE_LIMIT, requests=(0, 1), retry_after=1))
    client = Client(
        adapter=OpenAIImagesAdapter(),
        base_url="http://sim/v1",
        api_key="sim",
        transport=SimTransport(sc, clock),
        clock=clock,
        seed=0,
    )
    out = client.send(_image_request())
    assert image_bytes(out)[:4] == b"\x89PNG"
    refused = ChatRequest(model="gpt-image-1", messages=(Message("user", "[refuse]"),))
    with pytest.raises(ContentFilterError):
        client.send(refused)
    never = get_scenario("healthy").plus(FaultRule(Fault.RATE_LIMIT, retry_after=1))
    stuck = Client(
        adapter=OpenAIImagesAdapter(),
        base_url="http://sim/v1",
        api_key="sim",
        transport=SimTransport(never, clock),
        clock=clock,
        retry=2,
    )
    with pytest.raises(RateLimitError):
        stuck.send(_image_request())


def test_job_api_through_client_create_poll_download() -> None:
    clock = VirtualClock()
    client = Client(
        adapter=VideoJobsAdapter(),
        base_url="http://sim/v1",
        api_key="sim",
        transport=SimTransport("healthy", clock),
        clock=clock,
    )
    created = job_status(client.send(VideoJobsAdapter.request("create", prompt="a wave")))
    assert created.status == "queued"
    clock.sleep(10)
    done = job_status(client.send(VideoJobsAdapter.request("retrieve", job_id=created.id)))
    assert (done.status, done.progress) == ("completed", 100)
    data = content_bytes(client.send(VideoJobsAdapter.request("content", job_id=created.id)))
    assert data[:6] == b"GIF89a"
    assert base64.b64encode(data)
