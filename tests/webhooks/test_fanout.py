"""Fan-out and the send-time guard, in-process: the maintenance round called as beat calls it,
the sender task's function called as a worker calls it."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.db import connection, transaction

from atomfleet_orchestrator.events import log, read
from atomfleet_orchestrator.events.models import Event, EventType
from atomfleet_orchestrator.tenancy.models import Tenant
from atomfleet_orchestrator.webhooks import fanout
from atomfleet_orchestrator.webhooks.models import FanoutCursor, WebhookDelivery, WebhookEndpoint
from atomfleet_orchestrator.webhooks.sending import deliver
from atomfleet_orchestrator.webhooks.signing import new_secret
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def _endpoint(tenant: Tenant, url: str = "http://93.184.215.14/x") -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(tenant=tenant, url=url, events=["*"], secret=new_secret())


def _cursor() -> int:
    return FanoutCursor.objects.get(name=fanout.CURSOR).last_event_id


def _fanned(endpoint: WebhookEndpoint) -> list[int]:
    return list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("event_id").values_list("event_id", flat=True))


def test_an_event_committed_after_a_later_one_is_fanned_out_once_and_the_cursor_never_rereads(
    hook_tenant: Any, emit: Any
) -> None:
    tenant, _ = hook_tenant
    endpoint = _endpoint(tenant)
    # Given a writer that took an event id and holds its transaction open...
    written, may_commit = threading.Event(), threading.Event()

    def held_writer() -> None:
        with transaction.atomic():
            log.emit(EventType.RUN_STARTED, tenant_id=tenant.id, run_id=uuid.uuid4(), data={})
            written.set()
            assert may_commit.wait(20)
        connection.close()

    thread = threading.Thread(target=held_writer)
    thread.start()
    try:
        assert written.wait(10)
        # ...while later events commit: the fan-out reads only below the open transaction.
        later = [emit(tenant, "run.succeeded").id for _ in range(3)]
        for _ in range(3):
            assert fanout.fan_out().events == 0
        assert _fanned(endpoint) == []
        assert _cursor() == 0
    finally:
        may_commit.set()
        thread.join(10)
    held_id = Event.objects.get(tenant=tenant, type="run.started").id
    assert held_id < min(later)
    # When it commits, one round fans out all four in id order and moves the cursor past them.
    report = fanout.fan_out()
    assert (report.events, report.deliveries, report.cursor) == (4, 4, max(later))
    assert _fanned(endpoint) == [held_id, *later]
    # Nothing is read again.
    assert fanout.fan_out().events == 0


def test_bounded_rounds_never_duplicate_and_endpoints_get_only_newer_events(
    hook_tenant: Any, emit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, _ = hook_tenant
    older = emit(tenant, "run.started")
    endpoint = _endpoint(tenant)
    events = [emit(tenant, "run.succeeded").id for _ in range(4)]
    assert fanout.fan_out(limit=3).events == 3  # bounded batches (the older event counts, matches none)
    assert _cursor() == events[1]
    assert fanout.fan_out(limit=3).events == 2
    assert fanout.fan_out(limit=3).events == 0
    assert _fanned(endpoint) == events and older.id not in events
    # A round whose cursor another beat moved while it read writes nothing (that beat wrote them).
    read_page = read.page

    def page_while_another_beat_moves_the_cursor(*args: Any, **kwargs: Any) -> list[Event]:
        rows = read_page(*args, **kwargs)
        FanoutCursor.objects.filter(name=fanout.CURSOR).update(last_event_id=rows[-1].id)
        return rows

    monkeypatch.setattr(read, "page", page_while_another_beat_moves_the_cursor)
    newest = emit(tenant, "run.succeeded").id
    assert fanout.fan_out().deliveries == 0
    assert _fanned(endpoint) == events and _cursor() == newest


def test_send_time_guard_refuses_an_address_the_setting_does_not_admit(
    hook_tenant: Any, emit: Any, settings: Any
) -> None:
    # The endpoint was admitted when created (then the DNS answer, or the setting, changed): the
    # sender resolves and checks again before connecting.
    settings.ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS = ()
    receiver = Receiver().up()
    try:
        endpoint = _endpoint(hook_tenant[0], receiver.url("localhost"))
        emit(hook_tenant[0], "run.succeeded")
        fanout.fan_out()
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert deliver(str(delivery.id)) == "pending"
    finally:
        receiver.down()
    assert receiver.received == []
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.failures) == (1, 1) and "loopback" in delivery.last_error
    assert deliver(str(delivery.id)) == "not_due"  # a duplicate message before the retry is due: nothing
    connection.close()
