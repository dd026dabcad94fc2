"""The chaos run (``llmkit.chaos``): 2,000 calls, 30% transient faults, a 60 s primary outage.

Every assertion reads the figures of a real run on the virtual clock; nothing here is a
number typed in from an earlier run. The targets are the issue's: with retry + budget +
fallback + breaker at least 99.9% of calls succeed, no non-retryable error is retried and
every call ends inside its deadline.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmkit.breaker import BreakerState
from llmkit.chaos import ROUTES, ChaosConfig, ChaosReport, run_chaos, simulate
from llmkit.errors import ErrorKind

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ChaosConfig()


@pytest.fixture(scope="module")
def report() -> ChaosReport:
    return run_chaos(CONFIG)


def test_the_run_is_the_one_the_issue_asks_for() -> None:
    assert CONFIG.calls == 2000
    assert CONFIG.fault_rate == pytest.approx(0.3)
    assert CONFIG.outage[1] - CONFIG.outage[0] == pytest.approx(60.0)
    assert CONFIG.min_success == pytest.approx(0.999)


def test_every_call_has_one_call_record(report: ChaosReport) -> None:
    for run in (report.policies, report.naive):
        calls = run.calls
        assert len(calls) == CONFIG.calls
        assert len({c.call_id for c in calls}) == CONFIG.calls
        assert all(c.latency is not None and c.latency >= 0 for c in calls)


def test_policies_meet_every_target(report: ChaosReport) -> None:
    assert report.missed() == []
    run = report.policies
    assert run.success_rate >= CONFIG.min_success
    assert run.retried_non_retryable == ()
    assert run.max_overrun <= 1e-6


def test_every_call_ends_inside_its_deadline(report: ChaosReport) -> None:
    for run in (report.policies, report.naive):
        worst = max(c.latency or 0.0 for c in run.calls)
        assert worst <= CONFIG.deadline + 1e-6, run.name


def test_the_faults_really_happened(report: ChaosReport) -> None:
    """The targets are only worth something if the run was actually hostile."""
    naive = report.naive
    failed = [c for c in naive.calls if c.error_type is not None]
    kinds = {c.error_type for c in failed}
    assert {"rate_limit", "server_error", "overloaded", "timeout", "connection"} <= kinds
    assert naive.success_rate < report.policies.success_rate
    # Without policies, most calls during the outage fail.
    lo, hi = CONFIG.outage
    start = min(c.timestamp for c in naive.calls)
    during = [c for c in naive.calls if lo <= c.timestamp - start < hi]
    assert during
    assert sum(c.error_type is None for c in during) / len(during) < 0.5


def test_non_retryable_errors_were_seen_and_never_retried(report: ChaosReport) -> None:
    run = report.policies
    kinds = {kind for (kind, retryable), n in run.errors.items() if not retryable and n}
    # Quota exhaustion from the provider, and refusals by the open circuit.
    assert str(ErrorKind.QUOTA_EXHAUSTED) in kinds
    assert "circuit_open" in kinds
    assert run.non_retryable_seen > 0
    assert run.retried_non_retryable == ()
    # Telemetry agrees: a quota error's attempt record says it was not retried.
    quota = [r for r in run.records if r.kind == "attempt" and r.error_type == "quota_exhausted"]
    assert quota
    assert all(r.retry_decision == "not_retryable" for r in quota)


def test_retryable_attempts_are_never_labelled_not_retryable(report: ChaosReport) -> None:
    """An attempt refused by an open circuit (no record of its own) must not overwrite the
    decision recorded for the attempt before it."""
    transient = {"rate_limit", "server_error", "overloaded", "connection"}
    rows = [r for r in report.policies.records if r.kind == "attempt" and r.error_type in transient]
    assert rows
    assert not [r for r in rows if r.retry_decision == "not_retryable"]
    assert all(r.retry_decision in ("retry", "max_attempts", "deadline") for r in rows)


def test_the_breaker_opened_during_the_outage_and_closed_after_it(report: ChaosReport) -> None:
    run = report.policies
    primary = ROUTES[0][0]
    events = [e for e in run.breaker_events if e.target == primary]
    opens = [e.at for e in events if e.new is BreakerState.OPEN]
    assert run.breaker_opens >= 1
    assert opens
    assert CONFIG.outage[0] <= opens[0] < CONFIG.outage[1]
    assert events[-1].new is BreakerState.CLOSED
    assert events[-1].at >= CONFIG.outage[1]


def test_the_fallback_served_calls_the_primary_could_not(report: ChaosReport) -> None:
    served = report.policies.served_by
    assert served[ROUTES[0][1]] > 0
    assert served[ROUTES[1][1]] > 0
    assert report.naive.served_by.keys() == {ROUTES[0][1]}


def test_attempts_and_latency_figures_are_consistent(report: ChaosReport) -> None:
    run = report.policies
    assert run.attempts == sum(r.kind == "attempt" for r in run.records)
    assert run.attempts_per_call > 1.0  # faults cost retries
    assert report.naive.attempts_per_call == 1.0  # one attempt, by construction
    assert 0 < run.latency_percentile(0.5) <= run.latency_percentile(0.99) <= CONFIG.deadline


def test_retry_only_drains_the_budget_in_the_outage() -> None:
    run = simulate(ChaosConfig(calls=800), "retry")
    assert run.budget_denied > 0
    assert run.breaker_opens == 0
    assert run.served_by.keys() == {ROUTES[0][1]}


def test_missed_names_the_targets_a_run_misses(report: ChaosReport) -> None:
    missed = ChaosReport(report.naive, report.naive).missed()
    assert any("success rate" in m for m in missed)


def test_a_run_is_deterministic() -> None:
    small = ChaosConfig(calls=300, seed=3)
    a, b = simulate(small), simulate(small)
    assert a.summary() == b.summary()
    assert [e.at for e in a.breaker_events] == [e.at for e in b.breaker_events]


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        ChaosConfig(calls=0)
    with pytest.raises(ValueError, match="within"):
        ChaosConfig(fault_rate=1.5)
    with pytest.raises(ValueError, match="policies"):
        simulate(ChaosConfig(calls=1), "everything")  # type: ignore[arg-type]


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(ROOT / "benchmarks" / "chaos.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_the_script_prints_both_runs_and_passes() -> None:
    done = _script("--calls", "400")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for label in ("success rate", "attempts/call", "budget denied", "breaker opens", "p99"):
        assert label in out
    assert "no policies" in out
    assert "retry + budget + fallback + breaker" in out
    assert "FAIL" not in out


def test_the_script_exits_non_zero_when_a_target_is_missed() -> None:
    done = _script("--calls", "200", "--fault-rate", "0.9")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL" in done.stdout
