"""Cancelling a run: at once when it waits, cooperatively when it runs."""

from __future__ import annotations

from django.utils import timezone

from atomfleet_orchestrator.runs.errors import RunAlreadyFinished
from atomfleet_orchestrator.runs.models import WAITING_STATUSES, AtomRun, RunStatus

__all__ = ["cancel_run"]


def cancel_run(run: AtomRun) -> AtomRun:
    # A waiting run is cancelled outright; its message, when consumed, finds it terminal.
    AtomRun.objects.filter(id=run.id, status__in=WAITING_STATUSES).update(
        status=RunStatus.CANCELLED,
        cancel_requested=True,
        finished_at=timezone.now(),
        error_code="cancelled",
        error_message="cancelled before it started",
    )
    # A running one is flagged; its heartbeat sees the flag and the atom stops at its next check.
    AtomRun.objects.filter(id=run.id, status=RunStatus.RUNNING).update(cancel_requested=True)
    run.refresh_from_db()
    # Cancelling a cancelled run again is a no-op; a succeeded or failed run cannot be cancelled.
    if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        raise RunAlreadyFinished(f"run {run.id} already finished ({run.status})", {"status": run.status})
    return run
