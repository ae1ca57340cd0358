"""Fair dispatch: which waiting runs of a queue get their turn, tenant by tenant.

An accepted run is inserted **waiting for its turn** (``turn_at`` NULL): in PostgreSQL, not yet
published. A queue keeps only a few runs published ahead of its workers (``ready``: published,
not started): at most ``ATOMFLEET_QUEUE_READY`` (2), whatever the number of slots — each claim
gives the next turn in its own transaction, so a slot that frees finds a run in the list, and
a burst fills any number of slots as fast as claims follow each other. Whenever that leaves room,
the waiting runs of the queue's tenants are given turns in weighted fair order, stamped published
and sent after the commit. So a deep backlog of one tenant waits in PostgreSQL, not in the Redis
list, and another tenant's run is published at the next claim, behind at most that many.

The order: each tenant's candidate gets the key ``(its runs holding or about to hold a slot of
the queue + its rank among its waiting runs) / its weight`` — the tenant using the fewest slots
per unit of weight goes first; within a tenant, higher ``priority`` first, then oldest. A tenant
at its running cap (overall or on the queue, counting runs running or published) gets no turn.

Turns are given at the end of the transactions that change what a queue may take: a submit (its
own new runs), a claim (a ready run left the broker), a run's end (a tenant's cap freed), a
cancel, and beat's round (retries that came due, anything a crash left). Each queue's turns are
serialised by a transaction-scoped advisory lock, taken last — after every row lock of the
transaction — and the rows given turns are locked with SKIP LOCKED, so the holder never waits on
a row: no lock cycle. The state is the rows themselves: nothing to rebuild after a crash.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Now

from atomfleet_orchestrator.atoms import registry
from atomfleet_orchestrator.runs.lifecycle import WAITING, RunStatus
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.stats import waiting_now

__all__ = [
    "Room", "enabled", "expects_waiting", "give_turns", "give_turns_now", "room", "saw_waiting", "turns_at_end",
    "waiting_sql", "wants_turns",
]

log = logging.getLogger(__name__)
_WAITING = sorted(WAITING)
#: First key of the advisory lock that serialises one queue's turns (the second: the queue's crc).
_TURN_LOCK_CLASS = 0x61660002


@dataclass(frozen=True)
class Room:
    running: int
    ready: int  # published (given a turn), not started

    @property
    def free(self) -> int:
        return settings.ATOMFLEET_QUEUE_READY - self.ready


def room(queue: str) -> Room:
    """The queue's runs holding a slot, and those published ahead of its workers."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(SUM(CASE WHEN status = %s THEN 1 ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN status = %s THEN 0 ELSE 1 END), 0) FROM {AtomRun._meta.db_table} "
            f"WHERE queue = %s AND turn_at IS NOT NULL AND status IN (%s, %s, %s)",
            [RunStatus.RUNNING.value, RunStatus.RUNNING.value, queue, *_WAITING, RunStatus.RUNNING.value],
        )
        running, ready = cursor.fetchone()
    return Room(int(running), int(ready))


_UNFAIR_BATCH = 500


def enabled() -> bool:
    return bool(settings.ATOMFLEET_FAIR_DISPATCH)


def _anyone_waiting(queue: str) -> bool:
    return AtomRun.objects.filter(queue=queue, turn_at__isnull=True, status__in=_WAITING).exists()


def waiting_sql(row: str) -> str:
    """SQL: whether any run waits for a turn on the queue of ``row``, a run just written by the
    same statement (``_anyone_waiting`` as a column of that statement: no round trip of its own).
    The statement's snapshot holds the row as it was before: the row counts as written (a retry
    due at once waits for its turn again), the others as read. Always false without fair dispatch,
    when ``wants_turns`` asks for nothing."""
    if not enabled():
        return "FALSE"
    waiting = "{0}.turn_at IS NULL AND {0}.status IN ('queued', 'retrying')"
    return (f"({waiting.format(row)} OR EXISTS (SELECT 1 FROM {AtomRun._meta.db_table} other "
            f"WHERE other.queue = {row}.queue AND other.id <> {row}.id AND {waiting.format('other')}))")


