"""Driving workflows at the database level: submit through the real validation, and end steps the
way an execution does (claim, then the guarded terminal write)."""

from __future__ import annotations

from typing import Any

from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.transitions import Claimed, Execution
from atomfleet_orchestrator.tenancy.models import Tenant
from atomfleet_orchestrator.workflows import engine
from atomfleet_orchestrator.workflows.api.serializers import WorkflowSubmitSerializer, step_status
from atomfleet_orchestrator.workflows.models import Workflow, WorkflowStep


def step(name: str, *after: str, atom: str = "diagnostics.sleep", args: Any = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "atom": atom, "after": list(after), "args": {"seconds": 1} if args is None else args, **extra}


def submit(tenant: Tenant, steps: list[dict[str, Any]], **body: Any) -> Workflow:
    serializer = WorkflowSubmitSerializer(data={"steps": steps, **body})
    serializer.is_valid(raise_exception=True)
    workflow, created = engine.submit(tenant, "tester", serializer.validated_data)
    assert created
    return workflow


def run_of(workflow: Workflow, name: str) -> AtomRun:
    step_row = WorkflowStep.objects.select_related("run").get(workflow=workflow, name=name)
    assert step_row.run is not None, f"step {name} has no run ({step_row.state})"
    return step_row.run


def start(workflow: Workflow, name: str) -> Execution:
    run = run_of(workflow, name)
    claimed = transitions.claim(str(run.id), run.celery_task_id, f"w@test:{name}")
    assert isinstance(claimed, Claimed), claimed
    return claimed.execution


def succeed(workflow: Workflow, name: str, result: Any = None, execution: Execution | None = None) -> None:
    execution = execution or start(workflow, name)
    assert transitions.succeed(execution, result=result if result is not None else {"ok": name},
                               result_artifact="", artifacts=[])


def fail(workflow: Workflow, name: str, execution: Execution | None = None) -> None:
    execution = execution or start(workflow, name)
    assert transitions.fail(execution, "atom_error", f"{name} broke")


def statuses(workflow: Workflow) -> dict[str, str]:
    rows = WorkflowStep.objects.filter(workflow=workflow).select_related("run").order_by("position")
    return {s.name: step_status(s) for s in rows}


def reloaded(workflow: Workflow) -> Workflow:
    return Workflow.objects.get(id=workflow.id)
