"""Cancelling a run: at once when it waits, cooperatively when it runs."""

from __future__ import annotations

import logging

from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.dispatch import Target, publish_from_api
from atomfleet_orchestrator.runs.errors import RunAlreadyFinished
from atomfleet_orchestrator.runs.lifecycle import RunStatus
from atomfleet_orchestrator.runs.models import AtomRun

__all__ = ["cancel_run"]

log = logging.getLogger(__name__)


def cancel_run(run: AtomRun) -> AtomRun:
    before = (run.status, run.dispatched_at)
    transitions.cancel(str(run.id))
    run.refresh_from_db()
    # Cancelling a cancelled run again is a no-op; a succeeded or failed run cannot be cancelled.
    if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        raise RunAlreadyFinished(f"run {run.id} already finished ({run.status})", {"status": run.status})
    if before == (RunStatus.RETRYING, None) and run.status == RunStatus.CANCELLED:
        # Between attempts no message is in flight: send one, so that a worker ends the Celery
        # task as revoked (Flower and the task counters then agree with the run).
        try:
            publish_from_api(Target(str(run.id), run.atom, run.queue, run.celery_task_id))
        except Exception as exc:  # the run is cancelled either way
            log.warning("run %s cancelled; its task could not be marked revoked: %s", run.id, exc)
    return run
