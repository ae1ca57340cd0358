"""Fan-out: a delivery row per (event, matching endpoint), read from the event log by beat.

Not in the state change's transaction (that path stays one INSERT longer, not one per endpoint):
beat reads the event table like any reader, behind a cursor persisted in ``FanoutCursor``.

Why it never misses an event: ids are taken when an event is inserted but become visible when
its transaction commits, in any order, so "id > cursor" alone would skip an id whose transaction
commits after a larger one was read. Each round therefore

1. notes a checkpoint ``(head, t)``: ``head`` the largest visible id, ``t`` the (monotonic) time
   it was read. Every id up to ``head`` was taken before ``t``;
2. fans out the events it has not seen yet: new ids above what it has read, and any id in
   ``(cursor, read]`` that has become visible since (a late commit);
3. moves the cursor to the largest checkpoint ``head`` older than
   ``ATOMFLEET_WEBHOOK_HORIZON_SECONDS``: a transaction that held an id up to it started before
   its ``t``, so it has ended if no event-writing transaction lasts longer than the horizon
   (they are a few short statements; the horizon is a setting, default 120 s, for a database
   that can stall them longer).

And never repeats one: a delivery is unique per (endpoint, event); meeting an event again (a beat
restart forgets what it has seen above the cursor) inserts nothing. An endpoint receives only
events created after it (a replay sends older ones on request).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Max, Q

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


@dataclass
class _Memory:
    """What this process has fanned out above the persisted cursor (lost on restart: harmless)."""

    cursor: int | None = None
    read: int = 0  # every visible id up to here was fanned out (ids in `seen`)
    seen: set[int] = field(default_factory=set)
    checkpoints: deque[tuple[int, float]] = field(default_factory=deque)


_memory = _Memory()


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
    if not events:
        return 0
    endpoints = WebhookEndpoint.objects.filter(enabled=True, tenant_id__in={e.tenant_id for e in events})
    rows = deliveries_for(events, endpoints)
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def fan_out(limit: int | None = None) -> FanoutReport:
    """One round (beat, every ATOMFLEET_WEBHOOK_INTERVAL): at most ``limit`` new events."""
    limit = limit or settings.ATOMFLEET_WEBHOOK_BATCH
    memory = _memory
    started = time.monotonic()
    row, _ = FanoutCursor.objects.get_or_create(name=CURSOR)
    cursor = row.last_event_id
    if memory.cursor != cursor:  # first round, or another process moved it: start from it
        memory.cursor, memory.read, memory.seen, memory.checkpoints = cursor, cursor, set(), deque()
    head = Event.objects.filter(id__gt=cursor).aggregate(top=Max("id"))["top"] or cursor
    if not memory.checkpoints or head > memory.checkpoints[-1][0]:
        memory.checkpoints.append((head, time.monotonic()))  # the earliest time head was seen

    late = [i for i in Event.objects.filter(id__gt=cursor, id__lte=memory.read).values_list("id", flat=True)
            if i not in memory.seen][:limit]
    fresh = Q(id__gt=memory.read, id__lte=head)
    events = list(Event.objects.filter(Q(id__in=late) | fresh).order_by("id")[: limit + len(late)])
    report = FanoutReport(events=len(events))
    report.deliveries = _insert(events)
    memory.seen.update(e.id for e in events)
    new = [e.id for e in events if e.id > memory.read]
    if new:
        # A full batch stops at its last event; otherwise everything visible up to head was read.
        memory.read = new[-1] if len(events) >= limit + len(late) else head
    elif head > memory.read:
        memory.read = head

    horizon = started - settings.ATOMFLEET_WEBHOOK_HORIZON_SECONDS
    settled = [h for h, t in memory.checkpoints if t <= horizon and h <= memory.read]
    if settled and max(settled) > cursor and len(late) < limit:
        target = max(settled)
        if FanoutCursor.objects.filter(name=CURSOR, last_event_id=cursor).update(last_event_id=target):
            memory.cursor = cursor = target
            memory.seen = {i for i in memory.seen if i > target}
            while memory.checkpoints and memory.checkpoints[0][0] <= target:
                memory.checkpoints.popleft()
    report.cursor = cursor
    return report
