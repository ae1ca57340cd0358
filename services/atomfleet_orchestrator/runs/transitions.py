"""The guarded writes of the run lifecycle: each moves a run along one ``lifecycle.Transition``.

Every write is one conditional UPDATE that names the state it expects, so it is safe to repeat and
to race: the loser changes nothing and learns it from the row count. An execution's writes name
its attempt (``Execution``): once the run was handed to another attempt, or ended, a late write of
a superseded execution is discarded. Timestamps come from the database clock (``Now()``).

A run that is a step of a workflow ends through :func:`_ending`: the workflow's row is locked
first, then the run's write and the advance of its workflow (``workflows.engine.run_ended``:
children released or skipped, the workflow ended) commit together, so a crash can never leave a
step ended with its children forgotten. A single run keeps its one UPDATE: the execution knows
from its claim that it has no workflow, and the other writers look it up once.

Fair dispatch: a transaction that starts or ends a run gives its queue's turns last, before it
commits (``runs.fairness.turns_at_end``): the claim (a ready run left the broker), an ending, a
retry (the run waits for a turn again once due) and a cancel. A retry clears ``turn_at``.

Events: a write that changed a row writes its event (``events.log.emit_run``) in the same
transaction (``_evented``): the UPDATE and the INSERT in one atomic block, opened only around
those two statements (or joining the workflow's); a write that changed nothing writes no event.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, Field, Q, Value, When
from django.db.models.functions import Now
from django.db.models.query import QuerySet
from django.db.models.sql import UpdateQuery
from django.utils.dateparse import parse_datetime

from atomfleet.catalog import RetryPolicy
from atomfleet_orchestrator.events.log import emit_run, evented_update
from atomfleet_orchestrator.events.models import EventType
from atomfleet_orchestrator.runs import fairness
from atomfleet_orchestrator.runs.lifecycle import WAITING, ErrorCode, RunStatus, Transition
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import Tenant

__all__ = [
    "Claimed",
    "Execution",
    "Refusal",
    "Refused",
    "abandon",
    "ago",
    "cancel",
    "cancel_workflow_runs",
    "claim",
    "expire_dispatch",
    "fail",
    "fail_holder",
    "finish_cancelled",
    "from_now",
    "heartbeat",
    "lose",
    "mark_published",
    "Published",
    "report_progress",
    "retry_delay",
    "schedule_retry",
    "succeed",
    "unpublish",
]

log = logging.getLogger(__name__)
_WAITING = sorted(WAITING)


def retry_delay(backoff: RetryPolicy | None, attempt: int) -> float:
    """Seconds between the end of attempt ``attempt`` (1-based) and the next one.

    The one backoff rule of every retry: a transient error (the execution), a pool process lost
    (the worker's main process) and a stale heartbeat (the reconciler) all wait this long.
    ``None``: the atom's policy is unknown here, retry at once.
    """
    return backoff.delay(attempt) if backoff is not None else 0.0


def ago(seconds: float) -> ExpressionWrapper[Any]:
    """``now() - seconds`` on the database clock."""
    return ExpressionWrapper(Now() - Value(timedelta(seconds=seconds)), output_field=DateTimeField())


def from_now(seconds: float) -> ExpressionWrapper[Any]:
    """``now() + seconds`` on the database clock."""
    return ExpressionWrapper(Now() + Value(timedelta(seconds=seconds)), output_field=DateTimeField())


class _Unknown(enum.Enum):
    UNKNOWN = "unknown"


#: An ``Execution`` built without reading ``workflow_id``: the terminal write looks it up.
UNKNOWN_WORKFLOW = _Unknown.UNKNOWN
WorkflowRef = str | None | _Unknown


@dataclass(frozen=True)
class Execution:
    """One attempt of one run, held by one pool process (``identity`` = ``<worker>:<pid>``)."""

    run_id: str
    attempt: int
    identity: str
    #: The workflow the run is a step of (None: a single run), as the claim returned it.
    workflow_id: WorkflowRef = UNKNOWN_WORKFLOW
    #: The run's queue, as the claim returned it ("": look it up when the run ends).
    queue: str = ""

    def rows(self) -> Any:
        return AtomRun.objects.filter(
            id=self.run_id, status=RunStatus.RUNNING, attempts=self.attempt, worker=self.identity
        )


# -- claim ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    execution: Execution
    max_attempts: int
    args: dict[str, Any]
    tenant: str  # the tenant's slug, returned by the claim itself: no query between claim and execution
    #: Seconds from the step's release to this start (a workflow step's first attempt), else None.
    release_wait: float | None = None


class Refusal(enum.Enum):
    GONE = "gone"  # no such run, or the message belongs to another run's id
    FINISHED = "finished"  # already terminal: a duplicate or late message
    NOT_DUE = "not_due"  # retrying and not due yet: a stale message (the outbox publishes it)
    HELD = "held"  # another execution holds it (a duplicate message)
    CANCELLED = "cancelled"  # cancelled before this message could start it
    EXHAUSTED = "exhausted"  # no attempt left: ended failed/attempts_exhausted


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    status: str = ""


def _now_sql() -> tuple[str, list[Any]]:
    if connection.vendor == "postgresql":
        return "statement_timestamp()", []
    # SQLite (the local fleet) shares the host clock: Django's own encoding of "now".
    from django.utils import timezone

    return "%s", [connection.ops.adapt_datetimefield_value(timezone.now())]


def claim(run_id: str, task_id: str, identity: str, queue: str = "") -> Claimed | Refused:
    """Take a waiting, due run for one execution: one statement that also returns what it needs.

    Nothing that can fail may sit between this committed claim and the atom's start (a failed
    query there would leave the run ``running`` with no execution), so the tenant's slug comes
    back with the claim. ``queue``: where the run is expected (the atom's queue), a hint for how
    to give its turns (``_written``).
    """
    from atomfleet_orchestrator.workflows.models import WorkflowStep

    now, now_params = _now_sql()
    table = AtomRun._meta.db_table
    tenants = Tenant._meta.db_table
    steps = WorkflowStep._meta.db_table
    pk = AtomRun._meta.pk.get_db_prep_value(run_id, connection)
    # A step's release time only for a workflow's first attempt: the CASE keeps single runs from
    # evaluating the subquery at all.
    released = (
        f"CASE WHEN {table}.workflow_id IS NULL OR attempts > 1 THEN NULL "
        f"ELSE (SELECT released_at FROM {steps} WHERE {steps}.run_id = {table}.id) END"
    )
    tenant = f"(SELECT slug FROM {tenants} WHERE {tenants}.id = {table}.tenant_id)"
    update = (
        f"UPDATE {table} SET status = %s, attempts = attempts + 1, started_at = {now}, "
        f"heartbeat_at = {now}, worker = %s, dispatch_count = 0, next_attempt_at = NULL, "
        "error_code = '', error_message = '' "
        f"WHERE id = %s AND celery_task_id = %s AND status IN (%s, %s) AND NOT cancel_requested "
        f"AND (next_attempt_at IS NULL OR next_attempt_at <= {now}) AND attempts < max_attempts "
    )
    params = [RunStatus.RUNNING.value, *now_params, *now_params, identity, pk, task_id,
              *_WAITING, *now_params]
    if connection.vendor == "postgresql":
        row = _written(
            f"{update} RETURNING {table}.*, {tenant} AS tenant_slug, {released} AS released_wait_from",
            params, EventType.RUN_STARTED,
            "w.attempts, w.max_attempts, w.args, w.tenant_slug, w.workflow_id, w.started_at, w.released_wait_from",
            queue,
        )
    else:  # SQLite (the local fleet): no data-modifying CTE; the UPDATE, then its event
        sql = (f"{update} RETURNING attempts, max_attempts, args, {tenant}, workflow_id, started_at, {released}, "
               "queue")
        with fairness.turns_at_end(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
            if row is not None:
                emit_run(run_id, EventType.RUN_STARTED)  # event: in the claim's transaction
                fairness.wants_turns(row[-1])  # a ready run left the broker: room for the next turn
    if row is not None:
        attempt, max_attempts, args, tenant, workflow_id, started_at, released_at, queue = row[:8]
        if isinstance(args, str | bytes):
            args = json.loads(args)
        wait = _seconds_between(released_at, started_at)
        execution = Execution(str(run_id), int(attempt), identity, str(workflow_id) if workflow_id else None,
                              str(queue))
        return Claimed(execution, int(max_attempts), args, str(tenant), wait)
    return _refusal(run_id, task_id)


def _written(update: str, params: list[Any], event: EventType | None, select: str, queue: str) -> Any:
    """PostgreSQL: a worker's write of one single run (no workflow) in one statement — the guarded
    UPDATE, its event (``events.log.evented_update``) and whether runs wait for a turn on the run's
    queue (``fairness.waiting_sql``) — returning ``select`` + the queue, or None (nothing changed).

    When the caller has no transaction open, the statement is its own transaction (one round trip,
    one durable commit) unless this process last saw runs waiting on ``queue``: then it opens one,
    so that the turns it gives commit with it (``fairness.turns_at_end``). A statement that
    committed alone and found runs waiting gives their turns right after, in a transaction of
    their own (``fairness.give_turns_now``; a crash in between leaves them to beat's round, as
    any turn a crash forgets).
    """
    sql, params = evented_update(update, params, event, f"{select}, w.queue, {fairness.waiting_sql('w')}")

    def execute() -> Any:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()

    if connection.in_atomic_block or fairness.expects_waiting(queue):
        with fairness.turns_at_end():
            row = execute()
            if row is not None and row[-2]:
                fairness.wants_turns(row[-3], waiting=True)
    else:
        row = execute()
        if row is not None and row[-2]:
            fairness.give_turns_now(row[-3])
    if row is not None:
        fairness.saw_waiting(row[-3], bool(row[-2]))
        return row[:-2]
    return None


def _seconds_between(earlier: Any, later: Any) -> float | None:
    """Seconds between two timestamps a raw query returned (SQLite returns text), or None."""
    earlier, later = (parse_datetime(v) if isinstance(v, str) else v for v in (earlier, later))
    if not isinstance(earlier, datetime) or not isinstance(later, datetime):
        return None
    return max(0.0, (later - earlier).total_seconds())


def _refusal(run_id: str, task_id: str) -> Refused:
    run = (
        AtomRun.objects.filter(id=run_id)
        .only("status", "celery_task_id", "cancel_requested", "attempts", "max_attempts", "worker")
        .first()
    )
    if run is None or run.celery_task_id != task_id:
        return Refused(Refusal.GONE)
    if run.status == RunStatus.CANCELLED and not run.worker:
        # Cancelled while it waited: this message is the task the cancellation revoked.
        return Refused(Refusal.CANCELLED, run.status)
    if run.is_terminal:
        return Refused(Refusal.FINISHED, run.status)
    if run.status == RunStatus.RUNNING:
        return Refused(Refusal.HELD, run.status)
    if run.cancel_requested:
        finish_cancelled(run_id, "cancelled before it started")
        return Refused(Refusal.CANCELLED, RunStatus.CANCELLED)
    if run.attempts >= run.max_attempts:
        abandon(run_id, ErrorCode.ATTEMPTS_EXHAUSTED, f"all {run.max_attempts} attempt(s) used")
        return Refused(Refusal.EXHAUSTED, RunStatus.FAILED)
    return Refused(Refusal.NOT_DUE, run.status)


# -- while running -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    """What one heartbeat learned about one execution."""

    held: bool  # the run is still running under this execution
    cancel_requested: bool


def heartbeat(executions: Iterable[tuple[str, str]]) -> dict[str, Lease]:
    """Refresh the heartbeat of every ``(run id, identity)`` still running under that identity.

    Called by a worker's main process for its live pool processes: two statements per round,
    whatever the number of runs.
    """
    pairs = list(executions)
    if not pairs:
        return {}
    held = Q()
    for run_id, identity in pairs:
        held |= Q(id=run_id, worker=identity)
    AtomRun.objects.filter(held, status=RunStatus.RUNNING).update(heartbeat_at=Now())
    rows = AtomRun.objects.filter(id__in=[r for r, _ in pairs]).values_list(
        "id", "status", "worker", "cancel_requested"
    )
    found = {str(i): (s, w, c) for i, s, w, c in rows}
    leases = {}
    for run_id, identity in pairs:
        status, worker, cancel = found.get(run_id, ("", "", False))
        leases[run_id] = Lease(held=status == RunStatus.RUNNING and worker == identity, cancel_requested=cancel)
    return leases


def report_progress(execution: Execution, fraction: float, message: str) -> None:
    # Throttled by the caller (ATOMFLEET_PROGRESS_INTERVAL): one event per progress write.
    with transaction.atomic():
        if execution.rows().update(progress=fraction, progress_message=message[:500]):
            emit_run(execution.run_id, EventType.RUN_PROGRESS)


# -- outcomes of an execution --------------------------------------------------------------------


def _field(name: str) -> Field[Any, Any]:
    """The model field a CASE expression writes (its SQL type)."""
    field = AtomRun._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _workflow_and_queue(run_id: str) -> tuple[str | None, str]:
    row = AtomRun.objects.filter(id=run_id).values_list("workflow_id", "queue").first()
    if row is None:
        return None, ""
    return (str(row[0]) if row[0] is not None else None), str(row[1])


# The event of each write of an execution; None: the row's new status names it (a retry write
# that found a cancellation request ended the run cancelled).
_EVENTS: dict[Transition, EventType | None] = {
    Transition.SUCCEED: EventType.RUN_SUCCEEDED,
    Transition.FAIL: EventType.RUN_FAILED,
    Transition.CANCEL_RUNNING: EventType.RUN_CANCELLED,
    Transition.SCHEDULE_RETRY: None,
}


def _evented(
    run_id: str, event: EventType | None, update: Callable[[], int], if_status: str | None = None
) -> Callable[[], bool]:
    """``update`` and, when it changed the run, the run's event, in one transaction (joining the
    caller's, e.g. the workflow's, when there is one: no savepoint)."""
    def write() -> bool:
        with transaction.atomic(savepoint=False):
            done = bool(update())
            if done:
                emit_run(run_id, event, if_status=if_status)
        return done

    return write


def _ending(run_id: str, workflow_id: WorkflowRef, write: Callable[[], bool], queue: str = "") -> bool:
    """Apply a write that may end run ``run_id``; a workflow's run advances its workflow with it.

    The workflow's row is locked before the run's (the order every workflow write takes, so a
    workflow's cancel and its steps' endings never deadlock), and the engine reads the run's new
    status in the same transaction: a write that did not end the run (a retry) changes nothing
    there. A single run: just the write. Either way the run's queue then gets its turns (a slot or
    a ready run was freed; a step's children may wait on other queues), last in the transaction.
    """
    if workflow_id is UNKNOWN_WORKFLOW or not queue:
        looked_up, queue = _workflow_and_queue(run_id)
        if workflow_id is UNKNOWN_WORKFLOW:
            workflow_id = looked_up
    with fairness.turns_at_end():
        if workflow_id is None:
            done = write()
        else:
            from atomfleet_orchestrator.workflows import engine

            workflow = engine.lock(str(workflow_id))
            done = write()
            if done and workflow is not None:
                engine.run_ended(workflow, run_id)
        if done and queue:
            fairness.wants_turns(queue)
    return done


def _update_sql(rows: QuerySet[AtomRun], values: dict[str, Any]) -> tuple[str, list[Any]]:
    """The SQL and params of ``rows.update(**values)``, to be sent as part of one statement."""
    query = cast(UpdateQuery, rows.query.chain(UpdateQuery))
    query.add_update_values(values)
    compiler = query.get_compiler(using=rows.db)
    compiler.pre_sql_setup()
    sql, params = compiler.as_sql()
    return sql, list(params)


def _end(execution: Execution, transition: Transition, guard: Q | None = None, **fields: Any) -> bool:
    """One terminal (or retry) write of an execution; False when it was superseded."""
    assert transition.target is not None
    rows = execution.rows() if guard is None else execution.rows().filter(guard)
    values = {"status": transition.target, **fields}
    if connection.vendor == "postgresql" and execution.workflow_id is None and execution.queue:
        # A single run whose queue the claim returned: one statement (``_written``).
        update, params = _update_sql(rows, values)
        updated = _written(f"{update} RETURNING {AtomRun._meta.db_table}.*", params, _EVENTS[transition],
                           "w.id", execution.queue) is not None
    else:
        updated = _ending(execution.run_id, execution.workflow_id, _evented(
            execution.run_id, _EVENTS[transition], lambda: rows.update(**values)), execution.queue)
    if not updated:
        log.warning(
            "run %s attempt %d: %s discarded, the execution was superseded",
            execution.run_id, execution.attempt, transition.name.lower(),
        )
    return bool(updated)


def succeed(execution: Execution, *, result: Any, result_artifact: str, artifacts: list[dict[str, Any]]) -> bool:
    return _end(
        execution, Transition.SUCCEED, finished_at=Now(), result=result, result_artifact=result_artifact,
        artifacts=artifacts, progress=1.0, progress_message="done",
    )


def fail(
    execution: Execution,
    code: str,
    message: str,
    artifacts: list[dict[str, Any]] | None = None,
    guard: Q | None = None,
) -> bool:
    fields: dict[str, Any] = {"finished_at": Now(), "error_code": code, "error_message": message[:4000]}
    if artifacts is not None:
        fields["artifacts"] = artifacts
    return _end(execution, Transition.FAIL, guard, **fields)


def fail_holder(run_id: str, holder: str, code: str, message: str) -> bool:
    """Fail the run its pool process ``holder`` was executing (the worker's main process, which
    does not know the attempt number, names the execution by its holder)."""
    run = AtomRun.objects.filter(id=run_id, status=RunStatus.RUNNING, worker=holder).only("attempts", "workflow_id").first()
    return run is not None and fail(Execution(run_id, run.attempts, holder, _ref(run.workflow_id)), code, message)


def _ref(workflow_id: Any) -> str | None:
    return str(workflow_id) if workflow_id is not None else None


def finish_cancelled(
    run_id: str, message: str, execution: Execution | None = None, guard: Q | None = None
) -> bool:
    """End a cancelled run: a waiting one at once, a running one by its own execution."""
    fields = {"finished_at": Now(), "error_code": ErrorCode.CANCELLED, "error_message": message}
    if execution is not None:
        return _end(execution, Transition.CANCEL_RUNNING, guard, **fields)
    # ``worker`` cleared: no execution holds it, so the message that arrives is announced revoked.
    return _ending(run_id, UNKNOWN_WORKFLOW, _evented(run_id, EventType.RUN_CANCELLED, lambda: (
        AtomRun.objects.filter(id=run_id, status__in=_WAITING).update(
            status=RunStatus.CANCELLED, cancel_requested=True, worker="", **fields
        )
    )))


def schedule_retry(
    execution: Execution, code: str, message: str, delay: float, guard: Q | None = None
) -> bool:
    """running → retrying; the next attempt waits for its turn once ``delay`` has passed (beat's
    round gives turns to due retries; ``runs.fairness``).

    A run whose cancellation was requested while this attempt ran ends ``cancelled`` instead, in
    the same statement: no further attempt of a run the API promised to stop. ``worker`` is then
    cleared, so a message that still arrives is announced as the revoked task.
    """
    def unless_cancelled(name: str, value: Any, if_cancelled: Any) -> tuple[str, Case]:
        field = _field(name)
        return name, Case(When(cancel_requested=True, then=if_cancelled), default=value, output_field=field)

    fields = dict([
        unless_cancelled("status", Value(RunStatus.RETRYING.value), Value(RunStatus.CANCELLED.value)),
        unless_cancelled("finished_at", Value(None), Now()),
        unless_cancelled("error_code", Value(code), Value(ErrorCode.CANCELLED.value)),
        unless_cancelled("error_message", Value(message[:4000]),
                         Value(f"cancelled on request; its attempt ended with: {message}"[:4000])),
        unless_cancelled("worker", F("worker"), Value("")),
        unless_cancelled("next_attempt_at", from_now(delay), Value(None)),
    ])
    return _end(
        execution, Transition.SCHEDULE_RETRY, guard, **fields,
        dispatched_at=None, heartbeat_at=None, turn_at=None,
    )


def lose(
    run_id: str,
    *,
    idempotent: bool,
    backoff: RetryPolicy | None,
    identity: str | None = None,
    stale_after: float | None = None,
    reason: str,
) -> str | None:
    """An execution is gone (pool process died, or no heartbeat for ``stale_after``).

    Named by its ``identity`` (the worker's main process saw it die) or found stale by the
    reconciler. Decides from the row: cancelled if a cancellation was requested, retried if the
    atom is idempotent and attempts are left (after ``retry_delay`` of the attempt that was lost),
    else failed. Returns the new status, or None when the run had already moved on.
    """
    # The write repeats the condition: a heartbeat landing after the read keeps the run alive.
    guard = Q(heartbeat_at__lt=ago(stale_after)) if stale_after is not None else Q()
    held = AtomRun.objects.filter(guard, id=run_id, status=RunStatus.RUNNING)
    if identity is not None:
        held = held.filter(worker=identity)
    run = held.only("attempts", "max_attempts", "cancel_requested", "worker", "workflow_id").first()
    if run is None:
        return None
    execution = Execution(run_id, run.attempts, run.worker, _ref(run.workflow_id))
    if run.cancel_requested:
        done = finish_cancelled(run_id, f"cancelled; its execution was lost ({reason})", execution, guard)
        return RunStatus.CANCELLED if done else None
    if idempotent and run.attempts < run.max_attempts:
        delay = retry_delay(backoff, run.attempts)
        if not schedule_retry(execution, ErrorCode.WORKER_LOST, reason, delay, guard):
            return None
        # A cancellation that landed after the read above ended it cancelled instead.
        return RunStatus(AtomRun.objects.filter(id=run_id).values_list("status", flat=True).get())
    if idempotent:
        code, message = ErrorCode.ATTEMPTS_EXHAUSTED, f"{reason}; all {run.max_attempts} attempt(s) used"
    else:
        code, message = ErrorCode.WORKER_LOST, f"{reason}; the atom is not idempotent, so it is not run again"
    return RunStatus.FAILED if fail(execution, code, message, guard=guard) else None


# -- waiting runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """A run the outbox published, in the state it read it in."""

    run_id: str
    status: str
    attempts: int


def mark_published(published: Iterable[Published]) -> int:
    """The outbox published these runs: stamp the publish (one statement for the batch).

    Each stamp is guarded by the state the row was read and published in: a run a worker claimed
    meanwhile (and perhaps already sent back to ``retrying``, due later) has another status or
    attempt count, and stays in the outbox for its next due time instead of waiting out the
    dispatch deadline as if its new attempt had been published.
    """
    rows = list(published)
    if not rows:
        return 0
    read_as = Q()
    for row in rows:
        read_as |= Q(id=row.run_id, status=row.status, attempts=row.attempts)
    return AtomRun.objects.filter(read_as, status__in=_WAITING, dispatched_at__isnull=True).update(
        dispatched_at=Now(), dispatch_count=F("dispatch_count") + 1
    )


def unpublish(run_id: str) -> bool:
    """The publish on commit failed: the run waits in the outbox instead."""
    return bool(
        AtomRun.objects.filter(id=run_id, status__in=_WAITING, dispatched_at__isnull=False).update(
            dispatched_at=None, dispatch_count=F("dispatch_count") - 1
        )
    )


def expire_dispatch(run_id: str, timeout: float) -> bool:
    """A published run not claimed within ``timeout``: back to the outbox (same task id)."""
    return bool(
        AtomRun.objects.filter(
            id=run_id, status__in=_WAITING, dispatched_at__lt=ago(timeout)
        ).update(dispatched_at=None)
    )


def abandon(run_id: str, code: ErrorCode, message: str) -> bool:
    """A waiting run nothing can ever execute ends failed (unknown atom or queue, caps)."""
    return _ending(run_id, UNKNOWN_WORKFLOW, _evented(run_id, EventType.RUN_FAILED, lambda: (
        AtomRun.objects.filter(id=run_id, status__in=_WAITING).update(
            status=Transition.ABANDON.target, finished_at=Now(), error_code=code, error_message=message[:4000]
        )
    )))


def cancel(run_id: str) -> None:
    """API cancellation: a waiting run ends at once; a running one is flagged for its execution.

    One statement, so it cannot fall between two states: the row lock orders it against the
    execution's own writes. A run that moves running → retrying while it waits for that lock is
    re-read by PostgreSQL and ends cancelled; a retry write that comes after it sees the flag and
    ends the run cancelled itself (``schedule_retry``).
    """
    def if_waiting(name: str, value: Any) -> tuple[str, Case]:
        field = _field(name)
        return name, Case(When(status__in=_WAITING, then=value), default=F(name), output_field=field)

    # A waiting run ends now (its event); a running one only carries the flag (its execution ends it).
    _ending(run_id, UNKNOWN_WORKFLOW, _evented(run_id, EventType.RUN_CANCELLED, lambda: AtomRun.objects.filter(
        id=run_id, status__in=[*_WAITING, RunStatus.RUNNING]).update(
        cancel_requested=True,
        **dict([
            if_waiting("status", Value(RunStatus.CANCELLED.value)),
            if_waiting("finished_at", Now()),
            if_waiting("error_code", Value(ErrorCode.CANCELLED.value)),
            if_waiting("error_message", Value("cancelled before it started")),
            # No execution holds a waiting run: the message that arrives is announced revoked.
            if_waiting("worker", Value("")),
        ]),
    ), if_status=RunStatus.CANCELLED))


def cancel_workflow_runs(workflow_id: str, *, running_too: bool) -> list[str]:
    """Cancel the waiting runs of a workflow at once (and flag its running ones if
    ``running_too``); returns the ids of the runs this ended.

    Called by ``workflows.engine`` with the workflow's row locked, which accounts for the steps
    itself (no hook). The waiting rows are locked first, so a claim racing this either took the
    run before (the run is running and left alone) or finds it cancelled.
    """
    runs = AtomRun.objects.filter(workflow_id=workflow_id)
    rows = list(runs.select_for_update().filter(status__in=_WAITING).values_list("id", "queue"))
    waiting = [str(run_id) for run_id, _ in rows]
    for queue in {queue for _, queue in rows}:
        fairness.wants_turns(queue)  # a published run of it may have been among them
    if waiting:
        AtomRun.objects.filter(id__in=waiting, status__in=_WAITING).update(
            status=RunStatus.CANCELLED, cancel_requested=True, worker="", finished_at=Now(),
            error_code=ErrorCode.CANCELLED, error_message="cancelled before it started (its workflow stopped)",
        )
        for run_id in waiting:  # events: in the workflow's transaction (the rows are locked above)
            emit_run(run_id, EventType.RUN_CANCELLED)
    if running_too:
        runs.filter(status=RunStatus.RUNNING).update(cancel_requested=True)
    return waiting
