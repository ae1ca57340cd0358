"""Executing one run in a pool process (called by the thin Celery task).

1. **Claim** the run for this attempt (one statement). A message that does not match the row —
   a duplicate, a stale retry, a run already finished — changes nothing and ends as an ignored
   task. If the database cannot be reached, the message goes back to the queue (not acked as if
   it ran); if it is lost anyway, the dispatch deadline publishes the run again.
2. **Run** the atom with its context. The worker's main process keeps the lease (heartbeat) and
   relays cancellation; nothing here runs beside the atom.
3. **Record** the outcome through a guarded write that names this attempt, retrying short
   database outages, and end the Celery task with the same truth: SUCCESS, FAILURE carrying the
   atom's exception, RETRY, or (for a cancellation) revoked by the main process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import Ignore, Reject, Retry, SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from atomfleet.catalog import AtomSpec
from atomfleet.errors import AtomError, RunCancelled
from atomfleet.metrics import record_message_ignored, record_run_finished, record_superseded
from atomfleet.runtime import AtomContext, CancelToken
from atomfleet.runtime.logging import run_log_context
from atomfleet.storage import ObjectStore, RunArtifacts, TenantFiles
from atomfleet_orchestrator.observability.metrics import record_step_release_wait
from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.leases import cancellable, identity
from atomfleet_orchestrator.runs.lifecycle import Deadlines, ErrorCode
from atomfleet_orchestrator.runs.storage import get_store
from atomfleet_orchestrator.runs.transitions import Claimed, Execution, Refusal, Refused

__all__ = [
    "AttemptsExhausted",
    "InvalidResult",
    "OutcomeNotRecorded",
    "RunRevoked",
    "Superseded",
    "encode_result",
    "execute_run",
    "printable",
]

log = logging.getLogger("atomfleet.run")
_DB_DOWN = (OperationalError, InterfaceError)
#: Pause before a message whose claim could not reach the database goes back to the queue.
CLAIM_RETRY_PAUSE = 1.0


# -- how an execution ends its Celery task --------------------------------------------------------


class RunRevoked(Ignore):
    """The run was cancelled: the worker's main process announces the task as revoked."""


class Superseded(Ignore):
    """This execution's outcome was discarded: the run had moved on to another attempt."""


class AttemptsExhausted(Exception):
    """Delivered once more after its last attempt: the run ended failed/attempts_exhausted."""


class InvalidResult(Exception):
    """The atom returned something that is not JSON (NaN, Infinity, objects)."""


class OutcomeNotRecorded(Exception):
    """Storage or the database refused the outcome (the run ended failed/result_not_recorded),
    or the database stayed unreachable while recording it."""


# -- claim ----------------------------------------------------------------------------------------


def execute_run(task: Task, spec: AtomSpec, run_id: str) -> dict[str, str]:
    request = task.request
    holder = identity(request.hostname, os.getpid())
    store = get_store()  # before the claim: nothing fallible between a committed claim and the atom
    try:
        claimed = transitions.claim(run_id, request.id, holder, spec.queue)
    except _DB_DOWN as exc:
        _drop_connection()
        log.warning("run %s: database unreachable at claim (%s); message back to the queue", run_id, exc)
        time.sleep(CLAIM_RETRY_PAUSE)
        raise Reject(f"database unreachable: {exc}", requeue=True) from None
    if isinstance(claimed, Refused):
        _refused(spec, run_id, claimed)
    assert isinstance(claimed, Claimed)
    if claimed.release_wait is not None:  # a workflow step's first start
        record_step_release_wait(claimed.release_wait)
    with run_log_context(tenant=claimed.tenant, atom=spec.name, run_id=run_id, task_id=request.id):
        return _execute(spec, claimed, store)


def _refused(spec: AtomSpec, run_id: str, refused: Refused) -> None:
    if refused.reason is Refusal.CANCELLED:
        log.info("run %s was cancelled before it started", run_id)
        raise RunRevoked("cancelled before it started")
    if refused.reason is Refusal.EXHAUSTED:
        record_run_finished(spec.name, spec.queue, "failed", None)
        raise AttemptsExhausted(f"run {run_id} has no attempt left")
    # A duplicate or late message: the run is held, finished, or not due. Nothing to do.
    log.info("message for run %s ignored: %s (%s)", run_id, refused.reason.value, refused.status)
    record_message_ignored(spec.name, spec.queue, refused.reason.value)
    raise Ignore()


