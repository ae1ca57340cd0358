from __future__ import annotations

import itertools
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.generics import ListAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from atomfleet.catalog import CATALOG
from atomfleet.errors import ObjectNotFound
from atomfleet_orchestrator.http.errors import ApiError
from atomfleet_orchestrator.runs.api.serializers import (
    AtomSerializer,
    RunSerializer,
    SubmitRunSerializer,
)
from atomfleet_orchestrator.runs.cancellation import cancel_run
from atomfleet_orchestrator.runs.errors import ArtifactNotFound, RunNotFound
from atomfleet_orchestrator.runs.models import AtomRun, RunStatus
from atomfleet_orchestrator.runs.storage import get_store
from atomfleet_orchestrator.runs.submission import submit_run


def _run_for(request: Request, run_id: Any) -> AtomRun:
    # Another tenant's run is indistinguishable from a missing one.
    run = AtomRun.objects.filter(id=run_id, tenant=request.user.tenant).first()
    if run is None:
        raise RunNotFound(f"no run {run_id}")
    return run


@extend_schema(responses=AtomSerializer(many=True))
@api_view(["GET"])
def list_atoms(request: Request) -> Response:
    return Response({"results": AtomSerializer(list(CATALOG), many=True).data})


@extend_schema(request=SubmitRunSerializer, responses={202: RunSerializer, 200: RunSerializer})
@api_view(["POST"])
def submit(request: Request, name: str) -> Response:
    if not isinstance(request.data, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object with 'args'")
    body = SubmitRunSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    unknown = set(request.data) - {"args", "idempotency_key"}
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown fields: {', '.join(sorted(unknown))}")
    run, created = submit_run(
        request.user.tenant,
        request.user.name,
        name,
        body.validated_data["args"],
        body.validated_data.get("idempotency_key"),
    )
    data = RunSerializer(run, context={"request": request}).data
    headers = {"Location": data["url"]}
    return Response(data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK, headers=headers)


class RunPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class RunList(ListAPIView):
    serializer_class = RunSerializer
    pagination_class = RunPagination
    filter_fields = ("atom", "status", "queue")

    def get_queryset(self) -> Any:
        runs = AtomRun.objects.filter(tenant=self.request.user.tenant).order_by("-created_at")
        params = self.request.query_params
        status_filter = params.get("status")
        allowed = [s.value for s in RunStatus]
        if status_filter and status_filter not in allowed:
            raise ApiError(400, "invalid_filter", f"unknown status {status_filter!r}", {"allowed": allowed})
        for field in self.filter_fields:
            if params.get(field):
                runs = runs.filter(**{field: params[field]})
        return runs


@extend_schema(responses=RunSerializer)
@api_view(["GET"])
def run_detail(request: Request, run_id: Any) -> Response:
    return Response(RunSerializer(_run_for(request, run_id), context={"request": request}).data)


@extend_schema(request=None, responses={202: RunSerializer, 200: RunSerializer})
@api_view(["POST"])
def cancel(request: Request, run_id: Any) -> Response:
    run = cancel_run(_run_for(request, run_id))
    data = RunSerializer(run, context={"request": request}).data
    return Response(data, status=status.HTTP_200_OK if run.is_terminal else status.HTTP_202_ACCEPTED)


def _artifact_link(request: Request, run: AtomRun, artifact: dict[str, Any]) -> str:
    url = get_store().presigned_url(artifact["key"], settings.ATOMFLEET_PRESIGNED_URL_SECONDS)
    return url or request.build_absolute_uri(reverse("run-artifact", args=[run.id, artifact["name"]]))


@extend_schema(responses={200: dict})
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


@extend_schema(responses={(200, "application/octet-stream"): bytes})
@api_view(["GET"])
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
    response = StreamingHttpResponse(itertools.chain([first], chunks), content_type=entry["content_type"])
    response["Content-Length"] = str(entry["size"])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
