"""The workflow engine: every write that moves a workflow, each with the workflow's row locked.

- :func:`run_ended` — called by ``runs.transitions`` in the transaction of a step run's terminal
  write: the step ends, its children count one parent less, and a child whose last parent ended
  is released (its run created and published on commit) or skipped, in that same transaction.
  No message carries a step's end to its children, so none can be lost.
- :func:`submit`, :func:`cancel`, :func:`retry` — the API's writes.
- :func:`repair` — the reconciler's: workflows a bug or a hand edit left inconsistent.

Events (``events.log.emit``, in the same transaction as the write): ``workflow.started`` when it
is submitted or retried, ``workflow.step_skipped`` per step ended skipped, and
``workflow.succeeded|failed|cancelled`` when it ends; its steps' runs write their own ``run.*``.

Locking: the workflow's row first (``SELECT … FOR UPDATE``), then runs. Every writer takes that
order, so two steps of one workflow ending at once are serialised, and never deadlock with a
cancel. The work per step ending is O(its children), never O(steps) — except once per workflow
when fail_fast stops it, or a cancel (each ends every open step).
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from atomfleet_orchestrator.atoms import registry
from atomfleet_orchestrator.events.log import emit, emit_run
from atomfleet_orchestrator.events.models import EventType
from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.errors import IdempotencyConflict
from atomfleet_orchestrator.runs.fairness import turns_at_end
from atomfleet_orchestrator.runs.lifecycle import TERMINAL, RunStatus
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.submission import create_run
from atomfleet_orchestrator.tenancy.admission import Admission
from atomfleet_orchestrator.tenancy.models import Tenant
from atomfleet_orchestrator.workflows import spec as workflow_spec
from atomfleet_orchestrator.workflows.errors import WorkflowFinished, WorkflowStillRunning
from atomfleet_orchestrator.workflows.lifecycle import (
    FailurePolicy,
    RunIf,
    StepErrorCode,
    StepState,
    WorkflowStatus,
)
from atomfleet_orchestrator.workflows.models import Workflow, WorkflowStep

__all__ = ["RepairReport", "cancel", "lock", "repair", "retry", "run_ended", "submit"]

log = logging.getLogger(__name__)
_STEP_FIELDS = ("waiting_on", "parents_not_succeeded", "state", "run", "released_at")


def lock(workflow_id: str) -> Workflow | None:
    """The workflow's row, locked until the transaction ends (None: no such workflow)."""
    return Workflow.objects.select_for_update().filter(id=workflow_id).first()


_MESSAGE_CHARS = 300  # event data stays small: the workflow itself has the full text
_ENDED_EVENT = {
    WorkflowStatus.SUCCEEDED: EventType.WORKFLOW_SUCCEEDED,
    WorkflowStatus.FAILED: EventType.WORKFLOW_FAILED,
    WorkflowStatus.CANCELLED: EventType.WORKFLOW_CANCELLED,
}


def _event(workflow: Workflow, type: EventType, run_id: Any = None, **data: Any) -> None:
    """The workflow's event, in the caller's transaction (the one that made the change)."""
    emit(type, tenant_id=workflow.tenant_id, workflow_id=workflow.id, run_id=run_id, data=data)


def _skipped(workflow: Workflow, steps: list[tuple[str, Any]]) -> None:
    for name, run_id in steps:
        _event(workflow, EventType.WORKFLOW_STEP_SKIPPED, run_id=run_id, step=name)


