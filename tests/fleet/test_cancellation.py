"""Cancellation of queued and running runs through real workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.dispatch import dispatch_outbox, publish
from atomfleet_orchestrator.runs.models import AtomRun
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fleet, pytest.mark.usefixtures("worker_fleet")]


def test_cancelling_a_running_run_stops_it_cooperatively(api: APIClient, wait_for: Callable[..., dict[str, Any]]) -> None:
    run = api.post("/api/v1/atoms/diagnostics.sleep/runs", {"args": {"seconds": 60, "steps": 120}}, format="json").json()
    wait_for(run["id"], lambda r: r["status"] == "running")
    response = api.post(f"/api/v1/runs/{run['id']}/cancel")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    done = wait_for(run["id"], timeout=15)
    assert done["status"] == "cancelled" and done["error"]["code"] == "cancelled"
    assert done["progress"]["fraction"] < 0.5


def test_a_cancelled_queued_run_is_never_executed(
    api: APIClient, wait_drained: Callable[..., None], broker_outage: TcpProxy
) -> None:
    broker_outage.down()  # keep it queued
    run = api.post("/api/v1/atoms/text.stats/runs", {"args": {"text": "never"}}, format="json").json()
    assert api.post(f"/api/v1/runs/{run['id']}/cancel").json()["status"] == "cancelled"
    broker_outage.up()
    assert dispatch_outbox() == 0
    row = AtomRun.objects.get(id=run["id"])
    publish(str(row.id), row.atom, row.queue, row.celery_task_id)  # a stray message still arrives
    wait_drained("default")
    row.refresh_from_db()
    assert row.status == "cancelled" and row.attempts == 0 and row.started_at is None
