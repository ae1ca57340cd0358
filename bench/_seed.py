"""Seeding ``AtomRun`` rows with one ``INSERT … SELECT generate_series`` per tenant.

The column list comes from the model, so a field added later is filled with its Django default
(a new NOT NULL field without one makes the insert fail loudly instead of seeding wrong rows).
Rows are a plausible history: created in time order over ``WINDOW`` (heap order follows
``created_at``, as it does in production), mostly finished, a few failed or cancelled, the newest
few queued or running; atoms in fixed proportions and each on its own queue.
Needs Django set up (``bench.table_growth`` does it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

__all__ = ["WINDOW", "analyze", "atom_mix", "seed_runs"]

WINDOW = timedelta(days=90)
# Share of runs per atom (in twentieths); atoms of the catalog not named here share what is left.
_WEIGHTS = {"text.stats": 10, "data.validate_csv": 6, "forecast.autoregressive": 3}


def atom_mix() -> list[tuple[str, str, int]]:
    """(atom, queue, twentieths) for the shipped atoms, adding up to 20."""
    from django.conf import settings

    from atomfleet.catalog import load_catalog

    specs = list(load_catalog(settings.ATOMFLEET_QUEUES, settings.ATOMFLEET_VISIBILITY_TIMEOUT))
    named = [(s.name, s.queue, _WEIGHTS[s.name]) for s in specs if s.name in _WEIGHTS]
    rest = [s for s in specs if s.name not in _WEIGHTS]
    left = 20 - sum(w for _, _, w in named)
    if rest and left > 0:
        named.append((rest[0].name, rest[0].queue, left))  # one stand-in keeps the mix simple
    elif named:
        name, queue, weight = named[-1]
        named[-1] = (name, queue, weight + left)
    return named


def _atom_case(column: str) -> str:
    """CASE over ``s.a`` (0..19) choosing the atom (``column='atom'``) or its queue."""
    branches, upper = [], 0
    for name, queue, weight in atom_mix():
        upper += weight
        value = name if column == "atom" else queue
        branches.append(f"WHEN s.a < {upper} THEN '{value}'")
    return f"CASE {' '.join(branches)} END"


# Column -> SQL over the per-row values of ``s`` (g, a, status, ts). Columns not named here get
# the model field's default, passed as a parameter.
_EXPRESSIONS = {
    "id": "gen_random_uuid()",
    "tenant_id": "%(tenant)s",
    "created_by": "'bench'",
    "atom": _atom_case("atom"),
    "queue": _atom_case("queue"),
    "args": "jsonb_build_object('text', 'seeded run ' || s.g)",
    "status": "s.status",
    "progress": "CASE s.status WHEN 'succeeded' THEN 1.0 WHEN 'queued' THEN 0.0 ELSE 0.5 END",
    "progress_message": "CASE s.status WHEN 'succeeded' THEN 'done' ELSE '' END",
    "result": ("CASE s.status WHEN 'succeeded' THEN jsonb_build_object('words', mod(s.g, 997), "
               "'lines', 1 + mod(s.g, 7), 'characters', 5 * (mod(s.g, 997)), 'unique_words', mod(s.g, 331)) END"),
    "error_code": "CASE s.status WHEN 'failed' THEN 'atom_error' WHEN 'cancelled' THEN 'cancelled' ELSE '' END",
    "error_message": ("CASE s.status WHEN 'failed' THEN 'ValueError: row ' || s.g || ' is not valid' "
                      "WHEN 'cancelled' THEN 'cancelled on request' ELSE '' END"),
    "attempts": "CASE s.status WHEN 'queued' THEN 0 ELSE 1 END",
    "celery_task_id": "gen_random_uuid()::text",
    "dispatched_at": "s.ts + interval '3 milliseconds'",
    "worker": "CASE s.status WHEN 'queued' THEN '' ELSE 'default@bench:1' END",
    "heartbeat_at": "CASE s.status WHEN 'queued' THEN NULL ELSE s.ts + interval '1 second' END",
    "created_at": "s.ts",
    "started_at": "CASE s.status WHEN 'queued' THEN NULL ELSE s.ts + interval '10 milliseconds' END",
    "finished_at": ("CASE WHEN s.status IN ('succeeded', 'failed', 'cancelled') "
                    "THEN s.ts + interval '1 second' END"),
}

# Per row: g (1..count), a (atom bucket 0..19), status, ts. Multiplicative hashing spreads the
# buckets without correlating atom and status; the newest 0.5 % are queued or running.
_ROWS = """
SELECT g, a, ts,
  CASE WHEN g > %(count)s - %(count)s / 200 THEN (CASE WHEN mod(g, 2) = 0 THEN 'queued' ELSE 'running' END)
       WHEN b < 88 THEN 'succeeded' WHEN b < 96 THEN 'failed' ELSE 'cancelled' END AS status
FROM (
  SELECT g, mod(g * 104729, 20) AS a, mod(g * 7919, 100) AS b,
         %(start)s::timestamptz + (g::float8 / %(count)s) * %(window)s::interval AS ts
  FROM generate_series(1::bigint, %(count)s) AS g
) AS raw
"""


def seed_runs(tenant_id: int, count: int, table: str = "runs_atomrun") -> None:
    """Insert ``count`` runs of one tenant, spread over the last ``WINDOW``."""
    if count <= 0:
        return
    from atomfleet_orchestrator.runs.models import AtomRun

    columns, values = [], []
    params: dict[str, Any] = {"tenant": tenant_id, "count": count, "window": WINDOW,
                              "start": timezone.now() - WINDOW}
    for field in AtomRun._meta.concrete_fields:
        columns.append(f'"{field.column}"')
        if field.column in _EXPRESSIONS:
            values.append(_EXPRESSIONS[field.column])
            continue
        key = f"default_{field.column}"
        params[key] = field.get_db_prep_save(field.get_default(), connection)
        values.append(f"%({key})s")
    sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM ({_ROWS}) AS s"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def analyze(table: str = "runs_atomrun") -> None:
    """``VACUUM ANALYZE``: fresh planner statistics and visibility map, as autovacuum would leave
    them (it is off on some machines, e.g. the shared development one)."""
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
