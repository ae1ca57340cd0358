"""``/api/v1/workflows``: submit, list, read, cancel and retry workflows (one tenant's own)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from atomfleet_orchestrator.http.errors import ApiError
from atomfleet_orchestrator.http.schema import RATE_LIMIT_HEADERS, error_responses
from atomfleet_orchestrator.runs.api.pagination import RunCursorPagination
from atomfleet_orchestrator.tenancy.admission import Admission
from atomfleet_orchestrator.workflows import engine
from atomfleet_orchestrator.workflows.api.serializers import (
    WorkflowSerializer,
    WorkflowSubmitSerializer,
)
from atomfleet_orchestrator.workflows.errors import WorkflowNotFound
from atomfleet_orchestrator.workflows.lifecycle import WorkflowStatus
from atomfleet_orchestrator.workflows.models import Workflow, WorkflowStep

_WORKFLOW_ID = OpenApiParameter("workflow_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


def _workflow_for(request: Request, workflow_id: Any) -> Workflow:
    # Another tenant's workflow is indistinguishable from a missing one.
    workflow = Workflow.objects.filter(id=workflow_id, tenant=request.user.tenant).order_by().first()
    if workflow is None:
        raise WorkflowNotFound(f"no workflow {workflow_id}")
    return workflow


def _answer(request: Request, workflow: Workflow, code: int, headers: dict[str, str] | None = None) -> Response:
    data = WorkflowSerializer(workflow, context={"request": request}).data
    return Response(data, status=code, headers={"Location": data["url"], **(headers or {})})


_SUBMIT_SCHEMA = extend_schema(
    operation_id="workflows_submit", tags=["workflows"], summary="Submit a workflow (a DAG of atom runs)",
    description="Validated whole before anything runs: every refusal is a 400 `invalid_workflow` whose "
    "`details.errors` name the step (`step`, `problems`). The root steps are queued at once; each "
    "other step when its parents have ended (docs/workflows.md). Each step counts as a run against "
    "the tenant's quota and submit rate (429).",
    parameters=RATE_LIMIT_HEADERS, request=WorkflowSubmitSerializer,
    responses={
        202: OpenApiResponse(WorkflowSerializer, description="accepted: a new workflow (`Location` names it)"),
        200: OpenApiResponse(WorkflowSerializer, description="the earlier workflow with this idempotency key"),
        **error_responses(
            400, 409, 429,
            e400="`invalid_request` (body shape) or `invalid_workflow` (details.errors: `step`, `problems`): "
            "unknown atom, unknown or duplicate step, unknown parent, a cycle, `$from` to a step that is "
            "not an ancestor, arguments invalid against the atom's schema, too many steps",
            e409="the idempotency key was used with another body: `idempotency_conflict` (details: `workflow_id`)",
        ),
    },
)


@extend_schema_view(post=_SUBMIT_SCHEMA, get=extend_schema(
    operation_id="workflows_list", tags=["workflows"], summary="List workflows, newest first (cursor pages)",
    parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=[s.value for s in WorkflowStatus],
                                 description="only workflows in this state")],
    responses={200: WorkflowSerializer(many=True),
               **error_responses(400, e400="`invalid_parameter`: a bad `status`, `limit` or `cursor`")},
))
class WorkflowList(ListAPIView):
    """GET lists, POST submits (one path)."""

    serializer_class = WorkflowSerializer
    pagination_class = RunCursorPagination

    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise ApiError(400, "invalid_request", "the body must be a JSON object")
        body = WorkflowSubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        admission = Admission(request.user.tenant)
        workflow, created = engine.submit(request.user.tenant, request.user.name, body.validated_data, admission)
        return _answer(request, workflow, status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
                       admission.headers())

    def get_queryset(self) -> Any:
        workflows = Workflow.objects.filter(tenant=self.request.user.tenant)
        wanted = self.request.query_params.get("status")
        allowed = [s.value for s in WorkflowStatus]
        if wanted is not None:
            if wanted not in allowed:
                raise ApiError(400, "invalid_parameter", f"unknown status {wanted!r}",
                               {"parameter": "status", "allowed": allowed})
            workflows = workflows.filter(status=wanted)
        return workflows

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        # The page's steps in one query, not one per workflow.
        steps: dict[Any, list[WorkflowStep]] = defaultdict(list)
        for step in (WorkflowStep.objects.filter(workflow_id__in=[w.id for w in page])
                     .select_related("run").order_by("workflow_id", "position")):
            steps[step.workflow_id].append(step)
        context = {"request": request, "steps": {w.id: steps[w.id] for w in page}}
        return self.get_paginated_response(WorkflowSerializer(page, many=True, context=context).data)


@extend_schema(operation_id="workflows_retrieve", tags=["workflows"], summary="Get a workflow and its steps",
               parameters=[_WORKFLOW_ID], responses={200: WorkflowSerializer})
@api_view(["GET"])
def detail(request: Request, workflow_id: Any) -> Response:
    return Response(WorkflowSerializer(_workflow_for(request, workflow_id), context={"request": request}).data)


@extend_schema(
    operation_id="workflows_cancel", tags=["workflows"], summary="Cancel a workflow (idempotent)",
    description="Steps not started end `cancelled` at once; running ones get the cooperative cancel. "
    "The workflow is `cancelled` once every step is terminal.",
    parameters=[_WORKFLOW_ID], request=None,
    responses={
        200: OpenApiResponse(WorkflowSerializer, description="cancelled (nothing was running, or already cancelled)"),
        202: OpenApiResponse(WorkflowSerializer, description="running steps were asked to stop (`cancel_requested`)"),
        **error_responses(409, e409="the workflow already succeeded or failed: `workflow_finished`"),
    },
)
@api_view(["POST"])
def cancel(request: Request, workflow_id: Any) -> Response:
    workflow = engine.cancel(str(_workflow_for(request, workflow_id).id))
    workflow.refresh_from_db()
    return _answer(request, workflow, status.HTTP_200_OK if workflow.is_terminal else status.HTTP_202_ACCEPTED)


@extend_schema(
    operation_id="workflows_retry", tags=["workflows"], summary="Re-run the failed, cancelled and skipped steps",
    description="Only for an ended workflow. Succeeded steps keep their runs and results; every other "
    "step gets a new run when its parents have ended. The workflow is `running` again.",
    parameters=[_WORKFLOW_ID], request=None,
    responses={
        202: OpenApiResponse(WorkflowSerializer, description="running again"),
        **error_responses(409, e409="the workflow has not ended: `workflow_running`"),
    },
)
@api_view(["POST"])
def retry(request: Request, workflow_id: Any) -> Response:
    workflow = engine.retry(str(_workflow_for(request, workflow_id).id))
    workflow.refresh_from_db()
    return _answer(request, workflow, status.HTTP_202_ACCEPTED)
