"""``Workflow`` and ``WorkflowStep``: a DAG of runs, its progress kept in counters.

Each step row carries what releasing needs without reading the rest of the DAG: its children
(positions, computed at submit), how many parents it still waits on and how many of those did not
succeed. Ending a step therefore touches the step, its children and the workflow row: O(children),
never O(steps).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from atomfleet_orchestrator.tenancy.models import Tenant
from atomfleet_orchestrator.workflows.lifecycle import (
    FailurePolicy,
    RunIf,
    StepState,
    WorkflowStatus,
)

__all__ = ["Workflow", "WorkflowStep"]

# Plain strings: also name the enums of the OpenAPI schema.
WORKFLOW_STATUS_CHOICES = [(s.value, s.value) for s in WorkflowStatus]
FAILURE_POLICY_CHOICES = [(s.value, s.value) for s in FailurePolicy]
RUN_IF_CHOICES = [(s.value, s.value) for s in RunIf]
STEP_STATE_CHOICES = [(s.value, s.value) for s in StepState]


class Workflow(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="workflows", db_index=False)
    created_by = models.CharField(max_length=150)
    # NULL, not "", means "no key": the partial unique constraint ignores NULLs.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # The submitted body's steps, normalised: a replay with the same key is compared with it.
    definition = models.JSONField()
    on_failure = models.CharField(max_length=16, choices=FAILURE_POLICY_CHOICES, default=FailurePolicy.FAIL_FAST.value)
    # Written only by workflows.engine, with this row locked.
    status = models.CharField(max_length=16, choices=WORKFLOW_STATUS_CHOICES, default=WorkflowStatus.RUNNING.value)
    cancel_requested = models.BooleanField(default=False)
    open_steps = models.PositiveIntegerField(default=0)  # steps not yet terminal
    # The first step that failed (empty while none has).
    error_step = models.CharField(max_length=100, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="uniq_workflow_key_per_tenant",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="wf_tenant_created_id"),
            models.Index(fields=["tenant", "status", "-created_at", "-id"], name="wf_tenant_status_created"),
            # The reconciler's repair reads running workflows only.
            models.Index(fields=["open_steps"], name="wf_running", condition=Q(status="running")),
        ]

    def __str__(self) -> str:
        return f"workflow {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status != WorkflowStatus.RUNNING


class WorkflowStep(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()  # submit order
    name = models.CharField(max_length=100)
    atom = models.CharField(max_length=200)
    queue = models.CharField(max_length=40)
    spec_hash = models.CharField(max_length=64, blank=True, default="")
    args = models.JSONField()  # the template: ``$from`` placeholders kept
    parents = models.JSONField(default=list)  # names
    children = models.JSONField(default=list)  # positions
    run_if = models.CharField(max_length=16, choices=RUN_IF_CHOICES, default=RunIf.ALL_SUCCEEDED.value)
    waiting_on = models.PositiveIntegerField(default=0)  # parents not yet ended
    parents_not_succeeded = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=STEP_STATE_CHOICES, default=StepState.PENDING.value)
    # The step's current run; a retry gives it a new one (old runs keep workflow/step: history).
    run = models.ForeignKey("runs.AtomRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)  # database clock

    class Meta:
        ordering = ["workflow", "position"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "name"], name="uniq_step_name"),
            models.UniqueConstraint(fields=["workflow", "position"], name="uniq_step_position"),
        ]
        indexes = [
            # Pending steps: counted at scrape time (steps waiting on parents), and the
            # reconciler's repair looks for due ones never released.
            models.Index(fields=["waiting_on"], name="wf_step_pending", condition=Q(state="pending")),
        ]

    def __str__(self) -> str:
        return f"step {self.name} of {self.workflow_id} ({self.state})"