class _Advance:
    """One locked workflow being moved along; its row is written once, by :meth:`commit`."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.ended: deque[tuple[WorkflowStep, bool]] = deque()  # (step, succeeded) to propagate
        self.stopped = False  # fail_fast stopped it, or a cancel: no pending step is left

    # -- ending steps

    def end(self, step: WorkflowStep, state: StepState, run: AtomRun | None = None) -> None:
        """``step`` is terminal now: count it, record a failure, and propagate to its children."""
        step.state = state
        step.save(update_fields=["state"])
        self.workflow.open_steps -= 1
        if state is StepState.SKIPPED:
            _skipped(self.workflow, [(step.name, step.run_id)])
        succeeded = run is not None and run.status == RunStatus.SUCCEEDED
        if run is not None and state is StepState.ENDED and not succeeded:
            self._failed(step, run)
        self.ended.append((step, succeeded))

    def _failed(self, step: WorkflowStep, run: AtomRun) -> None:
        workflow = self.workflow
        if run.status == RunStatus.CANCELLED and workflow.cancel_requested:
            return  # the workflow's own cancellation, not a failure
        if workflow.error_step:
            return  # only the first failure is named
        workflow.error_step = step.name
        workflow.error_code = run.error_code or run.status
        workflow.error_message = run.error_message[:4000]
        if workflow.on_failure == FailurePolicy.FAIL_FAST:
            self._stop(StepState.SKIPPED, running_too=False)

    def _stop(self, state: StepState, *, running_too: bool) -> None:
        """End every step that has not started: pending ones and those whose run still waits."""
        workflow = self.workflow
        pending = WorkflowStep.objects.filter(workflow=workflow, state=StepState.PENDING)
        # The row lock on the workflow keeps its steps as listed here until the UPDATE.
        skipped = list(pending.values_list("name", "run_id")) if state is StepState.SKIPPED else []
        workflow.open_steps -= pending.update(state=state)
        cancelled = transitions.cancel_workflow_runs(str(workflow.id), running_too=running_too)
        if cancelled:
            waiting = WorkflowStep.objects.filter(
                workflow=workflow, run__in=[uuid.UUID(i) for i in cancelled], state=StepState.RELEASED
            )
            if state is StepState.SKIPPED:
                skipped += waiting.values_list("name", "run_id")
            workflow.open_steps -= waiting.update(state=state)
        _skipped(workflow, skipped)
        self.stopped = True

    def propagate(self) -> None:
        while self.ended and not self.stopped:
            step, succeeded = self.ended.popleft()
            if not step.children:
                continue
            children = WorkflowStep.objects.filter(
                workflow=self.workflow, position__in=step.children, state=StepState.PENDING
            ).order_by("position")
            for child in children:
                if self.stopped:
                    break  # every pending step was just ended: these rows are stale
                child.waiting_on -= 1
                child.parents_not_succeeded += 0 if succeeded else 1
                if child.waiting_on == 0:
                    self.decide(child)
                else:
                    child.save(update_fields=["waiting_on", "parents_not_succeeded"])
        self.ended.clear()

    # -- due steps

    def decide(self, step: WorkflowStep) -> None:
        """A step whose parents have all ended: release it, or end it without a run."""
        workflow = self.workflow
        if workflow.cancel_requested:
            self._end_unrun(step, StepState.CANCELLED)
        elif workflow.on_failure == FailurePolicy.FAIL_FAST and workflow.error_step or step.run_if == RunIf.ALL_SUCCEEDED and step.parents_not_succeeded:
            self._end_unrun(step, StepState.SKIPPED)
        else:
            self._release(step)

    def _end_unrun(self, step: WorkflowStep, state: StepState) -> None:
        step.save(update_fields=["waiting_on", "parents_not_succeeded"])
        self.end(step, state)

    def _release(self, step: WorkflowStep) -> None:
        workflow = self.workflow
        spec = registry.current(step.atom)
        refusal: tuple[str, str] | None = None
        args: Any = step.args
        if spec is None:
            refusal = (StepErrorCode.UNKNOWN_ATOM, f"atom {step.atom!r} is no longer registered")
        else:
            try:
                args = _resolve(workflow, step)
            except _Unresolvable as exc:
                refusal = (StepErrorCode.UNRESOLVABLE_INPUT, str(exc))
            else:
                problems = registry.validate(spec, args)
                if problems:
                    text = "; ".join(f"{p['path']}: {p['message']}" for p in problems)
                    refusal = (StepErrorCode.INVALID_ARGS, f"resolved arguments do not match the schema of "
                               f"{spec.name}: {text}")
        if refusal is None:
            assert spec is not None
            run = create_run(workflow.tenant_id, workflow.created_by, spec, args,
                             workflow_id=workflow.id, step=step.name)
        else:
            run = _refused_run(workflow, step, args, *refusal)
        step.state = StepState.RELEASED
        step.run = run
        step.released_at = Now()
        step.save(update_fields=list(_STEP_FIELDS))
        if refusal is not None:
            self.end(step, StepState.ENDED, run)

    # -- the workflow's row

    def commit(self) -> None:
        """Write the workflow's counters; end it (once) when no step is open."""
        workflow = self.workflow
        fields: dict[str, Any] = {
            "open_steps": workflow.open_steps, "error_step": workflow.error_step,
            "error_code": workflow.error_code, "error_message": workflow.error_message,
        }
        rows = Workflow.objects.filter(id=workflow.id)
        if workflow.open_steps == 0 and workflow.status == WorkflowStatus.RUNNING:
            if workflow.cancel_requested:
                final = WorkflowStatus.CANCELLED
            elif workflow.error_step:
                final = WorkflowStatus.FAILED
            else:
                final = WorkflowStatus.SUCCEEDED
            if rows.filter(status=WorkflowStatus.RUNNING).update(**fields, status=final, finished_at=Now()):
                workflow.status = final
                _event(workflow, _ENDED_EVENT[final], status=str(final), error_step=workflow.error_step,
                       error_code=workflow.error_code, error_message=workflow.error_message[:_MESSAGE_CHARS])
                _on_commit_ended(str(workflow.id), final)
                return
        rows.update(**fields)


