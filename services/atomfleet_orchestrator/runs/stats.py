"""Run counts from the database, per queue and per tenant: the fleet's honest demand (beat exports
them).

Redis list lengths count a message the lifecycle published twice twice, and miss messages a worker
prefetched; the database holds one row per run. ``waiting`` + ``running`` is what needs a worker
slot now, which is what the autoscaler scales on (``atomfleet_queue_demand``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import Count, DurationField, ExpressionWrapper, Min, Q
from django.db.models.functions import Coalesce, Now

from atomfleet_orchestrator.runs.lifecycle import RunStatus
from atomfleet_orchestrator.runs.models import AtomRun

__all__ = ["QueueCounts", "by_queue", "queue_counts", "tenant_counts", "waiting_now"]


@dataclass(frozen=True)
class QueueCounts:
    """Runs of one queue (of one tenant, or all) that are not finished."""

    waiting: int  # waiting for a worker slot: accepted, or a retry that is due
    running: int  # holding a worker slot
    oldest_waiting_age_seconds: float = 0.0  # 0 when none waits

    @property
    def demand(self) -> int:
        return self.waiting + self.running

    def __add__(self, other: QueueCounts) -> QueueCounts:
        """The counts of both together: sums, and the older of the two oldest."""
        return QueueCounts(
            self.waiting + other.waiting,
            self.running + other.running,
            max(self.oldest_waiting_age_seconds, other.oldest_waiting_age_seconds),
        )


# A retry in its backoff needs no slot yet; it counts from the moment it is due.
def waiting_now() -> Q:
    """Runs that need a slot now: accepted, or a retry whose backoff is over (also what fair
    dispatch gives turns to)."""
    return Q(status=RunStatus.QUEUED.value) | Q(status=RunStatus.RETRYING.value, next_attempt_at__lte=Now())


_WAITING = waiting_now()


def tenant_counts() -> dict[tuple[str, str], QueueCounts]:
    """Counts per ``(tenant slug, queue)`` that has unfinished runs (absent: nothing unfinished).

    One grouped query over the active runs (the partial indexes keep it independent of the
    history), joined to the tenant for its slug; ages are computed with the database clock, so the
    caller's clock (beat's pod) does not matter.
    """
    rows = (
        AtomRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RETRYING, RunStatus.RUNNING])
        .order_by()
        .values("tenant__slug", "queue")
        .annotate(
            waiting=Count("id", filter=_WAITING),
            running=Count("id", filter=Q(status=RunStatus.RUNNING.value)),
            oldest_age=ExpressionWrapper(
                Now() - Min(Coalesce("next_attempt_at", "created_at"), filter=_WAITING),
                output_field=DurationField(),
            ),
        )
    )
    counts: dict[tuple[str, str], QueueCounts] = {}
    for row in rows:
        age = row["oldest_age"]
        seconds = max(0.0, age.total_seconds()) if age is not None and row["waiting"] else 0.0
        counts[(row["tenant__slug"], row["queue"])] = QueueCounts(row["waiting"], row["running"], seconds)
    return counts


def by_queue(counts: Mapping[tuple[str, str], QueueCounts]) -> dict[str, QueueCounts]:
    """Per-tenant counts added up per queue (one ``now()`` per query: the oldest age is exact)."""
    totals: dict[str, QueueCounts] = {}
    for (_, queue), c in counts.items():
        totals[queue] = totals[queue] + c if queue in totals else c
    return totals


def queue_counts() -> dict[str, QueueCounts]:
    """Counts of the queues that have unfinished runs (absent queue: nothing unfinished)."""
    return by_queue(tenant_counts())
