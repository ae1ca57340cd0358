"""The event log against real PostgreSQL: gap-free reads with concurrent writers, and pruning."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from atomfleet_orchestrator.events.log import emit
from atomfleet_orchestrator.events.models import Event, EventType
from atomfleet_orchestrator.events.prune import prune_events
from atomfleet_orchestrator.events.read import Filters, page
from atomfleet_orchestrator.tenancy.models import Tenant
from tests.support.live_api import database_url

pytestmark = pytest.mark.django_db(transaction=True)


def _emit(tenant: Tenant, n: int) -> None:
    emit(EventType.RUN_PROGRESS, tenant_id=tenant.id, run_id=uuid.uuid4(), data={"n": n})


def _numbers(events: list[Event]) -> list[int]:
    return [e.data["n"] for e in events]


def test_a_reader_never_skips_an_event_that_commits_after_a_later_one() -> None:
    """Transaction A writes first and commits last; B and C commit meanwhile. A reader polling with
    the last id it saw gets every event exactly once, A's included, in id order."""
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    filters = Filters(tenant.id)
    a_written, a_may_commit = threading.Event(), threading.Event()

    def writer_a() -> None:
        with transaction.atomic():
            _emit(tenant, 1)
            a_written.set()
            assert a_may_commit.wait(10)
        connection.close()

    thread = threading.Thread(target=writer_a)
    thread.start()
    assert a_written.wait(10)
    _emit(tenant, 2)  # commits at once (autocommit)
    _emit(tenant, 3)
    seen: list[Event] = []
    # While A is open, the reader's horizon stops below A: B and C are not read yet.
    first = page(0, filters, 100)
    seen += first
    a_may_commit.set()
    thread.join(10)
    after = seen[-1].id if seen else 0
    seen += page(after, filters, 100)
    assert first == []
    assert _numbers(seen) == [1, 2, 3]
    assert [e.id for e in seen] == sorted(e.id for e in seen)
    # Polling again repeats nothing.
    assert page(seen[-1].id, filters, 100) == []


def test_a_naive_reader_would_have_missed_the_late_event() -> None:
    """Why the horizon is needed: reading committed ids above the last one seen, without it,
    returns B while A is open and then never returns A (A's id is below B's)."""
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    a_written, a_may_commit = threading.Event(), threading.Event()

    def writer_a() -> None:
        with transaction.atomic():
            _emit(tenant, 1)
            a_written.set()
            assert a_may_commit.wait(10)
        connection.close()

    thread = threading.Thread(target=writer_a)
    thread.start()
    assert a_written.wait(10)
    _emit(tenant, 2)
    naive = list(Event.objects.filter(tenant=tenant).order_by("id"))
    a_may_commit.set()
    thread.join(10)
    late = list(Event.objects.filter(tenant=tenant, id__gt=naive[-1].id))
    assert _numbers(naive) == [2] and late == []  # A (n=1) is lost to the naive reader
    assert _numbers(page(0, Filters(tenant.id), 100)) == [1, 2]


def test_transactions_of_other_databases_do_not_hold_readers_back() -> None:
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    other = database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(other) as foreign:
        foreign.execute("CREATE TEMP TABLE held (x int)")  # gives the open transaction an xid
        foreign.execute("INSERT INTO held VALUES (1)")
        _emit(tenant, 1)
        assert _numbers(page(0, Filters(tenant.id), 10)) == [1]


def test_concurrent_writers_and_a_polling_reader_see_every_event_once_in_order() -> None:
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    filters = Filters(tenant.id)
    writers, per_writer = 4, 50
    stop = threading.Event()

    def write(w: int) -> None:
        for i in range(per_writer):
            with transaction.atomic():
                _emit(tenant, w * 1000 + i)
                if i % 7 == 0:
                    _emit(tenant, w * 1000 + 500 + i)  # two events in one transaction
        connection.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    seen: list[Event] = []
    while any(t.is_alive() for t in threads) or not stop.is_set():
        if not any(t.is_alive() for t in threads):
            stop.set()
        seen += page(seen[-1].id if seen else 0, filters, 37)
    seen += page(seen[-1].id if seen else 0, filters, 1000)
    expected = {w * 1000 + i for w in range(writers) for i in range(per_writer)}
    expected |= {w * 1000 + 500 + i for w in range(writers) for i in range(per_writer) if i % 7 == 0}
    numbers = _numbers(seen)
    assert len(numbers) == len(set(numbers)) == len(expected)
    assert set(numbers) == expected
    assert [e.id for e in seen] == sorted({e.id for e in seen})