# What this process last learned, per queue, of runs waiting for a turn. A hint only: it picks
# whether a worker's single-statement write opens a transaction for the turns (some waited last
# time) or commits on its own and gives turns after, in a transaction of their own (none did).
_seen_waiting: dict[str, bool] = {}


def expects_waiting(queue: str) -> bool:
    return _seen_waiting.get(queue, False)


def saw_waiting(queue: str, waiting: bool) -> None:
    _seen_waiting[queue] = waiting


def _lock(queue: str) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite (`atomfleet dev`) runs one writing transaction at a time anyway
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)",
                       [_TURN_LOCK_CLASS, zlib.crc32(queue.encode()) - 2**31])


# The waiting runs of each tenant that has some on the queue (a loose index scan over the
# partial index ``run_waiting_turn``: one probe per tenant, whatever the depth of its backlog),
# its first ``room`` candidates, and its occupancy and limits; the fair order picks ``room``.
_CANDIDATES_SQL = """
WITH RECURSIVE {room_cte}tenants(tenant_id) AS (
    SELECT (SELECT tenant_id FROM {runs} WHERE queue = %(queue)s AND turn_at IS NULL
              AND status IN ('queued', 'retrying') ORDER BY tenant_id LIMIT 1)
  UNION ALL
    SELECT (SELECT r.tenant_id FROM {runs} r WHERE r.queue = %(queue)s AND r.turn_at IS NULL
              AND r.status IN ('queued', 'retrying') AND r.tenant_id > t.tenant_id
            ORDER BY r.tenant_id LIMIT 1)
    FROM tenants t WHERE t.tenant_id IS NOT NULL
),
busy AS (
  SELECT tenant_id, SUM(CASE WHEN queue = %(queue)s THEN 1 ELSE 0 END) AS on_queue, COUNT(*) AS overall
  FROM {runs} WHERE turn_at IS NOT NULL AND status IN ('queued', 'retrying', 'running')
    AND tenant_id IN (SELECT tenant_id FROM tenants WHERE tenant_id IS NOT NULL)
  GROUP BY tenant_id
),
candidates AS (
  SELECT c.id, c.atom, c.created_at, c.n,
         COALESCE(b.on_queue, 0) AS on_queue, COALESCE(b.overall, 0) AS overall,
         COALESCE(l.weight, %(weight)s) AS weight,
         COALESCE(l.max_running, %(max_running)s) AS max_running,
         COALESCE(l.max_running_per_queue, %(max_per_queue)s) AS max_per_queue
  FROM tenants t
  {lateral}
  LEFT JOIN busy b ON b.tenant_id = t.tenant_id
  LEFT JOIN {limits} l ON l.tenant_id = t.tenant_id
  WHERE t.tenant_id IS NOT NULL
)
SELECT id, atom FROM candidates
WHERE on_queue + n <= max_per_queue AND overall + n <= max_running
ORDER BY (on_queue + n) * 1.0 / weight, created_at, id
LIMIT {room}
"""
# PostgreSQL: the queue's free room (``room()``) computed by the same statement, after the turn
# lock was taken (a statement's snapshot is taken when it starts: the lock's statement came first).
_ROOM_CTE_PG = """room AS (
  SELECT GREATEST(0, %(ready)s - COALESCE(SUM(CASE WHEN status = 'running' THEN 0 ELSE 1 END), 0)) AS free
  FROM {runs} WHERE queue = %(queue)s AND turn_at IS NOT NULL AND status IN ('queued', 'retrying', 'running')
),
"""
# PostgreSQL: each tenant's first candidates by one index range (LATERAL ... LIMIT).
_LATERAL_PG = """
  CROSS JOIN LATERAL (
    SELECT r.id, r.atom, r.created_at, row_number() OVER (ORDER BY r.priority DESC, r.created_at, r.id) AS n
    FROM {runs} r
    WHERE r.tenant_id = t.tenant_id AND r.queue = %(queue)s AND r.turn_at IS NULL
      AND (r.status = 'queued' OR (r.status = 'retrying' AND r.next_attempt_at <= statement_timestamp()))
    ORDER BY r.priority DESC, r.created_at, r.id LIMIT {room}
  ) c
"""
# SQLite (the local fleet, a handful of runs) has no LATERAL: a window over the queue's waiting runs.
_LATERAL_SQLITE = """
  JOIN (
    SELECT r.id, r.atom, r.tenant_id, r.created_at,
           row_number() OVER (PARTITION BY r.tenant_id ORDER BY r.priority DESC, r.created_at, r.id) AS n
    FROM {runs} r
    WHERE r.queue = %(queue)s AND r.turn_at IS NULL
      AND (r.status = 'queued' OR (r.status = 'retrying' AND r.next_attempt_at <= %(now)s))
  ) c ON c.tenant_id = t.tenant_id AND c.n <= %(room)s
"""


