"""Domain errors of workflows (the API answers each with its status and the shared error body).

    InvalidWorkflow       400 invalid_workflow (details.errors: ``{"step", "problems"}`` each)
    WorkflowNotFound      404 workflow_not_found (also for another tenant's workflow)
    WorkflowFinished      409 workflow_finished (cancel of an ended workflow)
    WorkflowStillRunning  409 workflow_running (retry of a workflow that has not ended)

An idempotency key reused with another body is ``runs.errors.IdempotencyConflict`` (409).
"""

from __future__ import annotations

from atomfleet_orchestrator.runs.errors import RunError

__all__ = ["InvalidWorkflow", "WorkflowFinished", "WorkflowNotFound", "WorkflowStillRunning"]


class InvalidWorkflow(RunError):
    code, http_status = "invalid_workflow", 400


class WorkflowNotFound(RunError):
    code, http_status = "workflow_not_found", 404


class WorkflowFinished(RunError):
    code, http_status = "workflow_finished", 409


class WorkflowStillRunning(RunError):
    code, http_status = "workflow_running", 409
