"""Accepting a run: validate against the atom's registered spec, persist, dispatch after commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now
from django.db.models.sql import InsertQuery

from atomfleet.storage import TenantFiles
from atomfleet_orchestrator.atoms import registry
from atomfleet_orchestrator.events.log import emit_run, insert_run
from atomfleet_orchestrator.events.models import EventType
from atomfleet_orchestrator.observability import record_run_submitted
from atomfleet_orchestrator.runs import fairness
from atomfleet_orchestrator.runs.dispatch import Target, dispatch_after_commit
from atomfleet_orchestrator.runs.errors import IdempotencyConflict, InvalidArguments, UnknownAtom
from atomfleet_orchestrator.runs.fairness import turns_at_end
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.storage import get_store
from atomfleet_orchestrator.tenancy.admission import Admission
from atomfleet_orchestrator.tenancy.models import Tenant

__all__ = ["DEFAULT_PRIORITY", "create_run", "file_problems", "submit_run"]

# Fair dispatch off: the run has its turn and is stamped published in its INSERT.
_TURN_AT_ONCE = {"turn_at": Now(), "dispatched_at": Now(), "dispatch_count": 1}
#: A run's priority among its tenant's waiting runs when the request names none (0-9, 9 first).
DEFAULT_PRIORITY = 5


def file_problems(tenant: Tenant, file_args: Iterable[str], args: dict[str, Any]) -> list[dict[str, str]]:
    """The file arguments that name no file of this tenant (JSON path + message each)."""
    files = TenantFiles(get_store(), tenant.slug)
    problems = []
    for name in file_args:
        key = args.get(name)
        if not isinstance(key, str):
            continue
        # Another tenant's key and a missing key get the same answer: no existence oracle.
        if not files.owns(key) or not files.exists(key):
            problems.append({"path": f"$.{name}", "message": f"no uploaded file {key!r} for this tenant"})
    return problems


def _check_files(tenant: Tenant, file_args: tuple[str, ...], args: dict[str, Any]) -> None:
    problems = file_problems(tenant, file_args, args)
    if problems:
        raise InvalidArguments("arguments reference files that do not exist", {"problems": problems})


def submit_run(
    tenant: Tenant, created_by: str, atom_name: str, args: Any, idempotency_key: str | None,
    *, admission: Admission | None = None, priority: int = DEFAULT_PRIORITY,
) -> tuple[AtomRun, bool]:
    """Returns the run and whether it was created (False: an idempotent replay).

    The key is looked up before the atom: a replay answers with the run it names even after a
    deploy retired the atom (the client retrying a request it already made must not see 404).
    ``admission``: the tenant's limits, checked once the request is valid (a replay is never
    refused by them); None for a batch's items, which the batch admits as a whole.
    """
    if idempotency_key is not None:
        existing = AtomRun.objects.filter(tenant=tenant, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, atom_name, args), False
    spec = registry.current(atom_name)
    if spec is None:
        known = [d.name for d in registry.current_all()]
        raise UnknownAtom(f"no atom named {atom_name!r} is registered", {"atoms": known})
    problems = registry.validate(spec, args)
    if problems:
        raise InvalidArguments(
            f"arguments do not match the schema of {spec.name}", {"problems": problems}
        )
    _check_files(tenant, spec.file_args, args)
    if admission is not None:
        admission.admit(1)
    try:
        with turns_at_end():
            run = create_run(tenant.pk, created_by, spec, args, idempotency_key=idempotency_key, priority=priority)
            if admission is not None:
                admission.settle()
    except IntegrityError:
        # Lost a race with a concurrent request carrying the same key.
        existing = AtomRun.objects.get(tenant=tenant, idempotency_key=idempotency_key)
        return _replay(existing, spec.name, args), False
    return run, True


def create_run(
    tenant_id: int,
    created_by: str,
    spec: registry.Definition,
    args: Any,
    *,
    idempotency_key: str | None = None,
    workflow_id: Any = None,
    step: str = "",
    priority: int = DEFAULT_PRIORITY,
) -> AtomRun:
    """Insert an accepted run, waiting for its turn on its queue (``runs.fairness``): given at the
    end of the caller's transaction, and published when it commits if the queue has room.

    The one way a run comes to be, for a single submission and for a workflow's step alike.
    """
    run = AtomRun(
        tenant_id=tenant_id,
        created_by=created_by,
        atom=spec.name,
        queue=spec.queue,
        args=args,
        idempotency_key=idempotency_key,
        max_attempts=spec.max_attempts,
        spec_hash=spec.spec_hash,
        workflow_id=workflow_id,
        step=step,
        priority=priority,
        **_TURN_AT_ONCE if not fairness.enabled() else {},
    )
    _insert_accepted(run)  # and its event: in the submission's transaction
    transaction.on_commit(lambda: record_run_submitted(spec.name, spec.queue))
    if fairness.enabled():
        fairness.wants_turns(run.queue, waiting=True)
    else:
        dispatch_after_commit(Target(str(run.id), run.atom, run.queue, run.celery_task_id))
    return run


def _insert_accepted(run: AtomRun) -> None:
    """``run.save(force_insert=True)`` and its ``run.accepted`` event; on PostgreSQL one statement
    (``events.log.insert_run``): the INSERT Django's ORM would send, its event built from the row."""
    if connection.vendor != "postgresql":
        run.save(force_insert=True)
        emit_run(run.id, EventType.RUN_ACCEPTED)
        return
    meta = AtomRun._meta
    fields = list(meta.local_concrete_fields)
    query = InsertQuery(AtomRun)
    query.insert_values(fields, [run])
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = fields  # every column: the event reads the row as inserted
    [(sql, params)] = compiler.as_sql()
    # What the database filled in (db_default): read back, as save() does.
    returned = [f for f in meta.db_returning_fields if f is not meta.pk]
    values = insert_run(sql, params, EventType.RUN_ACCEPTED, ", ".join(f"r.{f.column}" for f in returned) or "1")
    for field, value in zip(returned, values, strict=False):
        setattr(run, field.attname, value)
    run._state.adding = False
    run._state.db = connection.alias


def _replay(existing: AtomRun, atom_name: str, args: Any) -> AtomRun:
    if existing.atom != atom_name or existing.args != args:
        raise IdempotencyConflict(
            "idempotency key already used with a different atom or arguments",
            {"run_id": str(existing.id)},
        )
    return existing
