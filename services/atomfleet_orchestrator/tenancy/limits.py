"""A tenant's admission limits in force (its own, else the fleet default) and its quota usage.

Usage is counted, not maintained: the tenant's runs that are queued, running or retrying (one
range of the partial index ``run_tenant_active``, active runs only) plus the steps of its running
workflows not yet released (they are accepted runs that do not exist yet). No lifecycle hook has
to keep a counter right through crashes, redeliveries and the reconciler.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from atomfleet_orchestrator.tenancy.models import Tenant, TenantLimits

__all__ = ["Limits", "limits_and_in_use", "limits_for", "lock_quota", "runs_in_use"]

#: First key of the advisory locks that serialise one tenant's quota checks (the second is the
#: tenant's id): an arbitrary constant no other lock of the fleet uses.
_QUOTA_LOCK_CLASS = 0x61660001


@dataclass(frozen=True)
class Limits:
    quota_runs: int
    submit_rate: float  # runs per second
    submit_burst: int
    weight: int  # fair dispatch (runs.fairness): share of a busy queue
    max_running: int  # runs running or published at once, every queue
    max_running_per_queue: int  # ... on any one queue
    # Where each comes from: "tenant" (its own row) or "default" (settings).
    sources: dict[str, str]


_LIMIT_FIELDS = ("quota_runs", "submit_rate", "submit_burst", "weight", "max_running", "max_running_per_queue")


def _defaults() -> dict[str, float | int]:
    return {
        "quota_runs": settings.ATOMFLEET_TENANT_QUOTA_RUNS,
        "submit_rate": settings.ATOMFLEET_TENANT_SUBMIT_RATE,
        "submit_burst": settings.ATOMFLEET_TENANT_SUBMIT_BURST,
        "weight": settings.ATOMFLEET_TENANT_WEIGHT,
        "max_running": settings.ATOMFLEET_TENANT_MAX_RUNNING,
        "max_running_per_queue": settings.ATOMFLEET_TENANT_MAX_RUNNING_PER_QUEUE,
    }


def _limits(own: dict[str, float | int | None] | None) -> Limits:
    """The tenant's own values where set (``own``: its row's, None without a row), defaults elsewhere."""
    values, sources = {}, {}
    for field, default in _defaults().items():
        value = own.get(field) if own is not None else None
        values[field], sources[field] = (default, "default") if value is None else (value, "tenant")
    return Limits(int(values["quota_runs"]), float(values["submit_rate"]), int(values["submit_burst"]),
                  int(values["weight"]), int(values["max_running"]), int(values["max_running_per_queue"]), sources)


def limits_for(tenant: Tenant | int) -> Limits:
    """One primary-key read: the tenant's own values where set, the fleet defaults elsewhere."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    own = TenantLimits.objects.filter(tenant_id=tenant_id).values(*_LIMIT_FIELDS).first()
    return _limits(own)


_IN_USE_SQL = """
SELECT
  (SELECT count(*) FROM runs_atomrun
     WHERE tenant_id = %(tenant)s AND status IN ('queued', 'running', 'retrying'))
  +
  (SELECT count(*) FROM workflows_workflowstep s JOIN workflows_workflow w ON w.id = s.workflow_id
     WHERE w.tenant_id = %(tenant)s AND w.status = 'running' AND s.state = 'pending')
"""


def runs_in_use(tenant_id: int) -> int:
    """Accepted runs of the tenant not yet finished (this transaction's own inserts included)."""
    with connection.cursor() as cursor:
        cursor.execute(_IN_USE_SQL, {"tenant": tenant_id})
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def limits_and_in_use(tenant_id: int) -> tuple[Limits, int]:
    """``limits_for`` and ``runs_in_use`` in one statement (a submit's first quota check)."""
    columns = ", ".join(f"l.{field}" for field in _LIMIT_FIELDS)
    sql = (f"SELECT ({_IN_USE_SQL}), l.tenant_id, {columns} FROM (SELECT 1) one "
           f"LEFT JOIN {TenantLimits._meta.db_table} l ON l.tenant_id = %(tenant)s")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"tenant": tenant_id})
        row = cursor.fetchone()
    assert row is not None
    own = dict(zip(_LIMIT_FIELDS, row[2:], strict=True)) if row[1] is not None else None
    return _limits(own), int(row[0] or 0)


def lock_quota(tenant_id: int) -> None:
    """Serialise the tenant's final quota checks until this transaction ends (every API pod).

    Taken just before the check that follows the inserts and held to the commit, so two
    concurrent submits cannot both see room for themselves: the second counts after the first
    committed (READ COMMITTED takes a new snapshot per statement). Held briefly: count + commit.
    """
    if connection.vendor != "postgresql":
        return  # SQLite (`atomfleet dev`) runs one writing transaction at a time anyway
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_QUOTA_LOCK_CLASS, tenant_id % 2**31])
