"""Webhooks end to end: events in the table, a real beat fanning out and publishing, a real
``celery worker -Q webhooks`` posting to a real receiver; signatures checked with the
``standardwebhooks`` package (the independent oracle)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from standardwebhooks import Webhook

from atomfleet_orchestrator.webhooks.models import WebhookEndpoint
from tests.webhooks.conftest import deliveries, wait_until
from tests.webhooks.receiver import Receiver, Reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("senders", "loopback_allowed")]


def _create(client: Any, url: str, events: list[str]) -> dict[str, Any]:
    response = client.post("/api/v1/webhooks", {"url": url, "events": events, "description": "test"}, format="json")
    assert response.status_code == 201, response.json()
    return dict(response.json())


def test_subscribed_events_arrive_signed_once_each(hook_tenant: Any, emit: Any) -> None:
    tenant, client = hook_tenant
    receiver = Receiver().up()
    try:
        # A host name: the sender connects to the address it checked and keeps the name as Host.
        hook = _create(client, receiver.url("localhost"), ["run.succeeded", "workflow.*"])
        wanted = [emit(tenant, "run.succeeded"), emit(tenant, "workflow.started")]
        emit(tenant, "run.failed")  # not subscribed
        wait_until(lambda: len(receiver.received) >= 2, 30, "two deliveries")
        time.sleep(1.5)  # nothing else arrives (no duplicates, nothing unsubscribed)
    finally:
        receiver.down()
    assert len(receiver.received) == 2
    verifier = Webhook(hook["secret"])
    bodies = [verifier.verify(r.body, r.headers) for r in receiver.received]
    assert sorted(b["type"] for b in bodies) == ["run.succeeded", "workflow.started"]
    assert sorted(b["data"]["event_id"] for b in bodies) == sorted(e.id for e in wanted)
    assert all(set(b) == {"type", "timestamp", "data"} and b["data"]["links"] for b in bodies)
    assert all(r.headers["host"] == f"localhost:{receiver.port}" for r in receiver.received)
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["results"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("delivered", 1, 200)] * 2
    assert all(d["last_latency_ms"] is not None and d["next_attempt_at"] is None for d in log)
    assert {d["webhook_id"] for d in log} == set(receiver.ids())


def test_receiver_down_for_several_rounds_gets_every_event_when_back(hook_tenant: Any, emit: Any) -> None:
    tenant, client = hook_tenant
    receiver = Receiver()  # not listening: connections refused
    hook = _create(client, receiver.url(), ["*"])
    events = [emit(tenant, t) for t in ("run.accepted", "run.started", "run.progress", "run.succeeded", "run.failed")]
    wait_until(lambda: all(d.attempts >= 3 for d in deliveries(hook["id"])) and len(deliveries(hook["id"])) == 5,
               60, "three failed attempts of each delivery")
    assert all(d.status in ("pending", "sending") and "ConnectError" in d.last_error for d in deliveries(hook["id"]))
    receiver.up()
    try:
        wait_until(lambda: all(d.status == "delivered" for d in deliveries(hook["id"])), 30, "all delivered")
        time.sleep(1)
    finally:
        receiver.down()
    verifier = Webhook(hook["secret"])
    got = sorted(verifier.verify(r.body, r.headers)["data"]["event_id"] for r in receiver.received)
    assert got == [e.id for e in events]  # every event, each once
    assert len(set(receiver.ids())) == 5


def test_sender_killed_mid_delivery_delivers_with_the_same_webhook_id(hook_tenant: Any, emit: Any, senders: Any) -> None:
    tenant, client = hook_tenant
    receiver = Receiver(Reply(200, delay=30), Reply(200)).up()  # the first answer never comes in time
    try:
        hook = _create(client, receiver.url(), ["run.succeeded"])
        emit(tenant, "run.succeeded")
        wait_until(lambda: receiver.received, 30, "the first attempt")
        senders.kill("webhooks")  # SIGKILL the whole worker while it waits for the answer
        killed_at = time.monotonic()
        senders.start("webhooks")
        senders.wait_consuming("webhooks")
        wait_until(lambda: len(receiver.received) >= 2, 30, "the retry after the lease")
        retried_after = receiver.received[1].at - killed_at
        wait_until(lambda: deliveries(hook["id"])[0].status == "delivered", 10, "delivered")
    finally:
        receiver.down()
    first, second = receiver.received[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    Webhook(hook["secret"]).verify(second.body, second.headers)
    delivery = deliveries(hook["id"])[0]
    assert (delivery.attempts, delivery.webhook_id) == (2, first.headers["webhook-id"])
    assert retried_after < 20, f"retried {retried_after:.1f}s after the kill (lease 4 s)"


def test_410_disables_the_endpoint(hook_tenant: Any, emit: Any) -> None:
    tenant, client = hook_tenant
    receiver = Receiver(Reply(410)).up()
    try:
        hook = _create(client, receiver.url(), ["*"])
        emit(tenant, "run.succeeded")
        wait_until(lambda: not WebhookEndpoint.objects.get(id=hook["id"]).enabled, 30, "disabled")
        emit(tenant, "run.failed")
        time.sleep(2)  # several beat rounds
    finally:
        receiver.down()
    assert len(receiver.received) == 1
    endpoint = client.get(f"/api/v1/webhooks/{hook['id']}").json()
    assert endpoint["enabled"] is False and "410" in endpoint["disabled_reason"]
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["results"]
    assert [(d["status"], d["last_status_code"]) for d in log] == [("failed", 410)]


def test_429_retry_after_is_honoured(hook_tenant: Any, emit: Any) -> None:
    tenant, client = hook_tenant
    receiver = Receiver(Reply(429, {"Retry-After": "4"}), Reply(200)).up()
    try:
        hook = _create(client, receiver.url(), ["run.succeeded"])
        emit(tenant, "run.succeeded")
        wait_until(lambda: len(receiver.received) >= 2, 30, "the second attempt")
    finally:
        receiver.down()
    gap = receiver.received[1].at - receiver.received[0].at
    # The schedule alone would retry after 1 s.
    assert 4 <= gap < 8, f"second attempt {gap:.2f}s after the 429"
    assert deliveries(hook["id"])[0].status == "delivered"


def test_rotation_sends_two_signatures_that_both_verify(hook_tenant: Any, emit: Any) -> None:
    tenant, client = hook_tenant
    receiver = Receiver().up()
    try:
        hook = _create(client, receiver.url(), ["run.succeeded"])
        rotated = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret").json()
        assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
        emit(tenant, "run.succeeded")
        wait_until(lambda: receiver.received, 30, "a delivery")
    finally:
        receiver.down()
    request = receiver.received[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (hook["secret"], rotated["secret"]):
        assert json.loads(request.body) == Webhook(secret).verify(request.body, request.headers)




@pytest.mark.usefixtures("worker_fleet", "registered_atoms")
def test_a_real_run_through_real_workers_is_delivered_signed(hook_tenant: Any) -> None:
    """Nothing emitted by hand: the run's own transitions write the events, real workers run it."""
    tenant, client = hook_tenant
    receiver = Receiver().up()
    try:
        hook = _create(client, receiver.url(), ["run.started", "run.succeeded"])
        response = client.post("/api/v1/atoms/text.stats/runs", {"args": {"text": "to be or not to be"}}, format="json")
        assert response.status_code == 202, response.json()
        run_id = response.json()["id"]
        from atomfleet_orchestrator.webhooks.tasks import _webhooks_round

        def delivered() -> bool:
            _webhooks_round()  # beat's round, run here as beat runs it (the session beat leaves it)
            return len(receiver.received) >= 2

        wait_until(delivered, 60, "the run's started and succeeded deliveries")
        _webhooks_round()
        time.sleep(1.5)  # nothing else arrives
    finally:
        receiver.down()
    verifier = Webhook(hook["secret"])
    bodies = [verifier.verify(r.body, r.headers) for r in receiver.received]
    assert sorted(b["type"] for b in bodies) == ["run.started", "run.succeeded"]
    assert {b["data"]["run_id"] for b in bodies} == {run_id}
    succeeded = next(b for b in bodies if b["type"] == "run.succeeded")
    assert succeeded["data"]["status"] == "succeeded" and "result" not in succeeded["data"]
    assert succeeded["data"]["links"]["run"].endswith(f"/api/v1/runs/{run_id}")
    assert len(set(receiver.ids())) == 2
