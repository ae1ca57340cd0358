"""Request and response shapes of the workflows API; the OpenAPI schema is generated from them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from atomfleet_orchestrator.http.schema import StrictSerializer
from atomfleet_orchestrator.runs.api.serializers import IDEMPOTENCY_KEY_PATTERN, ArgsField
from atomfleet_orchestrator.workflows.lifecycle import (
    FailurePolicy,
    RunIf,
    StepState,
    StepStatus,
    WorkflowStatus,
)
from atomfleet_orchestrator.workflows.models import Workflow, WorkflowStep

STEP_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
_STEP_NAME = {"max_length": 100, "validators": [RegexValidator(STEP_NAME_PATTERN, "letters, digits, '_', '.', '-'")]}


class StepSubmitSerializer(StrictSerializer):
    name = serializers.CharField(help_text="unique in the workflow; `after` and `$from` name steps by it", **_STEP_NAME)
    atom = serializers.CharField(max_length=200, help_text="a registered atom (`GET /api/v1/atoms`)")
    after = serializers.ListField(
        child=serializers.CharField(**_STEP_NAME), required=False, default=list,
        help_text="the step's parents: it becomes due once every one of them ended",
    )
    args = ArgsField(
        help_text='the atom\'s arguments; `{"$from": STEP, "pointer": JSON_POINTER}` anywhere stands for '
        "that part (RFC 6901; default \"\": all) of an ancestor's result, resolved when the step is due"
    )
    run_if = serializers.ChoiceField(
        choices=[r.value for r in RunIf], required=False, default=RunIf.ALL_SUCCEEDED.value,
        help_text="`all_succeeded`: run only if every parent succeeded (else skipped); `all_done`: "
        "once every parent ended, however (cleanup, reports)",
    )


class WorkflowSubmitSerializer(StrictSerializer):
    """A DAG of steps; each runs as an ordinary run of its atom."""

    idempotency_key = serializers.CharField(
        max_length=200, required=False, allow_null=True, trim_whitespace=False,
        validators=[RegexValidator(IDEMPOTENCY_KEY_PATTERN, "control characters are not allowed")],
        help_text="a retry with the same key (and the same body) returns the first workflow; the "
        "same key with another body is 409 `idempotency_conflict`",
    )
    on_failure = serializers.ChoiceField(
        choices=[p.value for p in FailurePolicy], required=False, default=FailurePolicy.FAIL_FAST.value,
        help_text="`fail_fast`: after a failure no new step starts, running ones finish, the rest end "
        "`skipped`; `finish_branches`: steps that do not depend on the failed one still run",
    )
    steps = serializers.ListField(child=StepSubmitSerializer(), min_length=1)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        limit = settings.ATOMFLEET_WORKFLOW_MAX_STEPS
        fields["steps"].help_text = (f"1 to {limit} steps (ATOMFLEET_WORKFLOW_MAX_STEPS), any order "
                                     "that names existing steps; a bigger workflow is 400 `invalid_workflow`")
        return fields


class WorkflowErrorSerializer(serializers.Serializer):
    step = serializers.CharField(help_text="the first step that failed")
    code = serializers.CharField()
    message = serializers.CharField(allow_blank=True)


class StepSerializer(serializers.Serializer):
    name = serializers.CharField()
    atom = serializers.CharField()
    queue = serializers.CharField()
    status = serializers.ChoiceField(choices=[s.value for s in StepStatus])
    run_id = serializers.UUIDField(allow_null=True, help_text="the step's current run (`GET /api/v1/runs/{id}`)")
    attempts = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


def step_status(step: WorkflowStep) -> str:
    """``skipped``/``cancelled`` when the engine ended it so, else its run's status, else pending."""
    if step.state in (StepState.SKIPPED, StepState.CANCELLED):
        return str(step.state)
    if step.run is not None:
        return str(step.run.status)
    return StepStatus.PENDING.value


def step_data(step: WorkflowStep) -> dict[str, Any]:
    run = step.run
    return {
        "name": step.name, "atom": step.atom, "queue": step.queue, "status": step_status(step),
        "run_id": run.id if run is not None else None,
        "attempts": run.attempts if run is not None else 0,
        "started_at": run.started_at if run is not None else None,
        "finished_at": run.finished_at if run is not None else None,
    }


class WorkflowSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=[s.value for s in WorkflowStatus])
    on_failure = serializers.ChoiceField(choices=[p.value for p in FailurePolicy])
    idempotency_key = serializers.CharField(allow_null=True)
    created_by = serializers.CharField()
    cancel_requested = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()

    @extend_schema_field(serializers.URLField())
    def get_url(self, workflow: Workflow) -> str:
        path = reverse("workflow-detail", args=[workflow.id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(WorkflowErrorSerializer(allow_null=True))
    def get_error(self, workflow: Workflow) -> dict[str, str] | None:
        if not workflow.error_step:
            return None
        return {"step": workflow.error_step, "code": workflow.error_code, "message": workflow.error_message}

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, workflow: Workflow) -> list[dict[str, Any]]:
        steps = self.context.get("steps", {}).get(workflow.id)
        if steps is None:
            steps = list(
                WorkflowStep.objects.filter(workflow=workflow).select_related("run").order_by("position")
                .only("name", "atom", "queue", "state", "position", "run__status", "run__attempts",
                      "run__started_at", "run__finished_at", "run__id")
            )
        return StepSerializer([step_data(s) for s in steps], many=True).data


