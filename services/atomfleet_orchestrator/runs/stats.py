"""Per-queue run counts from the database: the fleet's honest demand (beat exports them).

Redis list lengths count a message the lifecycle published twice twice, and miss messages a worker
prefetched; the database holds one row per run. ``waiting`` + ``running`` is what needs a worker
slot now, which is what the autoscaler scales on (``atomfleet_queue_demand``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, DurationField, ExpressionWrapper, Min, Q
from django.db.models.functions import Coalesce, Now

from atomfleet_orchestrator.runs.lifecycle import RunStatus
from atomfleet_orchestrator.runs.models import AtomRun

__all__ = ["QueueCounts", "queue_counts"]


@dataclass(frozen=True)
class QueueCounts:
    """Runs of one queue that are not finished."""

    waiting: int  # waiting for a worker slot: accepted, or a retry that is due
    running: int  # holding a worker slot
    oldest_waiting_age_seconds: float = 0.0  # 0 when none waits

    @property
    def demand(self) -> int:
        return self.waiting + self.running


# A retry in its backoff needs no slot yet; it counts from the moment it is due.
_WAITING = Q(status=RunStatus.QUEUED.value) | Q(status=RunStatus.RETRYING.value, next_attempt_at__lte=Now())


def queue_counts() -> dict[str, QueueCounts]:
    """Counts of the queues that have unfinished runs (absent queue: nothing unfinished).

    One grouped query; ages are computed with the database clock, so the caller's clock (beat's
    pod) does not matter.
    """
    rows = (
        AtomRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RETRYING, RunStatus.RUNNING])
        .order_by()
        .values("queue")
        .annotate(
            waiting=Count("id", filter=_WAITING),
            running=Count("id", filter=Q(status=RunStatus.RUNNING.value)),
            oldest_age=ExpressionWrapper(
                Now() - Min(Coalesce("next_attempt_at", "created_at"), filter=_WAITING),
                output_field=DurationField(),
            ),
        )
    )
    counts: dict[str, QueueCounts] = {}
    for row in rows:
        age = row["oldest_age"]
        seconds = max(0.0, age.total_seconds()) if age is not None and row["waiting"] else 0.0
        counts[row["queue"]] = QueueCounts(row["waiting"], row["running"], seconds)
    return counts
