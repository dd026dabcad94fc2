"""The cassette catalogue, replayed: what each committed cassette does naive and with retries.

Every ``cassettes/<group>/<name>.yaml`` is replayed offline on a virtual clock with
``llmkit replay``'s own code (:func:`llmkit.cassettes.runner.replay_cassette`), twice: through
the naive policy (one attempt per call) and through the retry policy it was recorded with; a
cassette recorded through a fallback is replayed a third time with the fallback too. Each
:class:`CassetteReport` keeps the cassette's provenance beside the numbers, so the report can
say where every figure came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from llmkit.cassettes.runner import Summary, replay_cassette
from llmkit.cassettes.serializer import load_cassette
from llmkit.cassettes.timeline import Provenance

__all__ = ["CassetteReport", "cassette_paths", "summarize_cassettes"]


def cassette_paths(root: str | Path) -> list[Path]:
    """Every ``cassettes/<group>/<name>.yaml`` under ``root``, sorted."""
    return sorted((Path(root) / "cassettes").glob("*/*.yaml"))


@dataclass(frozen=True, slots=True)
class CassetteReport:
    """One cassette: where it came from and what replaying it did, naive and with retries."""

    name: str
    """``<group>/<file stem>``."""
    description: str
    provenance: Provenance
    naive: Summary
    retry: Summary
    full: Summary | None = None
    """For a cassette recorded through a fallback (``notes.secondary``): the replay with the
    fallback too (``llmkit replay --policy full``); the retry columns replay the primary's
    retries alone. None otherwise."""

    def provenance_text(self) -> str:
        p = self.provenance
        if p.source == "live":
            return f"live recording of {p.provider} on {p.recorded_on} (llmkit {p.llmkit_version})"
        return (
            f"simulator {p.simulator_version}, scenario {p.scenario}, seed {p.seed} "
            f"(llmkit {p.llmkit_version})"
        )


def summarize_cassettes(
    paths: Iterable[Path], *, progress: Callable[[str], None] | None = None
) -> list[CassetteReport]:
    """Replay each cassette naive and with its recorded retry policy (typed CassetteErrors
    for missing or corrupt files)."""
    out = []
    for path in paths:
        meta = load_cassette(path).meta
        naive = replay_cassette(path, policy="naive")
        retry = replay_cassette(path, policy="retry")
        full = replay_cassette(path, policy="full") if "secondary" in meta.notes else None
        name = f"{path.parent.name}/{path.stem}"
        out.append(
            CassetteReport(
                name, str(meta.notes.get("description", "")), meta.provenance, naive, retry, full
            )
        )
        if progress is not None:
            progress(name)
    return out
