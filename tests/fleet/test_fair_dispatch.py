"""Fair dispatch through real workers: another tenant's run starts ahead of a deep backlog, the
backlog waits in PostgreSQL (the Redis list stays about one run per slot), and every run ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.stats import queue_counts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fleet, pytest.mark.usefixtures("worker_fleet"),
              pytest.mark.timeout(180)]

Wait = Callable[..., dict[str, Any]]
BACKLOG = 60
SLEEP = {"seconds": 0.4, "steps": 1}


def test_another_tenants_run_starts_ahead_of_a_backlog(
    api: APIClient, other_api: APIClient, wait_for: Wait, broker_redis: redis.Redis
) -> None:
    # Given one tenant's backlog on `default` (3 slots in the session fleet: about 8 s of work)
    answer = api.post("/api/v1/atoms/diagnostics.sleep/runs/batch",
                      {"items": [{"args": SLEEP} for _ in range(BACKLOG)]}, format="json")
    assert answer.status_code == 202, answer.content
    backlog = [r["run"]["id"] for r in answer.json()["results"]]
    wait_for(backlog[0], lambda r: r["status"] != "queued")
    # the broker holds a few of them, the database all of them (what autoscaling reads)
    assert broker_redis.llen("default") <= 6
    assert queue_counts()["default"].demand == BACKLOG
    # When another tenant submits one run
    theirs = other_api.post("/api/v1/atoms/diagnostics.sleep/runs", {"args": SLEEP}, format="json")
    assert theirs.status_code == 202, theirs.content
    submitted = time.monotonic()
    # Then it starts within about one slot turnover, ahead of the backlog's remaining runs
    mine = other_api.get(f"/api/v1/runs/{theirs.json()['id']}").json()
    while mine["status"] == "queued" and time.monotonic() - submitted < 60:
        time.sleep(0.05)
        mine = other_api.get(f"/api/v1/runs/{theirs.json()['id']}").json()
    assert mine["started_at"] is not None, mine
    started = AtomRun.objects.filter(id__in=backlog, started_at__lte=mine["started_at"]).count()
    print(f"{started} of the backlog's {BACKLOG} runs started before the other tenant's run")
    assert started < BACKLOG // 3, f"{started} of the backlog started before it"
    # and every run of both tenants ends, none left waiting for its turn
    for run_id in backlog:
        assert wait_for(run_id, timeout=120)["status"] == "succeeded"
    assert other_api.get(f"/api/v1/runs/{mine['id']}").json()["status"] == "succeeded"
    assert not AtomRun.objects.filter(turn_at__isnull=True, status__in=["queued", "retrying"]).exists()


def test_priority_orders_a_tenants_own_waiting_runs(api: APIClient, wait_for: Wait) -> None:
    low = api.post("/api/v1/atoms/diagnostics.sleep/runs/batch",
                   {"items": [{"args": SLEEP, "priority": 0} for _ in range(24)]}, format="json").json()
    urgent = api.post("/api/v1/atoms/diagnostics.sleep/runs", {"args": SLEEP, "priority": 9}, format="json").json()
    assert urgent["priority"] == 9
    done = wait_for(urgent["id"], timeout=60)
    low_ids = [r["run"]["id"] for r in low["results"]]
    ahead = AtomRun.objects.filter(id__in=low_ids, started_at__lte=done["started_at"]).count()
    assert ahead < 12, f"{ahead} of the tenant's low-priority runs started before its urgent one"
    for run_id in low_ids:
        wait_for(run_id, timeout=120)
    bad = api.post("/api/v1/atoms/diagnostics.sleep/runs", {"args": SLEEP, "priority": 10}, format="json")
    assert bad.status_code == 400 and "priority" in str(bad.json()["error"]["details"])
