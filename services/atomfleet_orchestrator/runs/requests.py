"""Worker-side request hooks that run in the worker's main process.

When a pool child is killed (hard time limit, OOM, SIGKILL) the task's own code never gets to
record the outcome; Celery tells the main process, and these hooks record it at once instead of
leaving the run ``running`` until the reconciler notices.
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
from celery.worker.request import Request
from django.db import DatabaseError

from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.models import RunStatus

log = logging.getLogger(__name__)


class AtomRequest(Request):
    def _record_failure(self, code: str, message: str) -> None:
        run_id = self.args[0] if self.args else None
        if run_id is None:
            return
        try:
            transitions.finish(str(run_id), self.id, RunStatus.FAILED, error_code=code, error_message=message)
        except DatabaseError as exc:  # the reconciler will get it
            log.warning("could not record %s for run %s: %s", code, run_id, exc)

    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        if not soft:
            self._record_failure("time_limit", f"hard time limit of {timeout}s exceeded; the process was killed")

    def on_failure(self, exc_info: ExceptionInfo, send_failed_event: bool = True, return_ok: bool = False) -> Any:
        result = super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
        # Idempotent atoms are requeued by Celery (reject_on_worker_lost); the others must not rerun.
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):  # how billiard ships a child's exception
            exc = exc.exc
        if isinstance(exc, WorkerLostError) and not self.task.reject_on_worker_lost:
            self._record_failure("worker_lost", f"the worker process died: {exc}")
        return result
