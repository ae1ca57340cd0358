"""Guarded state transitions: each is one conditional UPDATE, safe to repeat or race.

A transition names the Celery task id it acts for; a message that is not the one the run waits
for (a duplicate, or one superseded by a re-dispatch) changes nothing.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from atomfleet_orchestrator.runs.models import WAITING_STATUSES, AtomRun, RunStatus

__all__ = ["Claim", "claim", "heartbeat", "report_progress", "finish", "mark_retrying"]


class Claim(enum.Enum):
    RUN = "run"  # this message now owns the run: execute it
    DROP = "drop"  # nothing to do (finished, cancelled, superseded, or not re-runnable)
    DEFER = "defer"  # another execution may still be alive: look again once it would be stale


def claim(run_id: str, task_id: str, hostname: str, *, idempotent: bool, stale_after: float) -> Claim:
    """``hostname`` names the executing process (``<queue>@<host>:<pid>``) for operators."""
    now = timezone.now()
    owned = AtomRun.objects.filter(id=run_id, celery_task_id=task_id)
    taken = owned.filter(status__in=WAITING_STATUSES, cancel_requested=False).update(
        status=RunStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        worker=hostname,
        error_code="",
        error_message="",
    )
    if taken:
        return Claim.RUN
    run = AtomRun.objects.filter(id=run_id).only("status", "celery_task_id", "cancel_requested").first()
    if run is None or run.celery_task_id != task_id or run.is_terminal:
        return Claim.DROP
    if run.status in WAITING_STATUSES and run.cancel_requested:
        finish(run_id, task_id, RunStatus.CANCELLED, from_statuses=WAITING_STATUSES, error_code="cancelled",
               error_message="cancelled before it started")
        return Claim.DROP
    if run.status == RunStatus.RUNNING and idempotent:
        # Redelivered after its worker died (late ack): take over once the heartbeat is stale;
        # until then the first execution may still be alive.
        stale = now - timedelta(seconds=stale_after)
        took_over = owned.filter(status=RunStatus.RUNNING, heartbeat_at__lt=stale).update(
            heartbeat_at=now, attempts=F("attempts") + 1, worker=hostname
        )
        return Claim.RUN if took_over else Claim.DEFER
    # A non-idempotent run that is (or was) running is never executed a second time.
    return Claim.DROP


def heartbeat(run_id: str, task_id: str) -> bool:
    """Refresh the heartbeat; returns whether a cancellation was requested."""
    AtomRun.objects.filter(id=run_id, celery_task_id=task_id, status=RunStatus.RUNNING).update(
        heartbeat_at=timezone.now()
    )
    return AtomRun.objects.filter(id=run_id, cancel_requested=True).exists()


def report_progress(run_id: str, task_id: str, fraction: float, message: str) -> None:
    AtomRun.objects.filter(id=run_id, celery_task_id=task_id, status=RunStatus.RUNNING).update(
        progress=fraction, progress_message=message, heartbeat_at=timezone.now()
    )


def finish(
    run_id: str,
    task_id: str,
    status: RunStatus,
    *,
    from_statuses: tuple[str, ...] = (RunStatus.RUNNING,),
    **fields: Any,
) -> bool:
    """Move a run to a terminal status (only from ``from_statuses``, only for ``task_id``)."""
    values: dict[str, Any] = {"status": status, "finished_at": timezone.now(), **fields}
    if status == RunStatus.SUCCEEDED:
        values.setdefault("progress", 1.0)
    updated = AtomRun.objects.filter(
        id=run_id, celery_task_id=task_id, status__in=from_statuses
    ).update(**values)
    return bool(updated)


def mark_retrying(run_id: str, task_id: str, error_code: str, error_message: str) -> bool:
    return bool(
        AtomRun.objects.filter(id=run_id, celery_task_id=task_id, status=RunStatus.RUNNING).update(
            status=RunStatus.RETRYING, error_code=error_code, error_message=error_message[:2000]
        )
    )
