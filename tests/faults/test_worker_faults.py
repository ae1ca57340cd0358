"""Worker faults: a whole worker group SIGKILLed (running and prefetched runs), an atom that
holds the GIL far longer than the stale deadline, pools that cannot enforce time limits."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from atomfleet_orchestrator.runs.lifecycle import TERMINAL
from tests.support.deployment import DRILL_ENV, Deployment, overlapping, wait_until

pytestmark = pytest.mark.fault
STALE = float(DRILL_ENV["ATOMFLEET_STALE_AFTER_SECONDS"])


def _wait_running(deployment: Deployment, run_ids: list[str], count: int) -> list[str]:
    def running() -> list[str] | None:
        rows = deployment.rows(run_ids)
        now = [i for i in run_ids if rows[i]["status"] == "running"]
        return now if len(now) >= count else None

    return list(wait_until(running, 30, f"{count} run(s) running"))


def _terminal_events_disagreeing(deployment: Deployment) -> list[tuple[str, str, list[str]]]:
    """Runs whose terminal events are not exactly one matching their row: (id, status, types).

    A terminal run must have exactly its one ``run.<status>``; a run not yet ended, none. The
    event commits in the transaction of the row's write, so nothing can be in between.
    """
    with psycopg.connect(deployment.postgres.url, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT r.id::text, r.status, COALESCE(array_agg(e.type ORDER BY e.id) FILTER (WHERE e.type IS NOT NULL), '{}') "
            "FROM runs_atomrun r LEFT JOIN events_event e ON e.run_id = r.id "
            "AND e.type IN ('run.succeeded', 'run.failed', 'run.cancelled') GROUP BY r.id, r.status")
        rows = cur.fetchall()
    assert rows, "no run in the database"
    return [(i, status, types) for i, status, types in rows
            if types != ([f"run.{status}"] if status in TERMINAL else [])]


@pytest.mark.parametrize("prefetch", [1, 4], ids=["one-message-per-slot", "operator-enabled-prefetch"])
def test_a_killed_worker_group_loses_no_run(deployment: Deployment, client: httpx.Client, prefetch: int) -> None:
    # Given a default worker (2 slots) running 2 non-idempotent runs, with 4 more waiting, and
    # (second case) an operator who allowed prefetching, so the worker holds some of them
    if prefetch > 1:
        deployment.replace_worker("default", prefetch=prefetch, ATOMFLEET_WORKER_DISABLE_PREFETCH="false")
    runs = [deployment.submit(client, "diagnostics.sleep_once", {"seconds": 6, "steps": 30}) for _ in range(6)]
    running = _wait_running(deployment, runs, 2)
    time.sleep(1)  # let the worker fetch what it may
    # When the whole worker group is SIGKILLed (its replacement starts a second later)
    deployment.worker("default").kill()
    # Then every run ends within the deadlines: the two that were running fail worker_lost (they
    # are not idempotent), all the others run once and succeed
    rows = deployment.wait_terminal(runs, timeout=STALE + 60)
    for run_id in runs:
        row = rows[run_id]
        if run_id in running:
            assert (row["status"], row["error_code"], row["attempts"]) == ("failed", "worker_lost", 1), row
        else:
            assert (row["status"], row["attempts"]) == ("succeeded", 1), row
        assert not overlapping(deployment.executions(run_id))
    # And the event log agrees: each ended run has exactly one terminal event, its own status.
    assert _terminal_events_disagreeing(deployment) == []
    if prefetch > 1:
        deployment.replace_worker("default")


def test_an_atom_holding_the_gil_keeps_its_lease(deployment: Deployment, client: httpx.Client) -> None:
    # An atom stuck in C code with the GIL held for longer than the stale deadline (a long
    # regex match, a native loop): the worker's main process keeps the heartbeat fresh
    hold = int(STALE) + 5
    run_id = deployment.submit(client, "diagnostics.sleep", {"seconds": 1, "steps": 2, "hold_gil_seconds": hold})
    row = deployment.wait_terminal([run_id], timeout=hold + 30)[run_id]
    assert (row["status"], row["attempts"]) == ("succeeded", 1), row
    assert len(deployment.executions(run_id)) == 1


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_a_pool_that_cannot_enforce_time_limits_is_refused(deployment: Deployment, pool: str) -> None:
    argv = deployment.worker_argv("io_bound", pool=pool)
    done = subprocess.run(argv, env=deployment.env(ATOMFLEET_METRICS_PORT="0"), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "cannot run atoms of queue(s) io_bound" in done.stdout + done.stderr
    assert "--pool=prefork" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ATOMFLEET_HEARTBEAT_SECONDS": "10", "ATOMFLEET_STALE_AFTER_SECONDS": "20"},
         "3 x ATOMFLEET_HEARTBEAT_SECONDS (30) must be below ATOMFLEET_STALE_AFTER_SECONDS (20)"),
        ({"ATOMFLEET_RECONCILE_INTERVAL": "15", "ATOMFLEET_DISPATCH_TIMEOUT_SECONDS": "10"},
         "ATOMFLEET_RECONCILE_INTERVAL (15) must be below ATOMFLEET_DISPATCH_TIMEOUT_SECONDS (10)"),
    ],
)
def test_contradictory_deadlines_refuse_to_start(deployment: Deployment, env: dict[str, str], message: str) -> None:
    manage_check = [sys.executable, "-m", "atomfleet_orchestrator.cli.main", "manage", "check"]
    for argv in (deployment.worker_argv("default"), manage_check):
        done = subprocess.run(argv, env=deployment.env(**env, ATOMFLEET_METRICS_PORT="0"), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode != 0
        assert message in done.stdout + done.stderr


def test_after_the_worker_drills_every_terminal_run_has_exactly_one_terminal_event(deployment: Deployment) -> None:
    # Every run the drills above left (killed groups, held GIL, refused pools), ended or not.
    assert _terminal_events_disagreeing(deployment) == []
