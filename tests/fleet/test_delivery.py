"""Delivery through the shared test fleet: broker outage at submit, duplicate messages, pool
processes and whole workers killed mid-run. Beat runs as in a deployment; nothing is repaired by
hand. The fault suite (tests/faults) drills the same and worse against a deployment of its own.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.dispatch import Target, publish
from atomfleet_orchestrator.runs.models import AtomRun
from tests.fleet.test_time_limits import children_of
from tests.support.tcp_proxy import TcpProxy
from tests.support.workers import WorkerFleet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fleet]

Wait = Callable[..., dict[str, Any]]


def _submit(api: APIClient, atom: str, args: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"/api/v1/atoms/{atom}/runs", {"args": args}, format="json")
    assert response.status_code == 202, response.content
    return dict(response.json())


def _running(wait_for: Wait, run_id: str) -> dict[str, Any]:
    return wait_for(run_id, lambda r: r["status"] == "running" and r["progress"]["fraction"] > 0)


def _pid(run: dict[str, Any]) -> int:
    return int(run["worker"].rpartition(":")[2])


@pytest.mark.usefixtures("worker_fleet")
def test_broker_down_at_submit_is_accepted_at_once_and_sent_by_the_outbox(
    api: APIClient, wait_for: Wait, broker_outage: TcpProxy
) -> None:
    # Given the API process cannot reach the broker (beat, elsewhere, can)
    broker_outage.down()
    started = time.monotonic()
    run = _submit(api, "text.stats", {"text": "kept safe"})
    # Then the run is committed and answered at once, and beat's outbox publishes it
    assert time.monotonic() - started < 5
    assert AtomRun.objects.get(id=run["id"]).status in ("queued", "running", "succeeded")
    done = wait_for(run["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 1


@pytest.mark.usefixtures("worker_fleet")
@pytest.mark.parametrize("atom", ["diagnostics.sleep", "diagnostics.sleep_once"])
def test_a_message_delivered_twice_executes_once(
    api: APIClient, wait_for: Wait, wait_drained: Callable[..., None], atom: str
) -> None:
    run = _submit(api, atom, {"seconds": 2, "steps": 4})
    _running(wait_for, run["id"])
    row = AtomRun.objects.get(id=run["id"])
    publish(Target(str(row.id), row.atom, row.queue, row.celery_task_id))  # the duplicate, mid-run
    assert wait_for(run["id"])["status"] == "succeeded"
    wait_drained("default", timeout=30)
    time.sleep(1)  # a copy taken just now is refused at its claim, not run
    assert AtomRun.objects.get(id=run["id"]).attempts == 1


@pytest.mark.usefixtures("worker_fleet")
def test_sigkill_of_the_pool_process_mid_idempotent_run_retries_it(api: APIClient, wait_for: Wait) -> None:
    run = _submit(api, "diagnostics.sleep", {"seconds": 3, "steps": 6})
    os.kill(_pid(_running(wait_for, run["id"])), signal.SIGKILL)
    # The worker's main process records the loss at once; beat publishes the next attempt.
    done = wait_for(run["id"], timeout=60)
    assert done["status"] == "succeeded" and done["attempts"] == 2


@pytest.mark.usefixtures("worker_fleet")
def test_what_the_atom_started_dies_with_its_killed_pool_process(api: APIClient, wait_for: Wait) -> None:
    run = _submit(api, "diagnostics.sleep_once", {"seconds": 30, "steps": 60, "spawn_child": True})
    pid = _pid(_running(wait_for, run["id"]))
    assert children_of(run["id"]), "the atom's child did not start"
    os.kill(pid, signal.SIGKILL)  # the OOM killer, an operator
    done = wait_for(run["id"], timeout=30)
    assert done["status"] == "failed" and done["error"]["code"] == "worker_lost"
    time.sleep(1)
    assert children_of(run["id"]) == [], "the atom's child outlived its pool process"


@pytest.mark.usefixtures("worker_fleet")
def test_sigkill_of_the_pool_process_mid_non_idempotent_run_fails_worker_lost(api: APIClient, wait_for: Wait) -> None:
    run = _submit(api, "diagnostics.sleep_once", {"seconds": 4, "steps": 8})
    os.kill(_pid(_running(wait_for, run["id"])), signal.SIGKILL)
    done = wait_for(run["id"], timeout=30)
    assert done["status"] == "failed" and done["error"]["code"] == "worker_lost"
    assert done["attempts"] == 1


def test_a_lost_worker_group_mid_non_idempotent_run_is_reconciled_to_worker_lost(
    api: APIClient, wait_for: Wait, worker_fleet: WorkerFleet
) -> None:
    run = _submit(api, "diagnostics.sleep_once", {"seconds": 30, "steps": 60})
    _running(wait_for, run["id"])
    worker_fleet.kill("default")  # the pod is gone: no main process is left to record anything
    try:
        # Beat finds the heartbeat stale (ATOMFLEET_STALE_AFTER_SECONDS=6 in tests)
        done = wait_for(run["id"], timeout=30)
        assert done["status"] == "failed" and done["error"]["code"] == "worker_lost"
        assert done["attempts"] == 1
    finally:
        worker_fleet.restart("default", concurrency=3)  # as the Deployment replaces the pod


def test_a_lost_worker_group_mid_idempotent_run_is_retried_by_another_worker(
    api: APIClient, wait_for: Wait, worker_fleet: WorkerFleet
) -> None:
    run = _submit(api, "diagnostics.sleep", {"seconds": 4, "steps": 8})
    first = _running(wait_for, run["id"])
    worker_fleet.kill("default")
    worker_fleet.restart("default", concurrency=3)
    done = wait_for(run["id"], timeout=60)
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert done["worker"] != first["worker"] and done["celery_task_id"] == first["celery_task_id"]
