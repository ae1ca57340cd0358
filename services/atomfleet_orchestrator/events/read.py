"""Gap-free reading of the event log: pages by id, never past the horizon.

Ids are assigned when an event is inserted, but transactions commit in any order, so "every event
with an id above the last one I saw" can skip an event whose transaction commits after a later one
was read. Each id is ``txid << ID_SHIFT | n`` (``events.log``), and the horizon is the oldest
transaction of this database still in flight (or, with none, the next transaction id to be given
out): every transaction with a smaller id has ended, and every transaction that will ever write
gets a larger id. So below ``horizon << ID_SHIFT`` the set of ids is final — nothing commits there
later — and a reader that returns only ids below it, in id order, never misses an event and,
remembering the last id it returned, never repeats one.

How the horizon is taken (one statement, then the read in a later one): the statement's snapshot
gives ``xmax``, the next id to be given out; ``pg_stat_activity`` (read after that snapshot was
taken) lists the transaction id of every backend of this database. A transaction below ``xmax``
that is missing from that list had ended before the read, hence before the later statement that
reads the events. Transactions of other databases on the same server are ignored, so they never
hold this database's readers back. The cost: a long transaction that writes in this database holds
every reader back until it ends (statement_timeout bounds it).

SQLite (the local fleet) runs one writing transaction at a time: ids commit in order, no horizon.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from atomfleet_orchestrator.events.log import ID_SHIFT
from atomfleet_orchestrator.events.models import Event

__all__ = ["Filters", "horizon", "page"]

_XID_MOD = 1 << 32
# backend_xid is a 32-bit xid: widened to xid8 against xmax (it is at most 2**31 older than xmax).
# A transaction that took its xid after the snapshot (between it and the pg_stat_activity read)
# is newer than xmax: its distance wraps to above 2**31, and it bounds nothing (it is >= xmax).
_AGE = f"((((s.xmax - a.backend_xid::text::bigint) % {_XID_MOD}) + {_XID_MOD}) % {_XID_MOD})"
_HORIZON_SQL = f"""
WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax)
SELECT LEAST(s.xmax, MIN(s.xmax - CASE WHEN {_AGE} >= {1 << 31} THEN 0 ELSE {_AGE} END))
FROM s LEFT JOIN pg_stat_activity a ON a.datname = current_database() AND a.backend_xid IS NOT NULL
GROUP BY s.xmax
"""


def horizon() -> int | None:
    """Exclusive upper bound of the event ids that are final; None: every committed id is."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            # pg_stat_activity is read once per transaction: a second read would be stale.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(_HORIZON_SQL)
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]) << ID_SHIFT


@dataclass(frozen=True)
class Filters:
    """Which events a reader wants; every field narrows (all empty: the tenant's every event)."""

    tenant_id: int
    types: tuple[str, ...] = ()  # exact types, or prefixes written ``run.*``
    run_id: uuid.UUID | None = None
    workflow_id: uuid.UUID | None = None

    def query(self) -> Q:
        q = Q(tenant_id=self.tenant_id)
        if self.types:
            any_type = Q()
            for t in self.types:
                any_type |= Q(type__startswith=t[:-1]) if t.endswith("*") else Q(type=t)
            q &= any_type
        if self.run_id is not None:
            q &= Q(run_id=self.run_id)
        if self.workflow_id is not None:
            q &= Q(workflow_id=self.workflow_id)
        return q

    def matches(self, event: Event) -> bool:
        """The same test as ``query`` on an event already read (the stream's fan-out)."""
        if event.tenant_id != self.tenant_id:
            return False
        if self.types and not any(
            event.type.startswith(t[:-1]) if t.endswith("*") else event.type == t for t in self.types
        ):
            return False
        if self.run_id is not None and event.run_id != self.run_id:
            return False
        return self.workflow_id is None or event.workflow_id == self.workflow_id

    def as_dict(self) -> dict[str, Any]:
        return {"types": list(self.types), "run": str(self.run_id) if self.run_id else None,
                "workflow": str(self.workflow_id) if self.workflow_id else None}


def page(after: int, filters: Filters | None, limit: int, below: int | None = None) -> list[Event]:
    """Up to ``limit`` final events with id > ``after``, in id order.

    ``below``: a horizon the caller already took (the stream's hub shares one); else one is taken.
    """
    bound = horizon() if below is None else below
    rows: QuerySet[Event] = Event.objects.filter(id__gt=after)
    if bound is not None:
        rows = rows.filter(id__lt=bound)
    if filters is not None:
        rows = rows.filter(filters.query())
    return list(rows.order_by("id")[:limit])


def types_of(values: Sequence[str]) -> tuple[str, ...]:
    """``type`` query values: repeated and/or comma-separated."""
    return tuple(t.strip() for v in values for t in v.split(",") if t.strip())
