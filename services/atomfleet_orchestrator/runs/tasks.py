"""Celery tasks: one thin task per catalog atom, plus the maintenance tasks beat schedules.

Beat runs the maintenance tasks in its own process (``atomfleet_orchestrator.beat``); they stay
registered so an operator can also send one by hand (``celery -A atomfleet_orchestrator call``).

Task names come from the catalog (``atomfleet.atom.<atom>``), never from a request. Idempotent
atoms are acknowledged late and requeued if their worker process dies; the others are acked on
receipt and, if their worker dies, reconciled to ``failed``/``worker_lost``.
"""

from __future__ import annotations

from celery import Celery, Task

from atomfleet.catalog import AtomSpec, Catalog

__all__ = ["register_tasks"]


def _register_atom_task(app: Celery, spec: AtomSpec) -> None:
    def run_atom(self: Task, run_id: str) -> str:
        from atomfleet_orchestrator.runs.execution import execute_run

        return execute_run(self, spec, run_id)

    app.task(
        bind=True,
        name=spec.task_name,
        acks_late=spec.idempotent,
        reject_on_worker_lost=spec.idempotent,
        soft_time_limit=spec.soft_time_limit,
        time_limit=spec.time_limit,
        max_retries=spec.retry.max_retries,
        Request="atomfleet_orchestrator.runs.requests:AtomRequest",
        typing=False,
    )(run_atom)


def _dispatch_outbox() -> int:
    from atomfleet_orchestrator.runs.dispatch import dispatch_outbox

    return dispatch_outbox()


def _reconcile() -> dict[str, int]:
    from atomfleet_orchestrator.runs.reconcile import reconcile

    report = reconcile()
    return {"requeued": report.requeued, "failed": report.failed}


def register_tasks(app: Celery, catalog: Catalog) -> None:
    for spec in catalog:
        _register_atom_task(app, spec)
    app.task(name="atomfleet.maintenance.dispatch_outbox", ignore_result=True)(_dispatch_outbox)
    app.task(name="atomfleet.maintenance.reconcile", ignore_result=True)(_reconcile)
    # Every publish names its queue explicitly; routes cover retries and hand-sent tasks too.
    app.conf.task_routes = {spec.task_name: {"queue": spec.queue} for spec in catalog}
