"""Cancellation of queued and running runs through real workers."""

from __future__ import annotations

import time
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


def test_a_run_cancelled_while_its_attempt_fails_transiently_ends_cancelled_without_retrying(
    api: APIClient, wait_for: Callable[..., dict[str, Any]]
) -> None:
    # Given an attempt that cannot see the cancellation (it holds the GIL) and then fails transiently
    run = api.post("/api/v1/atoms/diagnostics.sleep/runs",
                   {"args": {"seconds": 0, "fail_attempts": 5, "hold_gil_seconds": 3}}, format="json").json()
    wait_for(run["id"], lambda r: r["status"] == "running")
    # When it is cancelled while that attempt runs
    response = api.post(f"/api/v1/runs/{run['id']}/cancel")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    # Then the attempt's end is the run's end: cancelled, never `retrying`, no other attempt
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = api.get(f"/api/v1/runs/{run['id']}").json()["status"]
        if status != "running":
            seen.append(status)
        if status in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.05)
    assert seen and seen[-1] == "cancelled" and "retrying" not in seen, seen
    row = AtomRun.objects.get(id=run["id"])
    assert (row.status, row.error_code, row.attempts) == ("cancelled", "cancelled", 1)
