"""The one vcrpy configuration llmkit records and replays with."""

from __future__ import annotations

from typing import Any

import vcr

from llmkit.cassettes import serializer
from llmkit.cassettes.matching import MATCH_ON, json_body

__all__ = ["make_vcr"]


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
