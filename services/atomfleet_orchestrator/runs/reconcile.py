"""Runs whose worker vanished: idempotent ones go back to the queue, others fail ``worker_lost``.

A running run refreshes its heartbeat every ATOMFLEET_HEARTBEAT_SECONDS; one whose heartbeat is
older than ATOMFLEET_STALE_AFTER_SECONDS lost its worker (SIGKILL, OOM, node loss). Idempotent runs
get a new task id (the old message, if Redis ever restores it, is then ignored) and are published
again; the others are never run twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from atomfleet.catalog import CATALOG
from atomfleet_orchestrator.observability import record_reconciler_action
from atomfleet_orchestrator.runs.dispatch import dispatch_outbox
from atomfleet_orchestrator.runs.models import AtomRun, RunStatus, new_task_id

__all__ = ["ReconcileReport", "reconcile"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcileReport:
    requeued: int = 0
    failed: int = 0


def reconcile() -> ReconcileReport:
    cutoff = timezone.now() - timedelta(seconds=settings.ATOMFLEET_STALE_AFTER_SECONDS)
    stale = AtomRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff)
    requeued = failed = 0
    for run in stale.only("id", "atom", "celery_task_id"):
        spec = CATALOG.get(run.atom)
        guard = AtomRun.objects.filter(
            id=run.id, status=RunStatus.RUNNING, celery_task_id=run.celery_task_id, heartbeat_at__lt=cutoff
        )
        if spec is not None and spec.idempotent:
            if guard.update(
                status=RunStatus.QUEUED, celery_task_id=new_task_id(), dispatched_at=None, worker=""
            ):
                requeued += 1
                log.warning("run %s lost its worker; re-dispatching (idempotent atom %s)", run.id, run.atom)
        elif guard.update(
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            error_code="worker_lost",
            error_message="the worker executing this run stopped (killed or lost) and the atom is not idempotent",
        ):
            failed += 1
            log.warning("run %s lost its worker; marked failed (atom %s is not idempotent)", run.id, run.atom)
    record_reconciler_action("redispatched", requeued)
    record_reconciler_action("marked_worker_lost", failed)
    if requeued:
        dispatch_outbox()
    return ReconcileReport(requeued=requeued, failed=failed)
