"""Fair dispatch under faults: two tenants' backlogs on `default` through a worker SIGKILL, a Redis
crash and a frozen PostgreSQL. Fair dispatch keeps no state besides the run rows, so afterwards
nothing may be left waiting for a turn, a tenant's running cap must have held throughout (from
the executions' own journal), and the queue's counts must be back to zero with new runs starting.
"""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest

from tests.support.deployment import DRILL_ENV, Deployment, overlapping, wait_until

pytestmark = pytest.mark.fault
STALE = float(DRILL_ENV["ATOMFLEET_STALE_AFTER_SECONDS"])
DISPATCH_TIMEOUT = float(DRILL_ENV["ATOMFLEET_DISPATCH_TIMEOUT_SECONDS"])
SLEEP = {"seconds": 0.3, "steps": 3}


def _tenant(deployment: Deployment, slug: str) -> httpx.Client:
    deployment.manage("create_tenant", slug)
    token = deployment.manage("create_token", slug, "drill").strip().splitlines()[-1]
    return httpx.Client(base_url=deployment.api_url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def _batch(client: httpx.Client, n: int) -> list[str]:
    answer = client.post("/api/v1/atoms/diagnostics.sleep/runs/batch", json={"items": [{"args": SLEEP}] * n})
    assert answer.status_code == 202, answer.text
    return [r["run"]["id"] for r in answer.json()["results"]]


def _most_at_once(deployment: Deployment, run_ids: list[str]) -> int:
    """The most executions of these runs alive at one moment, from the diagnostics journal."""
    edges = []
    for run_id in run_ids:
        for execution in deployment.executions(run_id):
            edges += [(execution.start, 1), (execution.last, -1)]
    most = alive = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        alive += step
        most = max(most, alive)
    return most


def _waiting_for_a_turn(deployment: Deployment) -> int:
    with psycopg.connect(deployment.postgres.url, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM runs_atomrun WHERE turn_at IS NULL "
                           "AND status IN ('queued', 'retrying')").fetchone()
    return int(row[0]) if row else 0


def test_turns_survive_a_killed_worker_a_redis_crash_and_a_frozen_database(
    deployment: Deployment, client: httpx.Client
) -> None:
    bulk, capped = _tenant(deployment, "fair-bulk"), _tenant(deployment, "fair-capped")
    deployment.manage("set_tenant_limits", "fair-capped", "--max-running-per-queue", "1")
    try:
        # Given a backlog of one tenant and a capped tenant's runs behind it, on `default` (2 slots)
        backlog = _batch(bulk, 40)
        few = _batch(capped, 6)
        wait_until(lambda: deployment.rows(backlog[:2]) and all(
            r["status"] != "queued" for r in deployment.rows(backlog[:2]).values()), 30, "the backlog started")
        # When the default workers are SIGKILLed (replaced), Redis crashes and restarts, and
        # PostgreSQL freezes for 3 s, one after the other while the backlog drains
        deployment.worker("default").kill()
        time.sleep(2)
        deployment.redis.kill()
        time.sleep(1)
        deployment.redis.start()
        time.sleep(2)
        deployment.postgres.freeze()
        time.sleep(3)
        deployment.postgres.thaw()
        # Then every run ends succeeded (the atom is idempotent: lost executions are retried)
        runs = [*backlog, *few]
        rows = deployment.wait_terminal(runs, timeout=STALE + 4 * DISPATCH_TIMEOUT + 120)
        assert {r["status"] for r in rows.values()} == {"succeeded"}, [r for r in rows.values() if r["status"] != "succeeded"]
        assert not any(overlapping(deployment.executions(run_id)) for run_id in runs)
        # nothing waits for a turn, and the capped tenant never ran two at once, faults or not
        assert _waiting_for_a_turn(deployment) == 0
        assert _most_at_once(deployment, few) == 1
        # and the fleet's counts came back: new runs of both tenants get their turn and finish
        after = [*_batch(bulk, 2), *_batch(capped, 2)]
        rows = deployment.wait_terminal(after, timeout=60)
        assert {r["status"] for r in rows.values()} == {"succeeded"}
    finally:
        bulk.close()
        capped.close()
