"""IndexedCassette answers exactly as vcrpy's own Cassette does, in O(1) per request: same
interaction for every request, repeated identical requests in recorded order, the same
refusal for a request with no match, and rewinds start over."""

from __future__ import annotations

from pathlib import Path

import pytest
from vcr.cassette import Cassette
from vcr.errors import UnhandledHTTPRequestError

from llmkit.cassettes.vcrconf import IndexedCassette, make_vcr, request_index_key

ROOT = Path(__file__).resolve().parents[1] / "cassettes"
CASSETTES = sorted(ROOT.glob("*/*.yaml"))


def _load(cls: type[Cassette], path: Path) -> Cassette:
    config = make_vcr().get_merged_config(path=str(path), record_mode="none")
    config.pop("path_transformer", None)
    config.pop("func_path_generator", None)
    config.pop("record_on_exception", None)
    return cls.load(**config)


def _play_all(cassette: Cassette) -> list[int]:
    """Play every recorded request, in recorded order; which interaction answered each."""
    played = []
    for request, _ in list(cassette.data):
        response = cassette.play_response(request)
        played.append(next(i for i, (_, r) in enumerate(cassette.data) if r is response))
    return played


@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_index_plays_what_vcrpy_plays(path: Path) -> None:
    plain, indexed = _load(Cassette, path), _load(IndexedCassette, path)
    assert len(indexed.data) == len(plain.data) > 0
    assert _play_all(indexed) == _play_all(plain)
    assert indexed.play_counts == plain.play_counts
    request = plain.data[0][0]
    with pytest.raises(UnhandledHTTPRequestError):
        plain.play_response(request)  # every interaction played once: nothing left
    with pytest.raises(UnhandledHTTPRequestError):
        indexed.play_response(request)
    assert (request in indexed) is (request in plain) is False
    indexed.rewind()
    plain.rewind()
    assert _play_all(indexed) == _play_all(plain)


def test_repeated_identical_requests_play_in_recorded_order() -> None:
    repeated = []
    for path in CASSETTES:
        cassette = _load(IndexedCassette, path)
        keys = [request_index_key(r) for r, _ in cassette.data]
        if len(set(keys)) < len(keys):
            repeated.append(cassette)
    assert repeated, "the catalogue has retries: identical requests recorded more than once"
    for cassette in repeated:
        first = cassette.data[0][0]
        same = [
            i
            for i, (r, _) in enumerate(cassette.data)
            if request_index_key(r) == request_index_key(first)
        ]
        answers = [cassette.play_response(first) for _ in same]
        assert answers == [cassette.data[i][1] for i in same]


def test_json_numbers_compare_as_python_does() -> None:
    class Req:
        method = "POST"
        path = "/v1/chat/completions"

        def __init__(self, body: bytes) -> None:
            self.body = body

    a = request_index_key(Req(b'{"max_tokens": 16, "temperature": 1, "stream": true}'))
    b = request_index_key(Req(b'{"temperature": 1.0, "stream": true, "max_tokens": 16}'))
    c = request_index_key(Req(b'{"temperature": 1.5, "stream": true, "max_tokens": 16}'))
    assert a == b != c
