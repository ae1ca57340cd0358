"""Delivery guarantees: broker outage at submit, duplicate messages, workers killed mid-run."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.dispatch import dispatch_outbox, publish
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.reconcile import reconcile
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
def test_broker_down_at_submit_is_accepted_and_sent_once_it_is_back(
    api: APIClient, wait_for: Wait, broker_outage: TcpProxy
) -> None:
    broker_outage.down()
    started = time.monotonic()
    run = _submit(api, "text.stats", {"text": "kept safe"})
    assert time.monotonic() - started < 10  # the API does not hang on a dead broker
    row = AtomRun.objects.get(id=run["id"])
    assert row.status == "queued" and row.dispatched_at is None

    assert dispatch_outbox() == 0  # still down: stays in the outbox
    broker_outage.up()
    assert dispatch_outbox() == 1
    assert AtomRun.objects.get(id=run["id"]).dispatched_at is not None
    assert wait_for(run["id"])["status"] == "succeeded"
    assert dispatch_outbox() == 0


@pytest.mark.usefixtures("worker_fleet")
@pytest.mark.parametrize("atom", ["diagnostics.sleep", "diagnostics.sleep_once"])
def test_a_message_delivered_twice_executes_once(
    api: APIClient, wait_for: Wait, wait_drained: Callable[..., None], atom: str
) -> None:
    run = _submit(api, atom, {"seconds": 2, "steps": 4})
    _running(wait_for, run["id"])
    row = AtomRun.objects.get(id=run["id"])
    publish(str(row.id), row.atom, row.queue, row.celery_task_id)  # the duplicate, mid-run
    assert wait_for(run["id"])["status"] == "succeeded"
    wait_drained("default", timeout=30)  # every copy consumed (the idempotent one deferred, then dropped)
    assert AtomRun.objects.get(id=run["id"]).attempts == 1


@pytest.mark.usefixtures("worker_fleet")
def test_sigkill_of_the_child_mid_idempotent_run_still_completes(api: APIClient, wait_for: Wait) -> None:
    run = _submit(api, "diagnostics.sleep", {"seconds": 4, "steps": 8})
    os.kill(_pid(_running(wait_for, run["id"])), signal.SIGKILL)
    done = wait_for(run["id"], timeout=90)
    assert done["status"] == "succeeded" and done["attempts"] == 2


@pytest.mark.usefixtures("worker_fleet")
def test_sigkill_of_the_child_mid_non_idempotent_run_fails_worker_lost(api: APIClient, wait_for: Wait) -> None:
    run = _submit(api, "diagnostics.sleep_once", {"seconds": 4, "steps": 8})
    os.kill(_pid(_running(wait_for, run["id"])), signal.SIGKILL)
    done = wait_for(run["id"], timeout=30)
    assert done["status"] == "failed" and done["error"]["code"] == "worker_lost"
    assert done["attempts"] == 1


def _lose_default_worker(fleet: WorkerFleet, broker: redis.Redis) -> None:
    fleet.kill("default")
    # The dead worker's late-acked message would come back after visibility_timeout (12 h);
    # forget it so later tests see a drained queue. Workers of other queues are idle here.
    broker.delete("unacked", "unacked_index")
    fleet.restart("default", concurrency=3)


def test_lost_worker_mid_non_idempotent_run_is_reconciled_to_worker_lost(
    api: APIClient, wait_for: Wait, worker_fleet: WorkerFleet, broker_redis: redis.Redis
) -> None:
    run = _submit(api, "diagnostics.sleep_once", {"seconds": 30, "steps": 60})
    _running(wait_for, run["id"])
    _lose_default_worker(worker_fleet, broker_redis)
    time.sleep(5)  # ATOMFLEET_STALE_AFTER_SECONDS=4 in tests
    assert reconcile().failed == 1
    done = wait_for(run["id"], timeout=5)
    assert done["status"] == "failed" and done["error"]["code"] == "worker_lost"


def test_lost_worker_mid_idempotent_run_is_redispatched_and_completes(
    api: APIClient, wait_for: Wait, worker_fleet: WorkerFleet, broker_redis: redis.Redis
) -> None:
    run = _submit(api, "diagnostics.sleep", {"seconds": 30, "steps": 60})
    first_task = _running(wait_for, run["id"])["celery_task_id"]
    _lose_default_worker(worker_fleet, broker_redis)
    time.sleep(5)
    AtomRun.objects.filter(id=run["id"]).update(args={"seconds": 1, "steps": 2})  # finish fast on retry
    assert reconcile().requeued == 1
    done = wait_for(run["id"], timeout=60)
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert done["celery_task_id"] != first_task
