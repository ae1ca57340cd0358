"""Workflow faults: a worker group SIGKILLed, Redis killed and restarted, PostgreSQL stopped and
frozen while diamond workflows run across the three queues; a failed workflow retried.

After each, tests/faults/workflow_invariants.py checks every workflow: terminal, ended exactly
once, no step executed twice at once, no child created or started before all its parents ended,
no child of a failed parent run under fail_fast.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.faults.workflow_invariants import check_workflows, diamond
from tests.support.deployment import DRILL_ENV, Deployment, wait_until

pytestmark = pytest.mark.fault
STALE = float(DRILL_ENV["ATOMFLEET_STALE_AFTER_SECONDS"])
DISPATCH_TIMEOUT = float(DRILL_ENV["ATOMFLEET_DISPATCH_TIMEOUT_SECONDS"])


def _runs_of(deployment: Deployment, workflow_id: str) -> dict[str, str | None]:
    return {s["name"]: s["run"] for s in deployment.workflow_steps([workflow_id])[workflow_id]}


def _steps_running(deployment: Deployment, workflows: list[str], name: str, count: int) -> list[str]:
    def running() -> list[str] | None:
        steps = deployment.workflow_steps(workflows)
        now = [str(s["run"]) for w in workflows for s in steps[w] if s["name"] == name and s["run_status"] == "running"]
        return now if len(now) >= count else None

    return list(wait_until(running, 60, f"{count} step(s) {name} running"))


def _assert_holds(deployment: Deployment, workflows: list[str], endings: dict[str, int] | None = None) -> None:
    report = check_workflows(deployment, workflows, endings)
    print("\n".join(report.lines()))
    assert report.broken == {}, report.broken


def test_a_killed_worker_group_fails_only_the_workflows_of_its_lost_steps_and_retry_reruns_only_them(
    deployment: Deployment, client: httpx.Client
) -> None:
    # Given 20 diamonds (a on io_bound; b, not idempotent, on default and c on ml_training; then
    # d on default), the default worker (2 slots) running two b steps
    started = time.monotonic()
    workflows = [deployment.submit_workflow(client, diamond(seconds=0.3, b_seconds=1.0)) for _ in range(20)]
    lost = _steps_running(deployment, workflows, "b", 2)
    # When the whole default worker group is SIGKILLed (its replacement starts a second later)
    deployment.worker("default").kill()
    # Then every workflow ends: those whose b was running fail (worker_lost: not idempotent), d
    # skipped; every other one succeeds, its b run once after the restart
    rows = deployment.wait_workflows_terminal(workflows, timeout=STALE + 90)
    steps = deployment.workflow_steps(workflows)
    failed = sorted(w for w in workflows if rows[w]["status"] == "failed")
    assert failed == sorted(w for w in workflows if next(s for s in steps[w] if s["name"] == "b")["run"] in lost)
    assert {rows[w]["status"] for w in workflows if w not in failed} == {"succeeded"}
    for workflow_id in failed:
        assert (rows[workflow_id]["error_step"], rows[workflow_id]["error_code"]) == ("b", "worker_lost")
        by_name = {s["name"]: s for s in steps[workflow_id]}
        assert (by_name["d"]["state"], by_name["d"]["run"]) == ("skipped", None)
    _assert_holds(deployment, workflows)
    print(f"kill drill: {len(failed)} of 20 failed, all terminal {time.monotonic() - started:.1f}s after submitting")

    # When the failed ones are retried
    before = {w: _runs_of(deployment, w) for w in failed}
    for workflow_id in failed:
        assert client.post(f"/api/v1/workflows/{workflow_id}/retry").status_code == 202
    rows = deployment.wait_workflows_terminal(failed, timeout=60)
    # Then they succeed; a and c kept their runs, b and d (failed, skipped) got new ones
    assert {rows[w]["status"] for w in failed} == {"succeeded"}
    for workflow_id in failed:
        after = _runs_of(deployment, workflow_id)
        assert {n: after[n] for n in "ac"} == {n: before[workflow_id][n] for n in "ac"}
        assert after["b"] != before[workflow_id]["b"] and after["d"] is not None and before[workflow_id]["d"] is None
        history = [r["step"] for r in deployment.workflow_runs([workflow_id])[workflow_id]]
        assert sorted(history) == ["a", "b", "b", "c", "d"]
    _assert_holds(deployment, workflows, endings={w: 2 for w in failed})


def test_a_failed_workflow_retried_reruns_only_its_failed_and_skipped_steps(
    deployment: Deployment, client: httpx.Client
) -> None:
    # Given a workflow whose step b always fails while its sibling c still runs:
    # a → b (fails) → d; a → c (slow) → e, c → d
    body: dict[str, Any] = {"on_failure": "fail_fast", "steps": [
        {"name": "a", "atom": "diagnostics.sleep_io", "args": {"seconds": 0.2, "steps": 1}},
        {"name": "b", "atom": "diagnostics.sleep", "after": ["a"],
         "args": {"seconds": 0.2, "steps": 1, "fail_with": "long_code"}},
        {"name": "c", "atom": "diagnostics.sleep_ml", "after": ["a"], "args": {"seconds": 3, "steps": 6}},
        {"name": "d", "atom": "diagnostics.sleep", "after": ["b", "c"], "args": {"seconds": 0.2, "steps": 1}},
        {"name": "e", "atom": "diagnostics.sleep", "after": ["c"], "args": {"seconds": 0.2, "steps": 1}},
    ]}
    workflow_id = deployment.submit_workflow(client, body)
    row = deployment.wait_workflows_terminal([workflow_id], timeout=60)[workflow_id]
    # Then fail_fast: b failed, c (running) finished, d and e never started
    assert (row["status"], row["error_step"]) == ("failed", "b"), row
    states = {s["name"]: (s["state"], s["run_status"]) for s in deployment.workflow_steps([workflow_id])[workflow_id]}
    assert states == {"a": ("ended", "succeeded"), "b": ("ended", "failed"), "c": ("ended", "succeeded"),
                      "d": ("skipped", None), "e": ("skipped", None)}, states
    before = _runs_of(deployment, workflow_id)

    # When it is retried
    assert client.post(f"/api/v1/workflows/{workflow_id}/retry").status_code == 202
    row = deployment.wait_workflows_terminal([workflow_id], timeout=60)[workflow_id]
    # Then only b, d and e were re-run: a and c keep their runs; b fails again, e (whose parent
    # succeeded) runs, d is skipped again
    after = _runs_of(deployment, workflow_id)
    assert (row["status"], row["error_step"]) == ("failed", "b"), row
    assert (after["a"], after["c"]) == (before["a"], before["c"])
    assert after["b"] not in (None, before["b"]) and after["e"] is not None and after["d"] is None
    states = {s["name"]: (s["state"], s["run_status"]) for s in deployment.workflow_steps([workflow_id])[workflow_id]}
    assert (states["e"], states["d"]) == (("ended", "succeeded"), ("skipped", None)), states
    history = [r["step"] for r in deployment.workflow_runs([workflow_id])[workflow_id]]
    assert sorted(history) == ["a", "b", "b", "c", "e"]
    _assert_holds(deployment, [workflow_id], endings={workflow_id: 2})


def test_redis_killed_and_restarted_mid_workflows(deployment: Deployment, client: httpx.Client) -> None:
    # Given 10 diamonds of idempotent steps in flight across the three queues
    workflows = [deployment.submit_workflow(client, diamond(seconds=0.5, b_atom="diagnostics.sleep"))
                 for _ in range(10)]
    time.sleep(1.5)
    # When Redis is SIGKILLed and restarted from its append-only file a second later (messages of
    # released steps lost or restored)
    started = time.monotonic()
    deployment.redis.kill()
    time.sleep(1)
    deployment.redis.start()
    # Then every workflow succeeds, each step run once at a time, children after their parents
    rows = deployment.wait_workflows_terminal(workflows, timeout=STALE + 4 * DISPATCH_TIMEOUT + 60)
    assert {r["status"] for r in rows.values()} == {"succeeded"}, rows
    _assert_holds(deployment, workflows)
    print(f"redis drill: all terminal {time.monotonic() - started:.1f}s after the kill")


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_postgres_stopped_or_frozen_mid_workflows(deployment: Deployment, client: httpx.Client, fault: str) -> None:
    # Given 8 diamonds of idempotent steps in flight (about 12 s of work), some steps running
    workflows = [deployment.submit_workflow(client, diamond(seconds=1.0, b_atom="diagnostics.sleep"))
                 for _ in range(8)]
    _steps_running(deployment, workflows, "a", 1)
    time.sleep(1)
    steps = deployment.workflow_steps(workflows)
    released = sum(1 for w in workflows for s in steps[w] if s["state"] != "pending")
    assert 0 < released < 32, released  # the outage strikes mid-workflows
    # When PostgreSQL is stopped (or frozen whole: every process of it) for 8 seconds: step endings
    # and releases in flight
    stop, start = ((deployment.postgres.stop, deployment.postgres.start) if fault == "stopped"
                   else (deployment.postgres.freeze, deployment.postgres.thaw))
    stop()
    try:
        time.sleep(8)
    finally:
        start()
    started = time.monotonic()
    # Then every workflow succeeds once the database is back
    rows = deployment.wait_workflows_terminal(workflows, timeout=90)
    assert {r["status"] for r in rows.values()} == {"succeeded"}, rows
    _assert_holds(deployment, workflows)
    print(f"postgres {fault} drill: {released} of 32 steps released when it struck; all terminal "
          f"{time.monotonic() - started:.1f}s after it came back")