def _candidates(queue: str, free: int | None) -> list[tuple[Any, str]]:
    """(id, atom) of the runs to be given turns, in fair order; ``free`` None (PostgreSQL only):
    the room is counted by the same statement."""
    from django.utils import timezone

    from atomfleet_orchestrator.tenancy.models import TenantLimits

    runs, limits = AtomRun._meta.db_table, TenantLimits._meta.db_table
    in_sql = free is None
    room_limit = "(SELECT free FROM room)" if in_sql else "%(room)s"
    lateral = _LATERAL_PG if connection.vendor == "postgresql" else _LATERAL_SQLITE
    sql = _CANDIDATES_SQL.format(
        runs=runs, limits=limits, room=room_limit, lateral=lateral.format(runs=runs, room=room_limit),
        room_cte=_ROOM_CTE_PG.format(runs=runs) if in_sql else "",
    )
    params: dict[str, Any] = {
        "queue": queue, "room": free, "weight": settings.ATOMFLEET_TENANT_WEIGHT,
        "max_running": settings.ATOMFLEET_TENANT_MAX_RUNNING,
        "max_per_queue": settings.ATOMFLEET_TENANT_MAX_RUNNING_PER_QUEUE,
        "ready": settings.ATOMFLEET_QUEUE_READY,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]


# PostgreSQL: lock the chosen runs still waiting (skipping any another transaction holds) and
# give them their turns in one statement; a run of a retired atom gets its turn unpublished.
_TAKE_TURNS_PG = """
UPDATE {runs} SET turn_at = statement_timestamp(),
  dispatched_at = CASE WHEN atom = ANY(%(registered)s::text[]) THEN statement_timestamp() ELSE dispatched_at END,
  dispatch_count = dispatch_count + CASE WHEN atom = ANY(%(registered)s::text[]) THEN 1 ELSE 0 END
WHERE id IN (SELECT id FROM {runs} WHERE id = ANY(%(ids)s::uuid[]) AND turn_at IS NULL
               AND status IN ('queued', 'retrying') FOR UPDATE SKIP LOCKED)
RETURNING id, atom, queue, celery_task_id, atom = ANY(%(registered)s::text[])
"""


def _take_turns(chosen: list[tuple[Any, str]]) -> tuple[int, list[tuple[Any, str, str, str]]]:
    """Give the chosen runs still waiting their turns: (how many, those to publish)."""
    # A run of an atom a deploy retired gets its turn unpublished: the outbox ends it failed.
    registered = sorted(atom for atom in {atom for _, atom in chosen} if registry.current(atom) is not None)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_TAKE_TURNS_PG.format(runs=AtomRun._meta.db_table),
                           {"ids": [run_id for run_id, _ in chosen], "registered": registered})
            rows = cursor.fetchall()
        return len(rows), [row[:4] for row in rows if row[4]]
    # A row another transaction holds (a cancel) is skipped, never waited on.
    locked = list(AtomRun.objects.select_for_update(skip_locked=True)
                  .filter(id__in=[run_id for run_id, _ in chosen], turn_at__isnull=True, status__in=_WAITING)
                  .values_list("id", "atom", "queue", "celery_task_id"))
    sent = [row for row in locked if row[1] in registered]
    AtomRun.objects.filter(id__in=[r[0] for r in sent]).update(
        turn_at=Now(), dispatched_at=Now(), dispatch_count=F("dispatch_count") + 1)
    AtomRun.objects.filter(id__in=[r[0] for r in locked if r not in sent]).update(turn_at=Now())
    return len(locked), sent


