"""Cancellation against an execution's own writes, in both orders, with real connections.

The row lock orders the API's cancel and the execution's retry write: whichever comes second
must see the first, so a run the API answered 202 for never starts another attempt.

The test drives every claim itself: its runs are inserted stamped as published (as the API inserts
them), so beat's outbox never publishes one, and anything published goes to a broker of the test's
own (``private_broker``): no live worker of the session's ``worker_fleet`` claims them first.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now
from django.utils import timezone

from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.lifecycle import RunStatus
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.transitions import Claimed, Refusal
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = pytest.mark.usefixtures("private_broker")


def _running(tenant: Tenant) -> tuple[AtomRun, Claimed]:
    run = AtomRun.objects.create(tenant=tenant, created_by="t", atom="diagnostics.sleep", queue="default",
                                 args={"seconds": 1}, max_attempts=3, dispatched_at=Now(), dispatch_count=1)
    claimed = transitions.claim(str(run.id), run.celery_task_id, "w@a:1")
    assert isinstance(claimed, Claimed)
    return run, claimed


def _blocked_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.django_db(transaction=True)
def test_a_cancel_waiting_on_a_retry_write_ends_the_run_cancelled(tenant: Tenant) -> None:
    """The reviewed race: running → retrying commits while the cancel waits for the row."""
    run, claimed = _running(tenant)
    retry_written, release = threading.Event(), threading.Event()
    cancel_pid: list[int] = []
    errors: list[BaseException] = []

    def execution() -> None:  # the worker: its retry write holds the row until released
        try:
            with transaction.atomic():
                assert transitions.schedule_retry(claimed.execution, "transient_error", "flaky", delay=0)
                retry_written.set()
                release.wait(10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def api() -> None:  # the API's cancel, on its own connection
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                cancel_pid.append(cursor.fetchone()[0])
            transitions.cancel(str(run.id))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    worker_thread = threading.Thread(target=execution)
    worker_thread.start()
    assert retry_written.wait(10)
    api_thread = threading.Thread(target=api)
    api_thread.start()
    # The cancel statement waits for the row the uncommitted retry write holds (or has already
    # passed it by, which the old two-statement cancel did: then this times out below).
    deadline = time.monotonic() + 5
    while not (cancel_pid and _blocked_on_a_lock(cancel_pid[0])) and api_thread.is_alive():
        assert time.monotonic() < deadline, "the cancel never waited for the execution's write"
        time.sleep(0.02)
    release.set()
    worker_thread.join(10)
    api_thread.join(10)
    assert not errors, errors
    run.refresh_from_db()
    assert (run.status, run.cancel_requested, run.error_code) == ("cancelled", True, "cancelled"), (
        run.status, run.cancel_requested)
    # The retry's message, when it arrives, starts nothing and is announced as the revoked task.
    refused = transitions.claim(str(run.id), run.celery_task_id, "w@b:2")
    assert getattr(refused, "reason", None) is Refusal.CANCELLED and run.attempts == 1


@pytest.mark.django_db
def test_a_transient_error_after_a_cancel_ends_the_run_cancelled(tenant: Tenant) -> None:
    run, claimed = _running(tenant)
    transitions.cancel(str(run.id))
    assert transitions.schedule_retry(claimed.execution, "transient_error", "flaky", delay=30)
    run.refresh_from_db()
    assert (run.status, run.error_code, run.next_attempt_at, run.worker) == ("cancelled", "cancelled", None, "")
    assert run.finished_at is not None and "flaky" in run.error_message


@pytest.mark.django_db
def test_a_lost_execution_cancelled_after_the_read_ends_cancelled(tenant: Tenant) -> None:
    """``lose`` reads the row, then writes: a cancel between the two still wins."""
    run, claimed = _running(tenant)
    AtomRun.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    real_schedule_retry = transitions.schedule_retry

    def cancel_first(*args: object, **kwargs: object) -> bool:  # seam: the API's cancel lands here
        transitions.cancel(str(run.id))
        return real_schedule_retry(*args, **kwargs)  # type: ignore[arg-type]

    transitions.schedule_retry = cancel_first  # type: ignore[assignment]
    try:
        outcome = transitions.lose(str(run.id), idempotent=True, backoff=None, stale_after=60, reason="gone")
    finally:
        transitions.schedule_retry = real_schedule_retry  # type: ignore[assignment]
    run.refresh_from_db()
    assert outcome == run.status == RunStatus.CANCELLED