# -- run and record -------------------------------------------------------------------------------


def _execute(spec: AtomSpec, claimed: Claimed, store: ObjectStore) -> dict[str, str]:
    execution, tenant = claimed.execution, claimed.tenant
    artifacts = RunArtifacts(store, tenant, execution.run_id, attempt=execution.attempt)
    token = CancelToken()
    ctx = AtomContext(
        run_id=execution.run_id,
        tenant=tenant,
        atom=spec.name,
        attempt=execution.attempt,
        files=TenantFiles(store, tenant),
        artifacts=artifacts,
        logger=log,
        progress_sink=lambda fraction, message: _quietly(transitions.report_progress, execution, fraction, message),
        cancel_token=token,
        progress_interval=settings.ATOMFLEET_PROGRESS_INTERVAL,
    )
    log.info("run started (attempt %d of %d)", execution.attempt, claimed.max_attempts)
    started = time.monotonic()

    def finished(outcome: str) -> None:
        elapsed = time.monotonic() - started
        record_run_finished(spec.name, spec.queue, outcome, elapsed)
        log.info("run %s in %.2fs", outcome, elapsed)

    try:
        with cancellable(token, execution.run_id):
            result = spec.func(ctx, **claimed.args)
    except RunCancelled:
        _record(execution, spec, lambda: transitions.finish_cancelled(
            execution.run_id, "cancelled on request", execution))
        finished("cancelled")
        raise RunRevoked("cancelled on request") from None
    except SoftTimeLimitExceeded:
        _record(execution, spec, lambda: transitions.fail(
            execution, ErrorCode.TIME_LIMIT, f"soft time limit of {spec.soft_time_limit}s exceeded",
            _refs(artifacts)))
        finished("time_limit")
        raise
    except Exception as exc:
        message = printable(f"{type(exc).__name__}: {exc}")
        if spec.retry.is_transient(exc) and execution.attempt < claimed.max_attempts:
            delay = transitions.retry_delay(spec.retry, execution.attempt)
            code = exc.code if isinstance(exc, AtomError) else ErrorCode.TRANSIENT_ERROR
            _record(execution, spec, lambda: transitions.schedule_retry(execution, code, message, delay))
            log.warning("transient failure, attempt %d of %d; next in %.1fs: %s",
                        execution.attempt, claimed.max_attempts, delay, exc)
            finished("retrying")
            raise Retry(exc=exc, when=delay) from exc
        if spec.retry.is_transient(exc):
            code = ErrorCode.RETRIES_EXHAUSTED
        else:
            code = exc.code if isinstance(exc, AtomError) else ErrorCode.ATOM_ERROR
        log.exception("run failed: %s", exc)
        _record(execution, spec, lambda: transitions.fail(execution, code, message, _refs(artifacts)))
        finished("failed")
        raise  # a Celery FAILURE carrying the atom's own exception
    _succeed(spec, execution, artifacts, result)
    finished("succeeded")
    return {"run_id": execution.run_id, "status": "succeeded"}


def encode_result(result: Any) -> bytes:
    """The result as strict JSON; :class:`InvalidResult` names what is not JSON."""

    def plain(value: Any) -> Any:
        item = getattr(value, "item", None)  # numpy scalars
        if callable(item) and getattr(value, "shape", None) == ():
            return item()
        tolist = getattr(value, "tolist", None)  # numpy arrays
        if callable(tolist):
            return tolist()
        raise TypeError(f"a {type(value).__name__} is not JSON")

    try:
        payload = json.dumps(result, allow_nan=False, default=plain, separators=(",", ":"))
    except ValueError:
        raise InvalidResult("the result contains NaN or Infinity, which JSON cannot carry") from None
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # TypeError, RecursionError, or whatever a value's own conversion raises
        raise InvalidResult(f"the result is not JSON: {exc}") from None
    if "\\u0000" in payload:
        raise InvalidResult("the result contains a NUL character, which the database cannot store")
    return payload.encode()


def printable(text: str) -> str:
    """``text`` as a text column can store it: PostgreSQL refuses NUL, so it is written ``\\x00``."""
    return text.replace("\x00", "\\x00")


