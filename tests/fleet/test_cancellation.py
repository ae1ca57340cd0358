"""Cancellation of queued and running runs through real workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.models import AtomRun

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
    api: APIClient, wait_for: Callable[..., dict[str, Any]], wait_drained: Callable[..., None]
) -> None:
    # Given every default slot busy, a run waits in the queue
    busy = [
        api.post("/api/v1/atoms/diagnostics.sleep/runs", {"args": {"seconds": 60, "steps": 120}}, format="json").json()
        for _ in range(3)
    ]
    for run in busy:
        wait_for(run["id"], lambda r: r["status"] == "running")
    run = api.post("/api/v1/atoms/text.stats/runs", {"args": {"text": "never"}}, format="json").json()
    # When it is cancelled there, then the slots free up and its message is delivered
    assert api.post(f"/api/v1/runs/{run['id']}/cancel").json()["status"] == "cancelled"
    for other in busy:
        api.post(f"/api/v1/runs/{other['id']}/cancel")
    for other in busy:
        assert wait_for(other["id"], timeout=30)["status"] == "cancelled"
    wait_drained("default")
    # Then it never ran
    row = AtomRun.objects.get(id=run["id"])
    assert row.status == "cancelled" and row.attempts == 0 and row.started_at is None