def give_turns(queue: str, *, waiting: bool | None = None) -> int:
    """Give the queue's free room to its waiting runs, fairly; returns how many got a turn.

    In the caller's transaction, as its last writes (see the module's docstring for why); the runs
    are published when it commits (``dispatch.dispatch_after_commit``), or by the outbox.
    ``waiting``: True when a statement of this transaction already found runs waiting (no check).
    """
    from atomfleet_orchestrator.runs.dispatch import Target, dispatch_after_commit

    if not waiting and not _anyone_waiting(queue):
        return 0
    with transaction.atomic(savepoint=False):
        if enabled():
            _lock(queue)
            if connection.vendor == "postgresql":
                chosen = _candidates(queue, None)  # the room counted by the same statement
            else:
                free = room(queue).free
                if free <= 0:
                    return 0
                chosen = _candidates(queue, free)
        else:  # FIFO, all at once: what is left from before it was turned off, and due retries
            chosen = list(AtomRun.objects.filter(waiting_now(), queue=queue, turn_at__isnull=True)
                          .order_by("created_at", "id").values_list("id", "atom")[:_UNFAIR_BATCH])
        if not chosen:
            return 0
        given, sent = _take_turns(chosen)
    for run_id, atom, run_queue, task_id in sent:
        dispatch_after_commit(Target(str(run_id), atom, run_queue, task_id))
    return given


class _Pending(threading.local):
    depth: int = 0
    # queue -> whether a statement of the transaction already found runs waiting on it
    queues: dict[str, bool] | None = None


_pending = _Pending()


@contextmanager
def turns_at_end() -> Iterator[None]:
    """A transaction (or the caller's, joined) whose touched queues get their turns just before
    it commits: after every other write, so the turn lock is always the last lock taken."""
    outer = _pending.depth == 0
    if outer:
        _pending.queues = {}
    _pending.depth += 1
    try:
        with transaction.atomic():
            yield
            if outer:
                queues, _pending.queues = dict(sorted((_pending.queues or {}).items())), {}
                for queue, waiting in queues.items():  # sorted: two transactions lock queues in one order
                    give_turns(queue, waiting=waiting)
    finally:
        _pending.depth -= 1
        if outer:
            _pending.queues = None


def wants_turns(queue: str, *, waiting: bool | None = None) -> None:
    """This transaction changed what ``queue`` may take (a new run, a freed slot): give turns at
    its end. Outside ``turns_at_end`` the turns are given after the commit, in a transaction of
    their own (still before any row lock of it, so still last). ``waiting``: True when the
    caller's statement already found runs waiting on the queue (``waiting_sql``), so the end of
    the transaction need not ask again."""
    if not enabled():
        return  # nothing waits for a turn (create_run gave it); due retries: beat's round
    if _pending.queues is not None:
        _pending.queues[queue] = _pending.queues.get(queue, False) or bool(waiting)
        return
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _give_turns_now(queue))
    else:
        _give_turns_now(queue)


def _give_turns_now(queue: str, waiting: bool | None = None) -> None:
    try:
        with transaction.atomic():
            give_turns(queue, waiting=waiting)
    except Exception as exc:  # beat's round gives them
        log.warning("turns of queue %s left to beat's round: %s", queue, exc)


def give_turns_now(queue: str) -> None:
    """A statement that committed on its own found runs waiting on ``queue``: give its turns now,
    in a transaction of their own (a failure is left to beat's round, never raised)."""
    _give_turns_now(queue, waiting=True)
