"""Run counts per tenant and queue from the database (what beat exports as the demand gauges)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models.functions import Now

from atomfleet_orchestrator.runs.lifecycle import RunStatus
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.stats import QueueCounts, by_queue, queue_counts, tenant_counts
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = pytest.mark.django_db


def _db_now() -> datetime:
    """The database's clock (the counts' ages are measured with it, at their own statement)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]  # type: ignore[index, no-any-return]


def _approx(counts: dict[Any, QueueCounts]) -> dict[Any, tuple[int, int, Any]]:
    """Counts exactly, ages to the second (the counting statement runs a moment after the inserts)."""
    return {k: (c.waiting, c.running, pytest.approx(c.oldest_waiting_age_seconds, abs=1)) for k, c in counts.items()}


def _run(tenant: Tenant, queue: str, status: RunStatus, **fields: Any) -> AtomRun:
    return AtomRun.objects.create(tenant=tenant, created_by="t", atom="text.stats", queue=queue,
                                  args={"text": "x"}, status=status.value, dispatched_at=Now(), **fields)


def test_counts_per_tenant_and_queue_follow_the_queue_definitions_in_one_query(
    django_assert_num_queries: Any,
) -> None:
    # Given two tenants with runs on two queues
    acme = Tenant.objects.create(slug="stats-acme", name="Acme")
    globex = Tenant.objects.create(slug="stats-globex", name="Globex")
    now = _db_now()
    _run(acme, "default", RunStatus.QUEUED, created_at=now - timedelta(seconds=600))
    _run(acme, "default", RunStatus.QUEUED, created_at=now - timedelta(seconds=60))
    _run(acme, "default", RunStatus.RUNNING, created_at=now - timedelta(seconds=900))
    # a retry that is due waits from the moment it was due; one in its backoff does not wait yet
    _run(acme, "io_bound", RunStatus.RETRYING, created_at=now - timedelta(seconds=3000),
         next_attempt_at=now - timedelta(seconds=30))
    _run(acme, "io_bound", RunStatus.RETRYING, created_at=now - timedelta(seconds=5000),
         next_attempt_at=now + timedelta(hours=1))
    _run(globex, "default", RunStatus.RETRYING, created_at=now - timedelta(seconds=700),
         next_attempt_at=now + timedelta(seconds=5))
    _run(globex, "io_bound", RunStatus.RUNNING)
    _run(globex, "io_bound", RunStatus.RUNNING)
    for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):  # finished: not counted
        _run(globex, "default", status, created_at=now - timedelta(days=1))

    # When beat counts them
    with django_assert_num_queries(1):
        counts = tenant_counts()

    # Then each (tenant, queue) with unfinished runs has its counts; a tenant whose only run is in
    # its backoff is present with nothing waiting
    assert _approx(counts) == {
        ("stats-acme", "default"): (2, 1, 600),
        ("stats-acme", "io_bound"): (1, 0, 30),
        ("stats-globex", "default"): (0, 0, 0),
        ("stats-globex", "io_bound"): (0, 2, 0),
    }
    # And the queue counts are their sums (the oldest age of the queue: the oldest of its tenants)
    expected = {"default": (2, 1, 600), "io_bound": (1, 2, 30)}
    assert _approx(by_queue(counts)) == expected
    assert _approx(queue_counts()) == expected


def test_nothing_unfinished_counts_nothing() -> None:
    acme = Tenant.objects.create(slug="stats-acme", name="Acme")
    _run(acme, "default", RunStatus.SUCCEEDED)
    assert tenant_counts() == {} and queue_counts() == {}
