"""REST reads of the event log and the stream token (served by the API; the stream by `atomfleet events`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from atomfleet_orchestrator.events.api.serializers import (
    EventPageSerializer,
    StreamTokenRequestSerializer,
    StreamTokenSerializer,
    event_json,
)
from atomfleet_orchestrator.events.query import (
    EventQuery,
    QueryError,
    issue_stream_token,
    parse_query,
    parse_types,
)
from atomfleet_orchestrator.events.read import Filters, page
from atomfleet_orchestrator.http.errors import ApiError
from atomfleet_orchestrator.http.schema import error_responses
from atomfleet_orchestrator.runs.errors import RunNotFound
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.workflows.errors import WorkflowNotFound
from atomfleet_orchestrator.workflows.models import Workflow

QUERY_PARAMETERS = [
    OpenApiParameter("after", OpenApiTypes.INT, description="only events after this id (the last one seen)"),
    OpenApiParameter("type", OpenApiTypes.STR, many=True,
                     description="event types, or prefixes like `run.*` (repeat or comma-separate)"),
    OpenApiParameter("run", OpenApiTypes.UUID, description="only this run's events"),
    OpenApiParameter("workflow", OpenApiTypes.UUID, description="only this workflow's events"),
]
_LIMIT = OpenApiParameter("limit", OpenApiTypes.INT, description="events per page (default 100, at most ATOMFLEET_EVENT_PAGE_MAX)")


def _query(request: Request) -> EventQuery:
    try:
        return parse_query(request.query_params.get, request.query_params.getlist, request.query_params.get("after"))
    except QueryError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= settings.ATOMFLEET_EVENT_PAGE_MAX:
        raise ApiError(400, "invalid_parameter", f"limit must be 1..{settings.ATOMFLEET_EVENT_PAGE_MAX}, got {raw[:20]!r}")
    return int(raw)


def _page(request: Request, filters: Filters, after: int) -> Response:
    events = page(after, filters, _limit(request))
    return Response({"results": [event_json(e) for e in events], "next": events[-1].id if events else after})


@extend_schema(
    operation_id="events_list", tags=["events"], summary="Events of this tenant, oldest first",
    description="Poll with `after` set to the last id seen (or `next`): no event is missed or repeated.",
    parameters=[*QUERY_PARAMETERS, _LIMIT],
    responses={200: EventPageSerializer, **error_responses(400, e400="`invalid_parameter`: a bad filter, `after` or `limit`")},
)
@api_view(["GET"])
def list_events(request: Request) -> Response:
    query = _query(request)
    return _page(request, query.filters(request.user.tenant.id), query.after)


@extend_schema(
    operation_id="runs_events", tags=["events"], summary="A run's events, oldest first",
    parameters=[OpenApiParameter("run_id", OpenApiTypes.UUID, OpenApiParameter.PATH), QUERY_PARAMETERS[0],
                QUERY_PARAMETERS[1], _LIMIT],
    responses={200: EventPageSerializer, **error_responses(400, 404)},
)
@api_view(["GET"])
def run_events(request: Request, run_id: Any) -> Response:
    tenant = request.user.tenant
    if not AtomRun.objects.filter(id=run_id, tenant=tenant).exists():
        raise RunNotFound(f"no run {run_id}")  # another tenant's run is a missing one
    query = _query(request)
    return _page(request, Filters(tenant.id, query.types, run_id=run_id), query.after)


@extend_schema(
    operation_id="workflows_events", tags=["events"], summary="A workflow's events, oldest first",
    description="The workflow's own events (`workflow.*`) and those of its steps' runs.",
    parameters=[OpenApiParameter("workflow_id", OpenApiTypes.UUID, OpenApiParameter.PATH), QUERY_PARAMETERS[0],
                QUERY_PARAMETERS[1], _LIMIT],
    responses={200: EventPageSerializer, **error_responses(400, 404)},
)
@api_view(["GET"])
def workflow_events(request: Request, workflow_id: Any) -> Response:
    tenant = request.user.tenant
    if not Workflow.objects.filter(id=workflow_id, tenant=tenant).exists():
        raise WorkflowNotFound(f"no workflow {workflow_id}")  # another tenant's workflow is a missing one
    query = _query(request)
    return _page(request, Filters(tenant.id, query.types, workflow_id=workflow_id), query.after)


@extend_schema(
    operation_id="events_stream_token", tags=["events"], summary="A short-lived token for EventSource",
    description="Browsers' EventSource cannot send `Authorization`: pass this token as `?token=` to "
                "`GET /api/v1/events/stream`. It grants this tenant's events matching these filters only.",
    request=StreamTokenRequestSerializer,
    responses={201: StreamTokenSerializer, **error_responses(400)},
)
@api_view(["POST"])
def stream_token(request: Request) -> Response:
    # The body is required (`{}`: every event of the tenant), as the schema says.
    if not int(request.META.get("CONTENT_LENGTH") or 0) or not isinstance(request.data, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object ({} for every event)")
    body = StreamTokenRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        types = parse_types(body.validated_data["type"])
    except QueryError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    query = EventQuery(0, types, body.validated_data["run"], body.validated_data["workflow"])
    token = issue_stream_token(request.user.tenant.id, query)
    base = settings.ATOMFLEET_EVENTS_URL.rstrip("/") or request.build_absolute_uri("/").rstrip("/")
    return Response({"token": token, "expires_in": settings.ATOMFLEET_STREAM_TOKEN_SECONDS,
                      "stream_url": f"{base}/api/v1/events/stream?{urlencode({'token': token})}"}, status=201)


__all__ = ["list_events", "run_events", "stream_token", "workflow_events", "EventPageSerializer"]
