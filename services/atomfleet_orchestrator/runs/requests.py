"""Worker-side request hooks that run in the worker's main process.

When a pool process dies (hard time limit, OOM, SIGKILL, fenced) the task's own code never gets to
record the outcome; Celery tells the main process, and these hooks kill what the execution
started (its process group) and record the outcome at once, through the same lifecycle decision
the reconciler would take later. A cancelled run, which its execution ends
with :class:`RunRevoked`, is announced here as a revoked Celery task (event, signal, result state),
so Flower and the task counters see a cancellation, not a success.
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
from celery.worker.request import Request
from django.db import DatabaseError

from atomfleet.catalog import CATALOG
from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.execution import RunRevoked
from atomfleet_orchestrator.runs.leases import identity, kill_execution
from atomfleet_orchestrator.runs.lifecycle import ErrorCode

log = logging.getLogger(__name__)


class AtomRequest(Request):
    def _run_id(self) -> str | None:
        return str(self.args[0]) if self.args else None

    def _holder(self) -> str | None:
        pid = self.worker_pid
        return identity(self.hostname, pid) if pid else None

    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        run_id, holder = self._run_id(), self._holder()
        if soft or run_id is None or holder is None:
            return
        # billiard kills the pool process next (its group with SIGTERM, then SIGKILL only if the
        # pool process outlives 0.1 s): a child that ignores SIGTERM would survive it.
        kill_execution(self.worker_pid)
        try:
            transitions.fail_holder(
                run_id, holder, ErrorCode.TIME_LIMIT,
                f"hard time limit of {timeout:g}s exceeded; the process was killed",
            )
        except DatabaseError as exc:  # the reconciler will get it
            log.warning("could not record the hard time limit of run %s: %s", run_id, exc)

    def on_failure(self, exc_info: ExceptionInfo, send_failed_event: bool = True, return_ok: bool = False) -> Any:
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):  # how billiard ships a pool process's exception
            exc = exc.exc
        if isinstance(exc, RunRevoked):
            self._announce_revoked("cancelled", False, None, False)
            return None
        if isinstance(exc, WorkerLostError):
            if self.worker_pid:  # what its atom started would outlive it and overlap a retry
                kill_execution(self.worker_pid)
            self._lost(str(exc))
        return super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def _lost(self, why: str) -> None:
        run_id, holder = self._run_id(), self._holder()
        if run_id is None or holder is None:
            return
        spec = CATALOG.get(self.name.removeprefix("atomfleet.atom."))
        try:
            transitions.lose(
                run_id,
                idempotent=spec is not None and spec.idempotent,
                backoff=spec.retry if spec is not None else None,
                identity=holder,
                reason=f"its pool process died ({why})",
            )
        except DatabaseError as exc:  # the reconciler will get it once the heartbeat is stale
            log.warning("could not record the loss of run %s: %s", run_id, exc)