def _on_commit_ended(workflow_id: str, status: str) -> None:
    """Count and log the ending once it is committed: a rolled-back ending (the database lost
    mid-transaction) is neither, so each workflow's ending is logged exactly as often as it ended."""
    from atomfleet_orchestrator.observability.metrics import record_workflow_ended

    def ended() -> None:
        record_workflow_ended(status)
        log.info("workflow %s %s", workflow_id, status)

    transaction.on_commit(ended)


# -- resolving ``$from`` ----------------------------------------------------------------------------


class _Unresolvable(Exception):
    pass


def _resolve(workflow: Workflow, step: WorkflowStep) -> Any:
    """``step.args`` with each ``$from`` placeholder replaced by that part of an ancestor's result.

    A result stored by reference (too large to keep inline) resolves, for the pointer ``""``, to
    the artifact's key (a file of the tenant the child can read); a pointer into it cannot be
    resolved without reading it, which would inline it into the child's message: refused.
    """
    found = list(workflow_spec.placeholders(step.args))
    if not found:
        return step.args
    names = {placeholder[workflow_spec.FROM] for _, placeholder in found}
    sources = {
        s.name: s.run for s in WorkflowStep.objects.filter(workflow=workflow, name__in=names)
        .select_related("run").only("name", "run__status", "run__result", "run__result_artifact", "run__artifacts")
    }

    def value(placeholder: dict[str, Any]) -> Any:
        name, pointer = placeholder[workflow_spec.FROM], placeholder.get("pointer", "")
        run = sources.get(name)
        if run is None or run.status != RunStatus.SUCCEEDED:
            raise _Unresolvable(f"$from {name!r}: that step did not succeed, it has no result")
        if run.result_artifact:
            if pointer:
                raise _Unresolvable(f"$from {name!r}: its result is stored as artifact "
                                    f"{run.result_artifact!r}; only the pointer \"\" (its key) can be used")
            entry = next((a for a in run.artifacts if a.get("name") == run.result_artifact), None)
            if entry is None:
                raise _Unresolvable(f"$from {name!r}: artifact {run.result_artifact!r} is not recorded")
            return entry["key"]
        try:
            return workflow_spec.resolve_pointer(run.result, pointer)
        except workflow_spec.PointerError as exc:
            raise _Unresolvable(f"$from {name!r}: {exc}") from None

    def substitute(template: Any) -> Any:
        if workflow_spec.is_placeholder(template):
            return value(template)
        if isinstance(template, dict):
            return {k: substitute(v) for k, v in template.items()}
        if isinstance(template, list):
            return [substitute(v) for v in template]
        return template

    return substitute(step.args)


