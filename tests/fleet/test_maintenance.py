"""Beat runs the outbox dispatcher and the reconciler itself, so a saturated fleet cannot starve them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.utils import timezone
from rest_framework.test import APIClient

from atomfleet_orchestrator.beat import MaintenanceScheduler
from atomfleet_orchestrator.celery import app
from atomfleet_orchestrator.runs.models import AtomRun, RunStatus
from atomfleet_orchestrator.tenancy.models import Tenant
from tests.support.workers import WorkerFleet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fleet]


def _outbox_run(tenant: Tenant, atom: str, queue: str, args: dict[str, Any]) -> AtomRun:
    """A run accepted while the broker was down: given its turn, never published."""
    return AtomRun.objects.create(tenant=tenant, created_by="t", atom=atom, queue=queue, args=args, max_attempts=4,
                                  turn_at=timezone.now())


def test_scheduler_runs_maintenance_in_process_and_sends_nothing_for_it(
    tenant: Tenant, broker_redis: redis.Redis, tmp_path: Path
) -> None:
    run = _outbox_run(tenant, "forecast.autoregressive", "ml_training", {"series": [1, 2, 3, 4, 5]})
    scheduler = MaintenanceScheduler(app=app, schedule_filename=str(tmp_path / "schedule"), lazy=True)
    scheduler.setup_schedule()
    default_before = broker_redis.llen("default")

    scheduler.apply_entry(scheduler.schedule["dispatch-outbox"])
    scheduler.apply_entry(scheduler.schedule["reconcile-runs"])

    assert AtomRun.objects.get(id=run.id).dispatched_at is not None
    assert broker_redis.llen("default") == default_before  # no maintenance message was queued


def test_a_saturated_default_queue_does_not_starve_dispatch_or_reconciliation(
    api: APIClient, tenant: Tenant, wait_for: Callable[..., dict[str, Any]], worker_fleet: WorkerFleet
) -> None:
    # Given every `default` slot busy with a long run
    busy = [
        api.post("/api/v1/atoms/diagnostics.sleep/runs", {"args": {"seconds": 120, "steps": 240}}, format="json").json()
        for _ in range(3)
    ]
    for run in busy:
        wait_for(run["id"], lambda r: r["status"] == "running")
    # ... a run stuck in the outbox and a non-idempotent run whose worker vanished
    waiting = _outbox_run(tenant, "forecast.autoregressive", "ml_training", {"series": [1, 2, 3, 4, 5, 6, 7], "order": 1})
    lost = AtomRun.objects.create(
        tenant=tenant, created_by="t", atom="diagnostics.sleep_once", queue="default", args={"seconds": 1},
        status=RunStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=5), attempts=1,
    )
    try:
        # Then beat publishes the waiting run (it completes on ml_training) and reconciles the lost one
        assert wait_for(str(waiting.id), timeout=30)["status"] == "succeeded"
        done = wait_for(str(lost.id), timeout=30)
        assert done["status"] == "failed" and done["error"]["code"] == "worker_lost"
    finally:
        for run in busy:
            api.post(f"/api/v1/runs/{run['id']}/cancel")
        for run in busy:
            wait_for(run["id"], timeout=30)
    assert worker_fleet.procs["beat"].poll() is None
