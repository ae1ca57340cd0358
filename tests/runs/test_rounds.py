"""Beat's rounds share themselves fairly between queues and stamp only what they published.

Against the real test database and broker; the broker read of the queue heads is a seam where a
test needs a backlog that no worker may drain.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from atomfleet_orchestrator.runs import dispatch, reconcile, transitions
from atomfleet_orchestrator.runs.dispatch import dispatch_outbox
from atomfleet_orchestrator.runs.lifecycle import RunStatus
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.transitions import Claimed
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_broker")]  # no live worker takes what they publish


def _run(tenant: Tenant, queue: str = "default", **fields: Any) -> AtomRun:
    atom = {"default": "text.stats", "io_bound": "data.validate_csv"}[queue]
    # Had its turn (runs.fairness): these rounds are the outbox's and the reconciler's.
    return AtomRun.objects.create(tenant=tenant, created_by="t", atom=atom, queue=queue,
                                  args={"text": "x"}, max_attempts=6, turn_at=timezone.now(), **fields)


def test_a_flood_of_due_runs_on_one_queue_does_not_starve_another_queue(
    tenant: Tenant, broker_redis: object
) -> None:
    # Given more due runs on `default` than one round takes, all older than one run on io_bound
    flood = [_run(tenant) for _ in range(6)]
    other = _run(tenant, "io_bound")
    now = timezone.now()
    for age, run in enumerate([*flood, other]):
        AtomRun.objects.filter(id=run.id).update(created_at=now - timedelta(minutes=30 - age))
    # When one round runs with a limit of 5
    report = dispatch_outbox(limit=5)
    # Then io_bound's run is published in it too, beside the 5 oldest of default
    other.refresh_from_db()
    assert other.dispatched_at is not None and other.dispatch_count == 1
    assert report.published == 6
    assert AtomRun.objects.filter(queue="default", dispatched_at__isnull=True).get().id == flood[-1].id


def test_a_backlog_on_one_queue_does_not_hide_lost_messages_of_another(
    tenant: Tenant, broker_redis: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now()
    # Given a round size of 5 and 6 overdue runs of `default`, whose messages still wait behind
    # an hour-old message at the head of that queue (a backlog: they must be left alone)...
    monkeypatch.setattr(reconcile, "_BATCH", 5)
    backlog = [_run(tenant, dispatched_at=now - timedelta(minutes=15), dispatch_count=1) for _ in range(6)]
    heads = {"default": (now - timedelta(hours=1)).timestamp(), "io_bound": None}
    monkeypatch.setattr(reconcile, "_queue_heads", lambda queues: {q: heads[q] for q in queues})
    # ... and an older run of io_bound, whose queue is empty: its message was lost
    lost = _run(tenant, "io_bound", dispatched_at=now - timedelta(minutes=20), dispatch_count=1)
    AtomRun.objects.filter(id=lost.id).update(created_at=now - timedelta(hours=2))
    # When the reconciler runs a round
    report = reconcile.reconcile()
    # Then the lost message is published again, and the backlog is left alone
    assert report.redispatched == 1
    lost.refresh_from_db()
    assert lost.dispatch_count == 2 and lost.dispatched_at is not None and lost.dispatched_at > now
    assert AtomRun.objects.filter(id__in=[r.id for r in backlog], dispatch_count=1).count() == 6


def test_a_run_claimed_and_retried_during_the_round_is_not_stamped_published(
    tenant: Tenant, broker_redis: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a retry that is due
    run = _run(tenant, status=RunStatus.RETRYING, attempts=1, next_attempt_at=timezone.now() - timedelta(seconds=1))
    real_publish = dispatch.publish

    def a_fast_worker(target: dispatch.Target, **kwargs: Any) -> None:
        """Seam: the published message is claimed at once and the attempt fails transiently."""
        real_publish(target, **kwargs)
        claimed = transitions.claim(target.run_id, target.task_id, "w@a:1")
        assert isinstance(claimed, Claimed)
        assert transitions.schedule_retry(claimed.execution, "transient_error", "flaky", delay=0)

    monkeypatch.setattr(dispatch, "publish", a_fast_worker)
    # When the outbox round publishes it, and a worker claims and retries it before the round ends
    assert dispatch_outbox().published == 0
    run.refresh_from_db()
    # Then the round did not stamp the new retry as its own publish (guarded by the state it read):
    # the retry, due at once, got its own turn in the retry's transaction and was published with it.
    assert (run.status, run.attempts, run.dispatch_count) == ("retrying", 2, 1) and run.turn_at is not None
    monkeypatch.setattr(dispatch, "publish", real_publish)
    assert dispatch_outbox().published == 0
