"""The one writer of the event log: every event is written here, inside the change's transaction.

``emit`` writes an event whose data the caller has (a submission); ``emit_run`` writes one that
describes a run row as the same transaction just wrote it (a transition), in one INSERT … SELECT:
the event can never disagree with the row, and the transition needs no extra round trip to learn
the run's tenant or attempt. ``insert_run`` writes a new run's row and its event in one statement
(PostgreSQL: the run's INSERT in a ``WITH``, the event built from what it returned). Nothing else inserts into the table (tests/events/test_log.py checks).

Ids (PostgreSQL): ``txid << 20 | n`` — the writing transaction's id (``pg_current_xact_id()``,
64-bit, never wraps) and the event's number within it. Readers page by id and only read below the
oldest transaction of this database still in flight (``events.read.horizon``): an id is final once
it is below that line, so a reader never misses an event that commits late nor sees one twice.
2**20 events per transaction is far above a batch's 1,000 runs. SQLite (the local fleet) runs one
writer at a time, so ``max(id) + 1`` already commits in id order.

After the INSERT, ``pg_notify('atomfleet_events', tenant)`` (in RETURNING: the same statement)
wakes the SSE processes when the transaction commits; PostgreSQL delivers nothing on rollback.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connection

from atomfleet_orchestrator.events.models import Event, EventType
from atomfleet_orchestrator.runs.models import AtomRun

__all__ = ["CHANNEL", "ID_SHIFT", "emit", "emit_run", "evented_update", "insert_run"]

CHANNEL = "atomfleet_events"
ID_SHIFT = 20
_TABLE = Event._meta.db_table
_RUNS = AtomRun._meta.db_table
_MESSAGE_CHARS = 300  # event data stays small: the run itself has the full text


def _id_source() -> tuple[str, str, str]:
    """(FROM item giving ``x.base``, id expression, RETURNING clause) for this database."""
    if connection.vendor == "postgresql":
        base = f"(SELECT pg_current_xact_id()::text::bigint << {ID_SHIFT} AS base OFFSET 0) x"
        next_id = (f"COALESCE((SELECT max(e.id) + 1 FROM {_TABLE} e "
                   f"WHERE e.id >= x.base AND e.id < x.base + {1 << ID_SHIFT}), x.base)")
        return base, next_id, f" RETURNING pg_notify('{CHANNEL}', tenant_id::text)"
    return "(SELECT 0 AS base) x", f"COALESCE((SELECT max(e.id) + 1 FROM {_TABLE} e), 1)", ""


def _now() -> str:
    return "statement_timestamp()" if connection.vendor == "postgresql" else "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"


def emit(
    type: EventType,
    *,
    tenant_id: int,
    run_id: uuid.UUID | str | None = None,
    workflow_id: uuid.UUID | str | None = None,
    data: dict[str, Any],
) -> None:
    """Write one event in the caller's transaction (call it inside the change's atomic block)."""
    source, next_id, returning = _id_source()
    as_json = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    uuid_field = Event._meta.get_field("run_id")
    sql = (
        f"INSERT INTO {_TABLE} (id, tenant_id, type, run_id, workflow_id, data, created_at) "
        f"SELECT {next_id}, %s, %s, %s, %s, {as_json}, {_now()} FROM {source}{returning}"
    )
    params = [
        tenant_id, str(type),
        uuid_field.get_db_prep_value(run_id, connection),
        uuid_field.get_db_prep_value(workflow_id, connection),
        json.dumps(data),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _run_data() -> str:
    """The run row's state as event data, built by the database from the row just written."""
    if connection.vendor == "postgresql":
        obj, cut = "jsonb_build_object", "left({}, %d)"
    else:
        obj, cut = "json_object", "substr({}, 1, %d)"
    fields = {
        "status": "r.status", "atom": "r.atom", "attempt": "r.attempts", "max_attempts": "r.max_attempts",
        "progress": "r.progress", "message": cut.format("r.progress_message") % _MESSAGE_CHARS,
        "error_code": "r.error_code", "error_message": cut.format("r.error_message") % _MESSAGE_CHARS,
        "step": "r.step",
    }
    return f"{obj}(" + ", ".join(f"'{k}', {v}" for k, v in fields.items()) + ")"


