"""Publishing runs to Celery, after commit, with a transactional outbox behind it.

A run is committed first and published on commit. If the broker does not answer, the run stays
``queued`` with ``dispatched_at`` unset, and the beat-driven dispatcher publishes it later: nothing
accepted is lost. Publishing twice is harmless (the worker's guarded claim runs it once).
"""

from __future__ import annotations

import enum
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError

from atomfleet.catalog import CATALOG, task_name_for
from atomfleet_orchestrator.observability import OutboxStats
from atomfleet_orchestrator.runs.models import AtomRun, RunStatus

__all__ = ["PUBLISHED_AT_HEADER", "publish", "dispatch_after_commit", "dispatch_outbox", "outbox_stats"]

log = logging.getLogger(__name__)
# Publish time stamped on every message: queue wait and oldest-message age are measured from it.
PUBLISHED_AT_HEADER = "atomfleet_published_at"
_BROKER_ERRORS = (OperationalError, KombuError, RedisError, OSError)


def publish(run_id: str, atom: str, queue: str, task_id: str, countdown: float | None = None) -> None:
    from atomfleet_orchestrator.celery import app

    spec = CATALOG.get(atom)
    if spec is None:  # a run of an atom removed from the catalog since it was accepted
        raise LookupError(f"atom {atom!r} is not in the catalog")
    app.send_task(
        task_name_for(atom),
        args=[run_id],
        task_id=task_id,
        queue=queue,
        countdown=countdown,
        headers={PUBLISHED_AT_HEADER: time.time()},
    )


class Sent(enum.Enum):
    PUBLISHED = "published"
    NOTHING_TO_DO = "nothing_to_do"  # already published, cancelled, or gone
    BROKER_DOWN = "broker_down"  # stays in the outbox


def _dispatch(run_id: str) -> Sent:
    run = AtomRun.objects.filter(id=run_id, status=RunStatus.QUEUED, dispatched_at__isnull=True).first()
    if run is None:
        return Sent.NOTHING_TO_DO
    try:
        publish(str(run.id), run.atom, run.queue, run.celery_task_id)
    except _BROKER_ERRORS as exc:
        log.warning("broker unavailable, run %s stays in the outbox: %s", run.id, exc)
        return Sent.BROKER_DOWN
    AtomRun.objects.filter(id=run.id, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    return Sent.PUBLISHED


def dispatch_after_commit(run_id: str) -> None:
    transaction.on_commit(lambda: _dispatch(run_id))


def dispatch_outbox(limit: int = 500) -> int:
    """Publish queued runs that were never published; returns how many went out."""
    cutoff = timezone.now() - timedelta(seconds=settings.ATOMFLEET_OUTBOX_GRACE_SECONDS)
    pending = list(
        AtomRun.objects.filter(status=RunStatus.QUEUED, dispatched_at__isnull=True, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    sent = 0
    for run_id in pending:
        outcome = _dispatch(str(run_id))
        if outcome is Sent.BROKER_DOWN:
            break  # still down: leave the rest for the next round
        sent += outcome is Sent.PUBLISHED
    if sent:
        log.info("outbox: published %d run(s)", sent)
    return sent


def outbox_stats() -> OutboxStats:
    """How many accepted runs wait to be published, and for how long the oldest has (scrape time)."""
    pending = AtomRun.objects.filter(status=RunStatus.QUEUED, dispatched_at__isnull=True)
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    age = (timezone.now() - oldest).total_seconds() if oldest else None
    return OutboxStats(waiting=pending.count(), oldest_age_seconds=age)
