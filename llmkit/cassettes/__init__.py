"""Cassettes: record LLM traffic through vcrpy, replay it offline on a virtual clock.

A cassette is one YAML file per scenario (``cassettes/<provider>/<scenario>.yaml``): vcrpy's
interactions, made readable and key-free by llmkit's serializer, plus an ``llmkit:`` section
holding what vcrpy cannot store (provenance, the logical calls, and every attempt's start,
latency, time to first token or transport fault).

Record (see :mod:`llmkit.cassettes.record` for the served simulator and live recordings)::

    llmkit record retry-after --provider openai          # one catalogue entry
    llmkit record --all                                  # the whole catalogue (make cassettes)

Replay offline, instantly, with the recorded timeline::

    clock = VirtualClock()
    with replay("cassettes/openai/retry_after.yaml", clock=clock) as r:
        http = httpx.Client(transport=r.transport())     # hand to llmkit.Client
        ...

Live recordings are possible when you have keys (never required, never in CI): build a
``Recorder`` with ``Provenance("live", ..., recorded_on=<today>)`` and send real requests
through ``recorder.transport()``; keys are never written (header allowlist, body scrubbing).

A cassette that is missing, corrupt or does not match raises a ``CassetteError`` kind from
:mod:`llmkit.errors`, where the whole error tree lives.
"""

from llmkit.cassettes.matching import MATCH_ON, VOLATILE_FIELDS
from llmkit.cassettes.record import Recorder, SimBridge
from llmkit.cassettes.replay import Replayer, replay
from llmkit.cassettes.serializer import LoadedCassette, load_cassette
from llmkit.cassettes.timeline import (
    CassetteMeta,
    FaultStep,
    Provenance,
    RecordedCall,
    ResponseStep,
)

__all__ = [
    "MATCH_ON",
    "VOLATILE_FIELDS",
    "CassetteMeta",
    "FaultStep",
    "LoadedCassette",
    "Provenance",
    "RecordedCall",
    "Recorder",
    "Replayer",
    "ResponseStep",
    "SimBridge",
    "load_cassette",
    "replay",
]