# A transition names its event, or lets the row's new status name it (a retry write that found a
# cancellation request ends the run cancelled in the same statement).
_FROM_STATUS = (
    "CASE r.status WHEN 'queued' THEN 'run.accepted' WHEN 'running' THEN 'run.started' "
    "ELSE 'run.' || r.status END"
)


def _run_event_insert(rows: str, type: EventType | None) -> tuple[str, list[Any], str]:
    """(INSERT … SELECT of the event of each row of ``rows`` — aliased ``r`` —, its params, the
    RETURNING clause). Callers add the WHERE clause between the two."""
    source, next_id, returning = _id_source()
    type_sql = "%s" if type is not None else _FROM_STATUS
    sql = (
        f"INSERT INTO {_TABLE} (id, tenant_id, type, run_id, workflow_id, data, created_at) "
        f"SELECT {next_id}, r.tenant_id, {type_sql}, r.id, r.workflow_id, {_run_data()}, {_now()} "
        f"FROM {rows} r, {source}"
    )
    return sql, [str(type)] if type is not None else [], returning


def emit_run(run_id: uuid.UUID | str, type: EventType | None = None, *, if_status: str | None = None) -> None:
    """Write the event of a transition the caller's transaction just made to run ``run_id``.

    ``type`` None: named by the row's status as written (queued → run.accepted, running →
    run.started, otherwise run.<status>). ``if_status``: only if the row now has that status (a
    write whose outcome depends on the row, like the API's cancellation).
    """
    pk = AtomRun._meta.pk
    assert pk is not None
    insert, params, returning = _run_event_insert(_RUNS, type)
    sql = f"{insert} WHERE r.id = %s{' AND r.status = %s' if if_status else ''}{returning}"
    params.append(pk.get_db_prep_value(run_id, connection))
    if if_status:
        params.append(str(if_status))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def evented_update(update: str, params: list[Any], type: EventType | None, select: str) -> tuple[str, list[Any]]:
    """One PostgreSQL statement: a transition's UPDATE of one run and its event, like the UPDATE
    followed by :func:`emit_run` — the same id, data and notification — in one round trip.

    ``update``: ``UPDATE <runs> SET … WHERE … RETURNING <runs>.*[, more]`` — one row at most, its
    columns returned (the event reads them), and any more the caller wants. ``select``: the
    columns of the answer over that written row, ``w``; no row: the UPDATE changed nothing and no
    event was written. The answer ends with the number of events written (0 or 1).

    A data-modifying CTE runs once, to completion, on the statement's snapshot: the id's
    ``max(id) + 1`` sees the events earlier statements of this transaction wrote, as
    :func:`emit_run` does, and the one row this statement inserts takes the next number. The
    event's INSERT is read by the answer (``count(*)``), so its RETURNING (the notification) is
    evaluated whatever the planner does with an unread CTE.
    """
    assert connection.vendor == "postgresql"
    insert, insert_params, returning = _run_event_insert("w", type)
    sql = (
        f"WITH w AS ({update}), ev AS ({insert}{returning}) "
        f"SELECT {select}, (SELECT count(*) FROM ev) FROM w"
    )
    return sql, [*params, *insert_params]


def insert_run(insert_sql: str, params: Sequence[Any], type: EventType, select: str) -> tuple[Any, ...]:
    """Insert a run and write its event in one statement (PostgreSQL only): the event of
    ``emit_run``, built from the row as ``insert_sql`` inserted it, one round trip fewer.

    ``insert_sql``: ``INSERT INTO runs_atomrun … RETURNING`` every column the event reads (and
    ``select``'s); ``select``: what of the inserted row to return, e.g. ``r.created_at``.
    """
    assert connection.vendor == "postgresql"
    insert, insert_params, returning = _run_event_insert("r", type)
    sql = f"WITH r AS ({insert_sql}), e AS ({insert}{returning}) SELECT {select}, (SELECT count(*) FROM e) FROM r"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *insert_params])
        row = cursor.fetchone()
    assert row is not None and row[-1] == 1, "the run's event was not written"
    return tuple(row[:-1])
