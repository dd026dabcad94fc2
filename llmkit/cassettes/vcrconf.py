"""The one vcrpy configuration llmkit records and replays with, and replay that scales.

vcrpy finds the answer to a request by comparing it with every recorded interaction (its
``Cassette._responses``), and ``play_response`` and ``in`` each do that scan: a cassette of
n calls costs O(n²) matcher calls to replay. :class:`IndexedCassette` is vcrpy's own
``Cassette`` with the lookup indexed by what llmkit's matchers compare (method, path, the
comparable JSON body), so each request costs O(1) while vcrpy stays the engine: it still
patches the HTTP libraries, builds the responses, counts plays and raises its
``CannotOverwriteExistingCassetteException``. The semantics are vcrpy's: among identical
recorded requests the first one not yet played answers (recorded order); with playback
repeats the first one always does; a request with no match raises as before. A cassette with
other matchers is scanned as vcrpy does.

Recording uses it too: vcrpy asks ``request in cassette`` before each recorded request,
another whole scan. :func:`use_cassette` also takes the interactions already read by
:func:`~llmkit.cassettes.serializer.load_cassette`, so a replay parses the YAML once.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import vcr
from vcr.cassette import Cassette
from vcr.request import Request
from vcr.serializers import compat

from llmkit.cassettes import serializer
from llmkit.cassettes.matching import MATCH_ON, comparable_body, json_body

__all__ = ["IndexedCassette", "make_vcr", "request_index_key", "use_cassette"]


def make_vcr() -> Any:
    """A ``vcr.VCR`` with llmkit's serializer and body matcher registered.

    ``decode_compressed_response`` stores gzip bodies decompressed; playback repeats stay off
    (each recorded response plays once, in order, like the real sequence of answers).
    """
    v = vcr.VCR(
        serializer="llmkit",
        match_on=MATCH_ON,
        decode_compressed_response=True,
        record_on_exception=False,
    )
    v.register_serializer("llmkit", serializer)
    v.register_matcher("json_body", json_body)
    return v


def _hashable(value: Any) -> Any:
    """A hashable form of a JSON value, equal exactly when the values are ``==`` (so
    ``1``, ``1.0`` and ``True`` share a form, as they compare equal)."""
    if isinstance(value, dict):
        return ("{", frozenset((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("[", tuple(_hashable(v) for v in value))
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def request_index_key(request: Any) -> tuple[Any, ...]:
    """What llmkit's matchers (method, path, json_body) compare, as a dict key."""
    return (request.method, request.path, _hashable(comparable_body(request.body)))


class IndexedCassette(Cassette):  # type: ignore[misc]  # vcrpy is untyped
    """vcrpy's Cassette with O(1) lookups for llmkit's matchers (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._index: dict[tuple[Any, ...], deque[int]] | None = None
        self._indexed = 0

    def _indexable(self) -> bool:
        names = tuple(getattr(m, "__name__", "") for m in self._match_on)
        return names == ("method", "path", "json_body") and self._match_on[2] is json_body

    def _queue(self, request: Any) -> deque[int] | None:
        """The indices of the recorded requests matching ``request``, oldest first, with the
        played ones at the front dropped (plays only move forward in record-mode none)."""
        if self._index is None:
            self._index = {}
            self._indexed = 0
        for i in range(self._indexed, len(self.data)):  # interactions appended since
            self._index.setdefault(request_index_key(self.data[i][0]), deque()).append(i)
        self._indexed = len(self.data)
        queue = self._index.get(request_index_key(request))
        if queue is not None and not self.allow_playback_repeats:
            while queue and self.play_counts[queue[0]] > 0:
                queue.popleft()
        return queue

    def _responses(self, request: Any) -> Any:
        if not self._indexable():
            yield from super()._responses(request)
            return
        request = self._before_record_request(request)
        if not request:
            return
        for index in self._queue(request) or ():  # callers stop at the first unplayed one
            yield index, self.data[index][1]

    def rewind(self) -> None:
        super().rewind()
        self._index = None  # play counts restart: rebuild the queues

    def _load(self) -> None:
        super()._load()
        self._index = None


class _Preloaded:
    """A vcrpy persister handing over a cassette :func:`load_cassette` already read."""

    def __init__(self, interactions: list[dict[str, Any]], metadata: dict[str, Any]):
        self.interactions = interactions
        self.metadata = metadata

    def load_cassette(self, cassette_path: Any, serializer: Any) -> tuple[Any, ...]:
        requests = [Request._from_dict(r["request"]) for r in self.interactions]
        responses = [compat.convert_to_bytes(r["response"]) for r in self.interactions]
        if self.metadata:
            return requests, responses, self.metadata
        return requests, responses

    def save_cassette(self, cassette_path: Any, cassette_dict: Any, serializer: Any) -> None:
        raise RuntimeError("a preloaded cassette is replayed, never saved")


def use_cassette(
    path: str, *, interactions: list[dict[str, Any]] | None = None, **kwargs: Any
) -> Any:
    """``make_vcr().use_cassette(path, **kwargs)`` with :class:`IndexedCassette`; given
    ``interactions`` (vcrpy-shaped, as ``load_cassette`` returns them) the file is not read
    again."""
    v = make_vcr()
    if interactions is not None:
        kwargs["persister"] = _Preloaded(interactions, {})
    config = v.get_merged_config(path=path, **kwargs)
    return IndexedCassette.use(**config)
