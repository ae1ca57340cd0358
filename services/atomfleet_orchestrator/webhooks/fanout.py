"""Fan-out: a delivery row per (event, matching endpoint), read from the event log by beat.

Not in the state change's transaction (that path stays one INSERT longer, not one per endpoint):
beat reads the event table like any reader, behind a cursor persisted in ``FanoutCursor``.

It reads through ``events.read.page``, which returns only ids below the oldest transaction still
in flight: every id below that line has committed or never will, so nothing can appear behind the
cursor later. The cursor therefore moves to the last id read and nothing is read twice. The rows
and the cursor's move commit together, the move guarded by the cursor's old value: a second beat
(or a round that died before committing) inserts nothing twice — a delivery is also unique per
(endpoint, event). An endpoint receives only events created after it (a replay sends older ones
on request).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from atomfleet_orchestrator.events import read
from atomfleet_orchestrator.events.models import Event
from atomfleet_orchestrator.webhooks.models import FanoutCursor, WebhookDelivery, WebhookEndpoint
from atomfleet_orchestrator.webhooks.patterns import matches

__all__ = ["FanoutReport", "deliveries_for", "fan_out"]

log = logging.getLogger(__name__)
CURSOR = "webhooks"


@dataclass
class FanoutReport:
    events: int = 0
    deliveries: int = 0
    cursor: int = 0


def deliveries_for(events: Iterable[Event], endpoints: Iterable[WebhookEndpoint]) -> list[WebhookDelivery]:
    by_tenant: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in endpoints:
        by_tenant.setdefault(endpoint.tenant_id, []).append(endpoint)
    return [
        WebhookDelivery(endpoint=endpoint, event_id=event.id, event_type=event.type)
        for event in events
        for endpoint in by_tenant.get(event.tenant_id, ())
        if endpoint.created_at <= event.created_at and matches(endpoint.events, event.type)
    ]


def _insert(events: list[Event]) -> int:
    endpoints = WebhookEndpoint.objects.filter(enabled=True, tenant_id__in={e.tenant_id for e in events})
    rows = deliveries_for(events, endpoints)
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def fan_out(limit: int | None = None) -> FanoutReport:
    """One round (beat, every ATOMFLEET_WEBHOOK_INTERVAL): at most ``limit`` new events."""
    limit = limit or settings.ATOMFLEET_WEBHOOK_BATCH
    cursor = FanoutCursor.objects.get_or_create(name=CURSOR)[0].last_event_id
    events = read.page(cursor, None, limit)
    report = FanoutReport(events=len(events), cursor=cursor)
    if not events:
        return report
    with transaction.atomic():
        report.deliveries = _insert(events)
        if FanoutCursor.objects.filter(name=CURSOR, last_event_id=cursor).update(last_event_id=events[-1].id):
            report.cursor = events[-1].id
        else:  # another round moved it first: its rows stand, these would repeat them
            transaction.set_rollback(True)
            report.deliveries = 0
            log.info("webhook fan-out: the cursor moved under this round (another beat?); nothing written")
    return report