def _succeed(spec: AtomSpec, execution: Execution, artifacts: RunArtifacts, result: Any) -> None:
    try:
        payload = encode_result(result)
    except InvalidResult as exc:
        why = str(exc)
        _record(execution, spec, lambda: transitions.fail(execution, ErrorCode.INVALID_RESULT, why, _refs(artifacts)))
        record_run_finished(spec.name, spec.queue, "failed", None)
        raise
    except SoftTimeLimitExceeded:  # fired while the result was being encoded
        _record(execution, spec, lambda: transitions.fail(
            execution, ErrorCode.TIME_LIMIT, f"soft time limit of {spec.soft_time_limit}s exceeded",
            _refs(artifacts)))
        record_run_finished(spec.name, spec.queue, "time_limit", None)
        raise

    def store_and_succeed() -> bool:
        inline: Any = None
        result_artifact = ""
        if len(payload) > settings.ATOMFLEET_INLINE_RESULT_MAX_BYTES:
            artifacts.put("result.json", payload, "application/json")
            result_artifact = "result.json"
        else:
            inline = json.loads(payload)
        return transitions.succeed(
            execution, result=inline, result_artifact=result_artifact, artifacts=_refs(artifacts))

    _record(execution, spec, store_and_succeed)


def _refs(artifacts: RunArtifacts) -> list[dict[str, Any]]:
    return [a.as_dict() for a in artifacts.written]


def _record(execution: Execution, spec: AtomSpec, write: Callable[[], bool]) -> None:
    """Record an outcome (with the storage writes it needs); the run never stays ``running``.

    Short database outages are ridden out (``_apply``). Any other error while recording — storage
    refusing the result (disk full, a file where a folder should be, an S3 error), the database
    refusing a value (``DataError``), the soft time limit firing here — ends the run
    failed/``result_not_recorded`` at once, through a fallback write that carries nothing the
    atom produced (a fixed code, the reason with NULs escaped, cut short), so the refusal that
    failed the first write cannot fail it again. Left ``running``, the run would be taken for
    lost once its lease lapsed, and an idempotent atom would execute again.

    Only if the fallback fails too (the database unreachable beyond the patience) does the run
    stay ``running``: the lease keeper renews it no longer once this task returns, and the
    reconciler ends it after ``stale_after`` as a lost execution (retried if idempotent, else
    failed ``worker_lost``), as for a worker that died at this moment; never while this
    execution is alive.
    """
    try:
        recorded = _apply(write)
    except OutcomeNotRecorded:
        raise  # the database is unreachable: a fallback write would not get through either
    except Exception as exc:  # SoftTimeLimitExceeded included
        _drop_connection()
        reason = printable(f"the outcome could not be recorded: {type(exc).__name__}: {exc}")[:1000]
        log.error("run %s attempt %d: %s", execution.run_id, execution.attempt, reason)
        try:
            recorded = _apply(lambda: transitions.fail(execution, ErrorCode.RESULT_NOT_RECORDED, reason))
        except Exception as again:
            log.error("run %s: the failure could not be recorded either; the reconciler will end it "
                      "as lost: %s", execution.run_id, again)
            raise OutcomeNotRecorded(reason) from again
        if recorded:
            record_run_finished(spec.name, spec.queue, "failed", None)
            raise OutcomeNotRecorded(reason) from exc
    if not recorded:
        record_superseded(spec.name, spec.queue)
        raise Superseded(f"run {execution.run_id} attempt {execution.attempt} was superseded")


def _apply(write: Callable[[], bool]) -> bool:
    """Apply a write, riding out short database outages.

    Beyond the patience (half the fencing window) the worker's main process would kill this
    process anyway; the reconciler then decides from the row, as for any lost execution.
    """
    patience = max(1.0, Deadlines.from_settings().fence_after / 2)
    deadline = time.monotonic() + patience
    pause = 0.2
    while True:
        try:
            return write()
        except _DB_DOWN as exc:
            _drop_connection()
            if time.monotonic() + pause > deadline:
                raise OutcomeNotRecorded(f"database unreachable for {patience:g}s: {exc}") from exc
            log.warning("database unreachable while recording the outcome; retrying: %s", exc)
            time.sleep(pause)
            pause = min(2.0, pause * 2)


def _quietly(write: Callable[..., None], *args: Any) -> None:
    """Progress is best effort: a failed write must not fail the run."""
    try:
        write(*args)
    except _DB_DOWN as exc:
        _drop_connection()
        log.warning("progress not recorded: %s", exc)


def _drop_connection() -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may raise; it is gone anyway
        connection.close()
