from __future__ import annotations

import itertools
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.decorators import api_view, content_negotiation_class
from rest_framework.generics import ListAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from atomfleet.errors import ObjectNotFound
from atomfleet_orchestrator.atoms import registry
from atomfleet_orchestrator.http.errors import ApiError
from atomfleet_orchestrator.http.schema import RATE_LIMIT_HEADERS, error_responses
from atomfleet_orchestrator.runs.api.answers import run_answer
from atomfleet_orchestrator.runs.api.pagination import RunCursorPagination
from atomfleet_orchestrator.runs.api.serializers import (
    AtomListSerializer,
    AtomSerializer,
    BatchResultSerializer,
    BatchSubmitSerializer,
    RunResultSerializer,
    RunSerializer,
    SubmitRunSerializer,
)
from atomfleet_orchestrator.runs.batch import BatchItem, check_batch_size, submit_batch
from atomfleet_orchestrator.runs.cancellation import cancel_run
from atomfleet_orchestrator.runs.errors import ArtifactNotFound, RunNotFound
from atomfleet_orchestrator.runs.models import AtomRun, RunStatus
from atomfleet_orchestrator.runs.storage import get_store
from atomfleet_orchestrator.runs.submission import submit_run
from atomfleet_orchestrator.tenancy.admission import Admission

