"""Fan-out and the send-time guard, in-process: the maintenance round called as beat calls it,
the sender task's function called as a worker calls it."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from django.db import connection

from atomfleet_orchestrator.tenancy.models import Tenant
from atomfleet_orchestrator.webhooks import fanout
from atomfleet_orchestrator.webhooks.models import FanoutCursor, WebhookDelivery, WebhookEndpoint
from atomfleet_orchestrator.webhooks.sending import deliver
from atomfleet_orchestrator.webhooks.signing import new_secret
from tests.support.live_api import database_url
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fresh_beat(monkeypatch: pytest.MonkeyPatch) -> None:
    """A beat process that has not fanned anything out yet."""
    monkeypatch.setattr(fanout, "_memory", fanout._Memory())


def _endpoint(tenant: Tenant, url: str = "http://93.184.215.14/x") -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(tenant=tenant, url=url, events=["*"], secret=new_secret())


def _cursor() -> int:
    return FanoutCursor.objects.get(name=fanout.CURSOR).last_event_id


def test_an_event_committed_after_a_later_one_is_still_fanned_out(
    hook_tenant: Any, emit: Any, settings: Any, fresh_beat: None
) -> None:
    settings.ATOMFLEET_WEBHOOK_HORIZON_SECONDS = 3
    tenant, _ = hook_tenant
    endpoint = _endpoint(tenant)
    # Given a writer that took event id N and holds its transaction open...
    with psycopg.connect(database_url(), autocommit=False) as held:
        held_id = held.execute(
            "INSERT INTO events_event (tenant_id, type, data, created_at) VALUES (%s, 'run.started', '{}', now()) RETURNING id",
            [tenant.id],
        ).fetchone()[0]  # type: ignore[index]
        # ...while later events commit.
        later = [emit(tenant, "run.succeeded").id for _ in range(3)]
        assert min(later) > held_id
        for _ in range(5):
            fanout.fan_out()
            time.sleep(0.2)
        fanned = set(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event_id", flat=True))
        assert fanned == set(later)
        assert _cursor() < held_id  # the cursor never passes an id that may still commit
        held.commit()
    # When it commits, the next round fans it out; once the horizon has passed the cursor moves.
    fanout.fan_out()
    assert set(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event_id", flat=True)) == {held_id, *later}
    time.sleep(3.2)
    fanout.fan_out()
    assert _cursor() == max(later)


def test_a_restarted_beat_never_duplicates_and_endpoints_get_only_newer_events(
    hook_tenant: Any, emit: Any, settings: Any, fresh_beat: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ATOMFLEET_WEBHOOK_HORIZON_SECONDS = 60  # the cursor stays behind: a restart reads again
    tenant, _ = hook_tenant
    older = emit(tenant, "run.started")
    endpoint = _endpoint(tenant)
    events = [emit(tenant, "run.succeeded").id for _ in range(4)]
    assert fanout.fan_out(limit=3).events == 3  # bounded batches (the older event counts, matches none)
    fanout.fan_out(limit=3)
    monkeypatch.setattr(fanout, "_memory", fanout._Memory())  # beat restarted: memory lost
    fanout.fan_out()
    rows = list(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event_id", flat=True))
    assert sorted(rows) == events and older.id not in rows


def test_send_time_guard_refuses_an_address_the_setting_does_not_admit(
    hook_tenant: Any, emit: Any, settings: Any, fresh_beat: None
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
