"""Executing one run inside a worker process (called by the thin Celery task)."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from atomfleet.catalog import AtomSpec
from atomfleet.errors import AtomError, RunCancelled
from atomfleet.metrics import record_run_finished
from atomfleet.runtime import AtomContext
from atomfleet.runtime.logging import run_log_context
from atomfleet.storage import RunArtifacts, TenantFiles
from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.dispatch import publish
from atomfleet_orchestrator.runs.heartbeat import Heartbeat
from atomfleet_orchestrator.runs.models import AtomRun, RunStatus
from atomfleet_orchestrator.runs.storage import get_store
from atomfleet_orchestrator.runs.transitions import Claim

__all__ = ["execute_run"]

log = logging.getLogger("atomfleet.run")


def execute_run(task: Task, spec: AtomSpec, run_id: str) -> str:
    request = task.request
    task_id: str = request.id
    decision = transitions.claim(
        run_id,
        task_id,
        f"{request.hostname or socket.gethostname()}:{os.getpid()}",
        idempotent=spec.idempotent,
        stale_after=settings.ATOMFLEET_STALE_AFTER_SECONDS,
    )
    if decision is Claim.DROP:
        log.info("message for run %s (task %s) dropped: nothing to execute", run_id, task_id)
        return decision.value
    if decision is Claim.DEFER:
        log.info("run %s may still be running elsewhere; checking again later", run_id)
        publish(run_id, spec.name, spec.queue, task_id, countdown=settings.ATOMFLEET_STALE_AFTER_SECONDS)
        return decision.value

    run = AtomRun.objects.select_related("tenant").get(id=run_id)
    tenant = run.tenant.slug
    with run_log_context(tenant=tenant, atom=spec.name, run_id=run_id, task_id=task_id):
        return _execute(task, spec, run, tenant, task_id)


def _execute(task: Task, spec: AtomSpec, run: AtomRun, tenant: str, task_id: str) -> str:
    run_id = str(run.id)
    store = get_store()
    artifacts = RunArtifacts(store, tenant, run_id)
    cancel_event = threading.Event()
    ctx = AtomContext(
        run_id=run_id,
        tenant=tenant,
        atom=spec.name,
        attempt=run.attempts,
        files=TenantFiles(store, tenant),
        artifacts=artifacts,
        logger=log,
        progress_sink=lambda fraction, message: transitions.report_progress(run_id, task_id, fraction, message),
        cancel_event=cancel_event,
        progress_interval=settings.ATOMFLEET_PROGRESS_INTERVAL,
    )
    beat = Heartbeat(run_id, task_id, settings.ATOMFLEET_HEARTBEAT_SECONDS, cancel_event)
    beat.start()
    log.info("run started (attempt %d)", run.attempts)
    started = time.monotonic()
    try:
        result = spec.func(ctx, **run.args)
        ctx.flush_progress()
    except RunCancelled:
        _finish(run_id, task_id, RunStatus.CANCELLED, artifacts, "cancelled", "cancelled on request")
        outcome = "cancelled"
    except SoftTimeLimitExceeded:
        message = f"soft time limit of {spec.soft_time_limit}s exceeded"
        _finish(run_id, task_id, RunStatus.FAILED, artifacts, "time_limit", message)
        outcome = "time_limit"
    except Exception as exc:
        retries = task.request.retries or 0
        if spec.retry.is_transient(exc) and retries < spec.retry.max_retries:
            countdown = spec.retry.delay(retries + 1)
            transitions.mark_retrying(run_id, task_id, getattr(exc, "code", "transient_error"), str(exc))
            log.warning("transient failure, retry %d/%d in %.1fs: %s", retries + 1, spec.retry.max_retries, countdown, exc)
            record_run_finished(spec.name, spec.queue, "retrying", time.monotonic() - started)
            beat.stop()
            raise task.retry(exc=exc, countdown=countdown, max_retries=spec.retry.max_retries) from exc
        code = exc.code if isinstance(exc, AtomError) else "atom_error"
        if spec.retry.is_transient(exc):
            code = "retries_exhausted"
        log.exception("run failed: %s", exc)
        _finish(run_id, task_id, RunStatus.FAILED, artifacts, code, f"{type(exc).__name__}: {exc}")
        outcome = "failed"
    else:
        _succeed(run_id, task_id, artifacts, result)
        outcome = "succeeded"
    finally:
        beat.stop()
    elapsed = time.monotonic() - started
    record_run_finished(spec.name, spec.queue, outcome, elapsed)
    log.info("run %s in %.2fs", outcome, elapsed)
    return outcome


def _finish(run_id: str, task_id: str, status: RunStatus, artifacts: RunArtifacts, code: str, message: str) -> None:
    transitions.finish(
        run_id,
        task_id,
        status,
        error_code=code,
        error_message=message[:4000],
        artifacts=[a.as_dict() for a in artifacts.written],
    )


def _succeed(run_id: str, task_id: str, artifacts: RunArtifacts, result: Any) -> None:
    payload = json.dumps(result, default=str).encode()
    inline: Any = json.loads(payload)
    result_artifact = ""
    if len(payload) > settings.ATOMFLEET_INLINE_RESULT_MAX_BYTES:
        artifacts.put("result.json", payload, "application/json")
        inline, result_artifact = None, "result.json"
    transitions.finish(
        run_id,
        task_id,
        RunStatus.SUCCEEDED,
        result=inline,
        result_artifact=result_artifact,
        artifacts=[a.as_dict() for a in artifacts.written],
        progress_message="done",
    )
