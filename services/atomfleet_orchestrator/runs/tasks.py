"""Celery tasks: one thin task per catalog atom, plus the maintenance tasks beat schedules.

Beat runs the maintenance tasks in its own process (``atomfleet_orchestrator.beat``); they stay
registered so an operator can also send one by hand (``celery -A atomfleet_orchestrator call``).

Task names come from the catalog (``atomfleet.atom.<atom>``), never from a request. Every atom
task is acknowledged late, so a message whose claim could not reach the database goes back to the
queue; what happens after a pool process dies is decided from the run's row (``lifecycle``), not by
requeueing the message. Results live in the database: Celery stores none.
"""

from __future__ import annotations

from celery import Celery, Task

from atomfleet.catalog import AtomSpec, Catalog

__all__ = ["register_atom_tasks", "register_maintenance_tasks"]


def _register_atom_task(app: Celery, spec: AtomSpec) -> None:
    def run_atom(self: Task, run_id: str) -> dict[str, str]:
        from atomfleet_orchestrator.runs.execution import execute_run

        return execute_run(self, spec, run_id)

    app.task(
        bind=True,
        name=spec.task_name,
        acks_late=True,
        reject_on_worker_lost=False,
        ignore_result=True,
        soft_time_limit=spec.soft_time_limit,
        time_limit=spec.time_limit,
        Request="atomfleet_orchestrator.runs.requests:AtomRequest",
        typing=False,
    )(run_atom)


def _dispatch_outbox() -> dict[str, object]:
    from atomfleet_orchestrator.runs.dispatch import dispatch_outbox

    return vars(dispatch_outbox())


def _reconcile() -> dict[str, object]:
    from atomfleet_orchestrator.runs.reconcile import reconcile

    return vars(reconcile())


def _prune_events() -> dict[str, object]:
    from atomfleet_orchestrator.events.prune import prune_events

    return vars(prune_events())


def register_maintenance_tasks(app: Celery) -> None:
    """Every process: beat runs them in-process; an operator may also send one by hand."""
    app.task(name="atomfleet.maintenance.dispatch_outbox", ignore_result=True)(_dispatch_outbox)
    app.task(name="atomfleet.maintenance.reconcile", ignore_result=True)(_reconcile)
    app.task(name="atomfleet.maintenance.prune_events", ignore_result=True)(_prune_events)


def register_atom_tasks(app: Celery, catalog: Catalog) -> None:
    """Workers only (the API and beat import no atom code): one task per atom of the catalog."""
    for spec in catalog:
        _register_atom_task(app, spec)
    # Every publish names its queue explicitly; routes cover hand-sent tasks too.
    app.conf.task_routes = {spec.task_name: {"queue": spec.queue} for spec in catalog}
