"""The lifecycle's vocabulary and its guarded writes, against the real test database.

Each write is checked for the race it guards against: a second claim, a stale message, a
superseded execution, a heartbeat landing after the reconciler read the row.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from atomfleet.catalog import RetryPolicy
from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.dispatch import dispatch_outbox
from atomfleet_orchestrator.runs.lifecycle import (
    TERMINAL,
    TRANSITIONS,
    Deadlines,
    IllegalTransition,
    RunStatus,
    check,
)
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.transitions import Claimed, Execution, Refusal, Refused
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_broker")]  # no live worker takes what they publish


def test_terminal_states_are_final_and_every_state_is_reachable() -> None:
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()
        with pytest.raises(IllegalTransition):
            check(status, RunStatus.RUNNING)
    reachable = set().union(*TRANSITIONS.values()) | {RunStatus.QUEUED}
    assert reachable == set(RunStatus)
    check(RunStatus.RETRYING, RunStatus.RUNNING)


def test_the_fence_leaves_two_heartbeats_before_the_stale_deadline() -> None:
    deadlines = Deadlines(outbox_grace=5, dispatch_timeout=120, max_redispatches=5, heartbeat_interval=10,
                          stale_after=90, dispatch_interval=5, reconcile_interval=15)
    assert deadlines.fence_after == 70


def _run(tenant: Tenant, **fields: object) -> AtomRun:
    """A run that had its turn (runs.fairness) and is not published: what the outbox publishes."""
    defaults: dict[str, object] = {"created_by": "t", "atom": "diagnostics.sleep", "queue": "default",
                                   "args": {"seconds": 1}, "max_attempts": 3, "turn_at": timezone.now()}
    return AtomRun.objects.create(tenant=tenant, **(defaults | fields))


def test_a_run_is_claimed_once_and_a_second_message_is_refused(tenant: Tenant) -> None:
    run = _run(tenant)
    first = transitions.claim(str(run.id), run.celery_task_id, "w@a:1")
    assert isinstance(first, Claimed) and first.execution.attempt == 1 and first.args == {"seconds": 1}
    assert transitions.claim(str(run.id), run.celery_task_id, "w@b:2") == Refused(Refusal.HELD, "running")
    assert transitions.claim(str(run.id), "another-task-id", "w@b:2") == Refused(Refusal.GONE)


def test_a_retry_is_not_claimed_before_it_is_due(tenant: Tenant) -> None:
    run = _run(tenant, status=RunStatus.RETRYING, attempts=1, next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert transitions.claim(str(run.id), run.celery_task_id, "w@a:1") == Refused(Refusal.NOT_DUE, "retrying")
    AtomRun.objects.filter(id=run.id).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    claimed = transitions.claim(str(run.id), run.celery_task_id, "w@a:1")
    assert isinstance(claimed, Claimed) and claimed.execution.attempt == 2


def test_a_run_without_attempts_left_ends_attempts_exhausted(tenant: Tenant) -> None:
    run = _run(tenant, status=RunStatus.RETRYING, attempts=3)
    assert transitions.claim(str(run.id), run.celery_task_id, "w@a:1").reason is Refusal.EXHAUSTED
    run.refresh_from_db()
    assert (run.status, run.error_code) == ("failed", "attempts_exhausted")


def test_a_superseded_execution_cannot_record_its_outcome(tenant: Tenant) -> None:
    run = _run(tenant)
    claimed = transitions.claim(str(run.id), run.celery_task_id, "w@a:1")
    assert isinstance(claimed, Claimed)
    stale = Execution(str(run.id), claimed.execution.attempt + 1, "w@a:1")
    assert not transitions.succeed(stale, result={"x": 1}, result_artifact="", artifacts=[])
    assert transitions.succeed(claimed.execution, result={"x": 2}, result_artifact="", artifacts=[])
    run.refresh_from_db()
    assert (run.status, run.result) == ("succeeded", {"x": 2})
    assert not transitions.fail(claimed.execution, "atom_error", "too late")


def test_a_cancelled_waiting_run_is_announced_revoked_when_its_message_arrives(tenant: Tenant) -> None:
    run = _run(tenant)
    transitions.cancel(str(run.id))
    assert transitions.claim(str(run.id), run.celery_task_id, "w@a:1") == Refused(Refusal.CANCELLED, "cancelled")


@pytest.mark.parametrize(("idempotent", "attempts", "expected", "code"), [
    (True, 1, RunStatus.RETRYING, "worker_lost"),
    (True, 3, RunStatus.FAILED, "attempts_exhausted"),
    (False, 1, RunStatus.FAILED, "worker_lost"),
])
def test_a_lost_execution_is_decided_from_the_row(
    tenant: Tenant, idempotent: bool, attempts: int, expected: RunStatus, code: str
) -> None:
    run = _run(tenant, status=RunStatus.RUNNING, attempts=attempts, worker="w@a:1",
               heartbeat_at=timezone.now() - timedelta(minutes=5))
    outcome = transitions.lose(str(run.id), idempotent=idempotent, backoff=None, stale_after=60, reason="gone")
    run.refresh_from_db()
    assert outcome == expected == run.status and run.error_code == code


def test_a_fresh_heartbeat_keeps_a_run_the_reconciler_is_looking_at(tenant: Tenant) -> None:
    run = _run(tenant, status=RunStatus.RUNNING, attempts=1, worker="w@a:1", heartbeat_at=timezone.now())
    assert transitions.lose(str(run.id), idempotent=True, backoff=None, stale_after=60, reason="gone") is None
    assert transitions.heartbeat([(str(run.id), "w@b:9")])[str(run.id)].held is False
    assert transitions.heartbeat([(str(run.id), "w@a:1")])[str(run.id)].held is True


def test_a_run_lost_after_a_cancellation_request_ends_cancelled(tenant: Tenant) -> None:
    run = _run(tenant, status=RunStatus.RUNNING, attempts=1, worker="w@a:1", cancel_requested=True,
               heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert transitions.lose(str(run.id), idempotent=True, backoff=None, stale_after=60, reason="gone") == "cancelled"


def test_one_bad_row_never_blocks_the_outbox(tenant: Tenant, broker_redis: object) -> None:
    old = timezone.now() - timedelta(minutes=1)
    retired = _run(tenant, atom="reports.retired")
    undeclared = _run(tenant, atom="text.stats", queue="reports")
    never_started = _run(tenant, atom="text.stats", dispatch_count=6)
    good = _run(tenant, atom="text.stats", args={"text": "x"})
    AtomRun.objects.update(created_at=old)
    report = dispatch_outbox()
    assert (report.published, report.abandoned, report.errors) == (1, 3, 0)
    codes = dict(AtomRun.objects.filter(status="failed").values_list("id", "error_code"))
    assert codes == {retired.id: "unknown_atom", undeclared.id: "unknown_queue", never_started.id: "not_started"}
    good.refresh_from_db()
    assert good.dispatched_at is not None and good.dispatch_count == 1


@pytest.mark.parametrize("attempt", [1, 3])
def test_a_lost_execution_waits_the_backoff_of_its_own_attempt(tenant: Tenant, attempt: int) -> None:
    """One backoff rule for every retry: attempt n lost waits ``RetryPolicy.delay(n)``, the same
    delay a transient error of attempt n waits (the pool-process hook used ``delay(1)`` always)."""
    policy = RetryPolicy(max_retries=4, backoff_base=8.0, backoff_max=300.0)
    run = _run(tenant, status=RunStatus.RUNNING, attempts=attempt, max_attempts=5, worker="w@a:1",
               heartbeat_at=timezone.now())
    before = timezone.now()
    assert transitions.lose(str(run.id), idempotent=True, backoff=policy, identity="w@a:1", reason="killed") == "retrying"
    run.refresh_from_db()
    assert run.next_attempt_at is not None
    waited = (run.next_attempt_at - before).total_seconds()
    full = min(policy.backoff_max, policy.backoff_base * 2 ** (attempt - 1))
    assert full / 2 - 1 <= waited <= full + 1, (attempt, waited)
    assert transitions.retry_delay(policy, attempt) >= full / 2
    assert transitions.retry_delay(None, attempt) == 0.0