_RUN_ID = OpenApiParameter("run_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_ATOM_NAME = OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="the atom's name, e.g. `text.stats`")


def _run_for(request: Request, run_id: Any) -> AtomRun:
    # Another tenant's run is indistinguishable from a missing one.
    run = AtomRun.objects.filter(id=run_id, tenant=request.user.tenant).order_by().first()
    if run is None:
        raise RunNotFound(f"no run {run_id}")
    return run


def _body(request: Request, serializer_class: type[Any]) -> Any:
    if not isinstance(request.data, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


@extend_schema(operation_id="atoms_list", tags=["atoms"], summary="List the atoms that can be run",
               responses={200: AtomListSerializer})
@api_view(["GET"])
def list_atoms(request: Request) -> Response:
    now = timezone.now()
    atoms = [vars(d) | {"live": d.live(now), "max_retries": d.max_retries} for d in registry.current_all()]
    return Response({"results": AtomSerializer(atoms, many=True).data})


@extend_schema(
    operation_id="runs_submit", tags=["runs"], summary="Submit a run of an atom",
    parameters=[_ATOM_NAME, *RATE_LIMIT_HEADERS], request=SubmitRunSerializer,
    responses={
        202: OpenApiResponse(RunSerializer, description="accepted: a new run (`Location` names it)"),
        200: OpenApiResponse(RunSerializer, description="the earlier run with this idempotency key"),
        **error_responses(404, 409, 429, e404="no atom by that name: `unknown_atom` (details: `atoms`)",
                          e409="the idempotency key was used with another atom or args: "
                          "`idempotency_conflict` (details: `run_id`)"),
    },
)
@api_view(["POST"])
def submit(request: Request, name: str) -> Response:
    body = _body(request, SubmitRunSerializer)
    admission = Admission(request.user.tenant)
    run, created = submit_run(
        request.user.tenant, request.user.name, name, body["args"], body.get("idempotency_key"),
        admission=admission, priority=body["priority"],
    )
    data = RunSerializer(run, context={"request": request}).data
    headers = {"Location": data["url"], **admission.headers()}
    return Response(data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK, headers=headers)


@extend_schema(
    operation_id="runs_submit_batch", tags=["runs"], summary="Submit many runs of one atom, all or nothing",
    description="Each item is checked like a single submission, in one transaction: when any item is "
    "refused, no run of the batch is created and the 400 `invalid_batch` lists every refused item in "
    "`details.errors` (`index`, `code`, `message`, `details`). Items with an idempotency key that names "
    "an earlier run with the same args return that run (`created: false`). A batch holds at most "
    "ATOMFLEET_BATCH_MAX_ITEMS items (413 `batch_too_large` above). Its new runs (items that are "
    "not replays) count against the tenant's quota and submit rate, all or nothing (429).",
    parameters=[_ATOM_NAME, *RATE_LIMIT_HEADERS], request=BatchSubmitSerializer,
    responses={
        202: OpenApiResponse(BatchResultSerializer, description="at least one run was created"),
        200: OpenApiResponse(BatchResultSerializer, description="every item named an earlier run"),
        **error_responses(
            400, 404, 413, 429,
            e400="`invalid_request` (body shape; details per field, items by index), or "
            "`invalid_batch`: items were refused (details.errors), nothing was created",
            e404="no atom by that name: `unknown_atom`",
            e413="`batch_too_large` (details: `limit`, `items`) or `payload_too_large` (details: `limit_bytes`)",
        ),
    },
)
@api_view(["POST"])
def submit_many(request: Request, name: str) -> Response:
    if isinstance(request.data, dict) and isinstance(request.data.get("items"), list):
        check_batch_size(len(request.data["items"]))  # before validating thousands of items
    body = _body(request, BatchSubmitSerializer)
    items = [BatchItem(item["args"], item.get("idempotency_key"), item["priority"]) for item in body["items"]]
    admission = Admission(request.user.tenant)
    outcomes = submit_batch(request.user.tenant, request.user.name, name, items, admission)
    # RunSerializer's fields, from the rows' values (answers.run_answer: a fifth of a run's CPU less)
    results = [{"created": created, "run": run_answer(run, request)} for run, created in outcomes]
    any_created = any(created for _, created in outcomes)
    return Response({"results": results}, status=status.HTTP_202_ACCEPTED if any_created else status.HTTP_200_OK,
                    headers=admission.headers())


@extend_schema_view(get=extend_schema(
    operation_id="runs_list", tags=["runs"], summary="List runs, newest first (cursor pages)",
    parameters=[
        OpenApiParameter("status", OpenApiTypes.STR, enum=[s.value for s in RunStatus], description="only runs in this state"),
        OpenApiParameter("atom", OpenApiTypes.STR, description="only runs of this atom"),
        OpenApiParameter("queue", OpenApiTypes.STR, description="only runs on this queue"),
    ],
    responses={200: RunSerializer(many=True), **error_responses(400, e400="`invalid_parameter`: a bad `status`, `limit` or `cursor`")},
))
class RunList(ListAPIView):
    serializer_class = RunSerializer
    pagination_class = RunCursorPagination
    filter_fields = ("atom", "status", "queue")

    def get_queryset(self) -> Any:
        runs = AtomRun.objects.filter(tenant=self.request.user.tenant)
        params = self.request.query_params
        status_filter = params.get("status")
        allowed = [s.value for s in RunStatus]
        if status_filter is not None and status_filter not in allowed:
            raise ApiError(400, "invalid_parameter", f"unknown status {status_filter!r}",
                           {"parameter": "status", "allowed": allowed})
        for field in self.filter_fields:
            if field in params:
                if "\x00" in params[field]:  # no run has it, and PostgreSQL refuses NUL in text
                    return runs.none()
                runs = runs.filter(**{field: params[field]})
        return runs


@extend_schema(operation_id="runs_retrieve", tags=["runs"], summary="Get a run", parameters=[_RUN_ID],
               responses={200: RunSerializer})
@api_view(["GET"])
def run_detail(request: Request, run_id: Any) -> Response:
    return Response(RunSerializer(_run_for(request, run_id), context={"request": request}).data)


@extend_schema(
    operation_id="runs_cancel", tags=["runs"], summary="Cancel a run (idempotent)", parameters=[_RUN_ID], request=None,
    responses={
        200: OpenApiResponse(RunSerializer, description="cancelled (it was waiting, or already cancelled)"),
        202: OpenApiResponse(RunSerializer, description="running: asked to stop (`cancel_requested`)"),
        **error_responses(409, e409="the run already succeeded or failed: `run_finished`"),
    },
)
@api_view(["POST"])
def cancel(request: Request, run_id: Any) -> Response:
    run = cancel_run(_run_for(request, run_id))
    data = RunSerializer(run, context={"request": request}).data
    return Response(data, status=status.HTTP_200_OK if run.is_terminal else status.HTTP_202_ACCEPTED)


def _artifact_link(request: Request, run: AtomRun, artifact: dict[str, Any]) -> str:
    url = get_store().presigned_url(artifact["key"], settings.ATOMFLEET_PRESIGNED_URL_SECONDS)
    return url or request.build_absolute_uri(reverse("run-artifact", args=[run.id, artifact["name"]]))


@extend_schema(
    operation_id="runs_result", tags=["runs"], summary="Get a run's result and artifacts", parameters=[_RUN_ID],
    responses={200: RunResultSerializer, **error_responses(409, e409="the run has no result yet: `result_not_ready`")},
)
@api_view(["GET"])
def result(request: Request, run_id: Any) -> Response:
    run = _run_for(request, run_id)
    if run.status != RunStatus.SUCCEEDED and not run.artifacts:
        raise ApiError(
            409, "result_not_ready", f"run {run.id} is {run.status}: no result", {"status": run.status}
        )
    artifacts = [
        {k: a[k] for k in ("name", "size", "content_type")} | {"url": _artifact_link(request, run, a)}
        for a in run.artifacts
    ]
    return Response(
        {
            "run_id": str(run.id),
            "status": run.status,
            "result": run.result,
            "result_artifact": run.result_artifact or None,
            "artifacts": artifacts,
        }
    )


class _JsonErrorsAnyAccept(BaseContentNegotiation):
    """The artifact's bytes go out whatever ``Accept`` says (a download asking for
    ``application/octet-stream`` must not get 406); errors are the usual JSON."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


@extend_schema(
    operation_id="runs_artifact", tags=["runs"], summary="Download an artifact of a run",
    parameters=[_RUN_ID, OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="the artifact's name")],
    responses={(200, "application/octet-stream"): OpenApiResponse(
        OpenApiTypes.BINARY, description="the artifact's bytes (its own content type is in the result's `artifacts`)")},
)
@api_view(["GET"])
@content_negotiation_class(_JsonErrorsAnyAccept)
def artifact(request: Request, run_id: Any, name: str) -> StreamingHttpResponse:
    run = _run_for(request, run_id)
    entry = next((a for a in run.artifacts if a["name"] == name), None)
    if entry is None:
        raise ArtifactNotFound(f"run {run.id} has no artifact {name!r}")
    chunks = get_store().iter_chunks(entry["key"])
    try:  # open the object before answering: a missing one is a 404, not a broken 200
        first = next(chunks, b"")
    except ObjectNotFound:
        raise ArtifactNotFound(
            f"artifact {name!r} of run {run.id} is missing from storage", {"key": entry["key"]}
        ) from None
    # Bytes to save, whatever they hold (the declared type is in the result): a download never
    # depends on the atom naming a content type the caller's tooling knows.
    response = StreamingHttpResponse(itertools.chain([first], chunks), content_type="application/octet-stream")
    response["Content-Length"] = str(entry["size"])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