def test_pruning_deletes_only_expired_events_in_bounded_batches() -> None:
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    for n in range(25):
        _emit(tenant, n)
    old = timezone.now() - timedelta(days=8)
    expired = list(Event.objects.order_by("id").values_list("id", flat=True)[:23])
    Event.objects.filter(id__in=expired).update(created_at=old)  # the test's clock: events from last week
    with override_settings(ATOMFLEET_EVENT_RETENTION_DAYS=7):
        first = prune_events(batch_size=5, max_batches=3)
        assert (first.deleted, first.batches, first.more) == (15, 3, True)
        second = prune_events(batch_size=5, max_batches=3)
        assert (second.deleted, second.batches, second.more) == (8, 2, False)
    assert _numbers(list(Event.objects.order_by("id"))) == [23, 24]


def test_a_workers_one_statement_writes_number_their_events_as_emit_run_does() -> None:
    """Claim and succeed of a single run each write their event in the UPDATE's own statement
    (``evented_update``): ids ``txid << ID_SHIFT | n`` — n counting on from the events earlier
    statements of the transaction wrote — and a notification on commit."""
    from atomfleet_orchestrator.events.log import CHANNEL, ID_SHIFT
    from atomfleet_orchestrator.runs import transitions
    from atomfleet_orchestrator.runs.models import AtomRun

    tenant = Tenant.objects.create(slug="acme", name="Acme")
    run = AtomRun.objects.create(tenant=tenant, created_by="t", atom="diagnostics.sleep", queue="default", args={})
    with psycopg.connect(database_url(), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with transaction.atomic():  # both in one transaction, after an event of its own
            _emit(tenant, 1)
            claimed = transitions.claim(str(run.id), run.celery_task_id, "w@t:1", "default")
            assert isinstance(claimed, transitions.Claimed)
            assert transitions.succeed(claimed.execution, result=None, result_artifact="", artifacts=[])
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id()::text::bigint")
                txid = cursor.fetchone()[0]
        events = list(Event.objects.filter(tenant=tenant).order_by("id"))
        assert [(e.id, e.type) for e in events] == [
            (txid << ID_SHIFT, "run.progress"), ((txid << ID_SHIFT) + 1, "run.started"),
            ((txid << ID_SHIFT) + 2, "run.succeeded")]
        assert (events[1].data["status"], events[2].data["status"], events[2].data["attempt"]) == (
            "running", "succeeded", 1)
        # Alone (autocommit, the worker's case): its own transaction, number 0.
        second = AtomRun.objects.create(tenant=tenant, created_by="t", atom="diagnostics.sleep", queue="default",
                                        args={})
        claimed = transitions.claim(str(second.id), second.celery_task_id, "w@t:1", "default")
        assert isinstance(claimed, transitions.Claimed)
        started = Event.objects.get(run_id=second.id)
        assert started.type == "run.started" and started.id % (1 << ID_SHIFT) == 0
        notified = [n.payload for n in listener.notifies(timeout=1, stop_after=3)]
    # One per transaction: PostgreSQL folds a transaction's identical notifications into one. The
    # claim's statement alone notified too: its event's RETURNING ran.
    assert notified == [str(tenant.id)] * 2


def test_nothing_but_events_log_writes_events() -> None:
    """One writer: no other module inserts events (no second path that could disagree)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "services" / "atomfleet_orchestrator"
    writers = re.compile(r"Event\.objects\.(create|bulk_create|get_or_create|update_or_create)|INSERT INTO events_event|(?<![\w.])Event\((?!models)")
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "migrations" not in p.parts and p.name != "log.py" and writers.search(p.read_text())]
    assert offenders == []


def test_a_transaction_newer_than_the_horizons_snapshot_does_not_drag_it_down() -> None:
    """A writer that takes its xid between the snapshot (xmax) and the pg_stat_activity read is
    newer than xmax: it must bound nothing. (Its 32-bit distance wraps; read as 2**32 older, the
    horizon fell by 2**32 and readers returned nothing while workers were busy.)"""
    from atomfleet_orchestrator.events.read import _HORIZON_SQL

    with psycopg.connect(database_url(), autocommit=True) as reader, psycopg.connect(database_url()) as writer:
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")  # the snapshot (and xmax) stay as first taken
        before = reader.execute(_HORIZON_SQL).fetchone()[0]  # type: ignore[index]
        writer.execute("SELECT pg_current_xact_id()")  # an xid newer than the reader's snapshot, held open
        reader.execute("SELECT pg_stat_clear_snapshot()")  # pg_stat_activity read afresh: the writer is in it
        after = reader.execute(_HORIZON_SQL).fetchone()[0]  # type: ignore[index]
        reader.execute("COMMIT")
        writer.rollback()
    assert after == before