def _refused_run(workflow: Workflow, step: WorkflowStep, args: Any, code: str, message: str) -> AtomRun:
    """The step's run, ended failed when it was accepted: it carries the reason, and never runs.

    Its one event is its terminal one (``run.failed``): it was never queued.
    """
    run = AtomRun.objects.create(
        tenant_id=workflow.tenant_id, created_by=workflow.created_by, atom=step.atom, queue=step.queue,
        args=args, spec_hash=step.spec_hash, max_attempts=1, workflow_id=workflow.id, step=step.name,
        status=RunStatus.FAILED, finished_at=Now(), error_code=code, error_message=message[:4000],
    )
    emit_run(run.id, EventType.RUN_FAILED)
    return run


# -- the hook ---------------------------------------------------------------------------------------


def run_ended(workflow: Workflow, run_id: str) -> None:
    """Run ``run_id`` of ``workflow`` (locked) may have just ended: account for its step.

    Idempotent: a run that is not terminal (a retry was scheduled), a run a retry replaced, or a
    step already accounted for changes nothing.
    """
    step = (
        WorkflowStep.objects.filter(workflow=workflow, run=uuid.UUID(str(run_id)), state=StepState.RELEASED)
        .select_related("run").first()
    )
    if step is None or step.run is None or step.run.status not in TERMINAL:
        return
    advance = _Advance(workflow)
    advance.end(step, StepState.ENDED, step.run)
    advance.propagate()
    advance.commit()


# -- the API's writes -------------------------------------------------------------------------------


def _definition(body: dict[str, Any]) -> dict[str, Any]:
    """The body as a replay is compared with it (defaults filled in)."""
    return {
        "on_failure": body["on_failure"],
        "steps": [
            {"name": s["name"], "atom": s["atom"], "after": list(s.get("after") or []), "args": s["args"],
             "run_if": s.get("run_if") or RunIf.ALL_SUCCEEDED.value}
            for s in body["steps"]
        ],
    }


def _replay(existing: Workflow, definition: dict[str, Any]) -> Workflow:
    if existing.definition != definition:
        raise IdempotencyConflict("idempotency key already used with a different workflow",
                                  {"workflow_id": str(existing.id)})
    return existing


def submit(
    tenant: Tenant, created_by: str, body: dict[str, Any], admission: Admission | None = None
) -> tuple[Workflow, bool]:
    """Store the workflow and release its roots, in one transaction; False: an idempotent replay.

    Each step counts as a run against the tenant's limits (``admission``), admitted once the
    workflow is valid and settled before commit; a replay is never refused by them.
    """
    key = body.get("idempotency_key")
    definition = _definition(body)
    if key is not None:
        existing = Workflow.objects.filter(tenant=tenant, idempotency_key=key).first()
        if existing is not None:
            return _replay(existing, definition), False
    checked = workflow_spec.check(tenant, body)
    admission = admission or Admission(tenant)
    admission.admit(len(checked.steps))
    try:
        with turns_at_end():
            workflow = Workflow.objects.create(
                tenant=tenant, created_by=created_by, idempotency_key=key, definition=definition,
                on_failure=checked.on_failure, open_steps=len(checked.steps),
            )
            steps = WorkflowStep.objects.bulk_create(
                WorkflowStep(
                    workflow=workflow, position=s.position, name=s.name, atom=s.atom, queue=s.queue,
                    spec_hash=s.spec_hash, args=s.args, parents=s.parents, children=s.children,
                    run_if=s.run_if, waiting_on=len(s.parents),
                )
                for s in checked.steps
            )
            _event(workflow, EventType.WORKFLOW_STARTED, status=str(WorkflowStatus.RUNNING), steps=len(steps))
            advance = _Advance(workflow)
            for step in steps:
                if step.waiting_on == 0:
                    advance.decide(step)
            advance.propagate()
            advance.commit()
            admission.settle()
    except IntegrityError:
        if key is None:
            raise
        # Lost a race with a concurrent request carrying the same key.
        return _replay(Workflow.objects.get(tenant=tenant, idempotency_key=key), definition), False
    return workflow, True


