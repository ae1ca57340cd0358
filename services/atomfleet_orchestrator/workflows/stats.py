"""Workflow figures read at scrape time (beat's ``DatabaseCollector``)."""

from __future__ import annotations

from atomfleet_orchestrator.workflows.lifecycle import StepState
from atomfleet_orchestrator.workflows.models import WorkflowStep

__all__ = ["steps_waiting"]


def steps_waiting() -> int:
    """Steps waiting on parents. Only running workflows have pending steps (a workflow ends once
    none is open), so this is one count over the partial index of pending steps."""
    return WorkflowStep.objects.filter(state=StepState.PENDING).count()