def cancel(workflow_id: str) -> Workflow:
    """Pending steps end cancelled, waiting runs are cancelled, running ones asked to stop; the
    workflow ends ``cancelled`` once every step is terminal (now, if none runs)."""
    with turns_at_end():
        workflow = lock(workflow_id)
        assert workflow is not None
        if workflow.status == WorkflowStatus.CANCELLED:
            return workflow  # cancelling again is a no-op
        if workflow.is_terminal:
            raise WorkflowFinished(f"workflow {workflow.id} already ended ({workflow.status})",
                                   {"status": workflow.status})
        if not workflow.cancel_requested:
            Workflow.objects.filter(id=workflow.id).update(cancel_requested=True)
            workflow.cancel_requested = True
            advance = _Advance(workflow)
            advance._stop(StepState.CANCELLED, running_too=True)
            advance.commit()
    return workflow


def retry(workflow_id: str) -> Workflow:
    """Re-run the failed, cancelled and skipped steps (new runs); succeeded steps keep theirs."""
    with turns_at_end():
        workflow = lock(workflow_id)
        assert workflow is not None
        if not workflow.is_terminal:
            raise WorkflowStillRunning(f"workflow {workflow.id} is still running; retry it once it ended",
                                       {"status": workflow.status})
        steps = list(WorkflowStep.objects.filter(workflow=workflow).select_related("run"))
        reset = {s.name for s in steps if not (s.state == StepState.ENDED and s.run is not None
                                               and s.run.status == RunStatus.SUCCEEDED)}
        again = []
        for step in steps:
            if step.name in reset:
                step.state = StepState.PENDING
                step.run = None
                step.released_at = None
                step.parents_not_succeeded = 0
                step.waiting_on = sum(1 for p in step.parents if p in reset)
                again.append(step)
        WorkflowStep.objects.bulk_update(again, list(_STEP_FIELDS))
        workflow.status = WorkflowStatus.RUNNING
        workflow.open_steps = len(again)
        workflow.error_step = workflow.error_code = workflow.error_message = ""
        workflow.cancel_requested = False
        Workflow.objects.filter(id=workflow.id).update(
            status=WorkflowStatus.RUNNING, finished_at=None, cancel_requested=False, open_steps=len(again),
        )
        workflow.finished_at = None
        _event(workflow, EventType.WORKFLOW_STARTED, status=str(WorkflowStatus.RUNNING), steps=len(again), retry=True)
        advance = _Advance(workflow)
        due = WorkflowStep.objects.filter(workflow=workflow, state=StepState.PENDING, waiting_on=0).order_by("position")
        for step in due:
            advance.decide(step)
        advance.propagate()
        advance.commit()
    return workflow


# -- the reconciler's repair -----------------------------------------------------------------------


@dataclass
class RepairReport:
    ended: int = 0  # running workflows with no open step, ended
    released: int = 0  # due steps never released (or skipped), decided


def repair(limit: int = 200) -> RepairReport:
    """End running workflows whose steps are all terminal, and decide due steps left pending.

    Neither can happen while every step ending goes through the hook (one transaction); this
    undoes what a bug or a hand edit of the database leaves, each workflow in its own transaction.
    """
    report = RepairReport()
    idle = Workflow.objects.filter(status=WorkflowStatus.RUNNING, open_steps=0).values_list("id", flat=True)
    for workflow_id in list(idle[:limit]):
        with turns_at_end():
            workflow = lock(str(workflow_id))
            if workflow is None or workflow.status != WorkflowStatus.RUNNING or workflow.open_steps:
                continue
            advance = _Advance(workflow)
            advance.commit()
            report.ended += 1
            log.warning("workflow %s had no open step but was running: ended %s", workflow.id, workflow.status)
    due = (WorkflowStep.objects.filter(state=StepState.PENDING, waiting_on=0, workflow__status=WorkflowStatus.RUNNING)
           .values_list("workflow_id", "id"))
    for workflow_id, step_id in list(due[:limit]):
        with turns_at_end():
            workflow = lock(str(workflow_id))
            step = WorkflowStep.objects.filter(id=step_id, state=StepState.PENDING, waiting_on=0).first()
            if workflow is None or workflow.status != WorkflowStatus.RUNNING or step is None:
                continue
            advance = _Advance(workflow)
            advance.decide(step)
            advance.propagate()
            advance.commit()
            report.released += 1
            log.warning("workflow %s: step %s was due but never released: now %s", workflow.id, step.name, step.state)
    return report

