"""``/api/v1/webhooks``: endpoints, their secrets, their deliveries. Tenant-scoped: another
tenant's webhook is not found."""

from __future__ import annotations

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
from atomfleet_orchestrator.http.schema import error_responses
from atomfleet_orchestrator.runs.api.pagination import RunCursorPagination
from atomfleet_orchestrator.webhooks import endpoints
from atomfleet_orchestrator.webhooks.api.serializers import (
    DeliverySerializer,
    ReplayResultSerializer,
    ReplaySerializer,
    WebhookCreateSerializer,
    WebhookListSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
    WebhookWithSecretSerializer,
)
from atomfleet_orchestrator.webhooks.models import DeliveryStatus, WebhookDelivery

_ID = OpenApiParameter("endpoint_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="the webhook's id")
_DELIVERY = OpenApiParameter("delivery_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_URL_ERRORS = ("`invalid_request` (body), `webhook_url_refused` (the host resolves to an address the SSRF "
               "guard refuses; details: `setting`), `webhook_url_unresolvable`")


def _body(request: Request, serializer_class: type[Any]) -> Any:
    if not isinstance(request.data, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


@extend_schema(
    methods=["GET"], operation_id="webhooks_list", tags=["webhooks"], summary="List the tenant's webhooks",
    responses={200: WebhookListSerializer},
)
@extend_schema(
    methods=["POST"], operation_id="webhooks_create", tags=["webhooks"], summary="Create a webhook",
    description="Events of the listed types are POSTed to `url`, signed per Standard Webhooks 1.0 with "
    "the returned `secret` (shown only here and on rotation).",
    request=WebhookCreateSerializer,
    responses={201: WebhookWithSecretSerializer,
               **error_responses(400, 409, e400=_URL_ERRORS, e409="`webhook_limit_reached` (details: `limit`)")},
)
@api_view(["GET", "POST"])
def webhooks(request: Request) -> Response:
    tenant = request.user.tenant
    if request.method == "GET":
        rows = tenant.webhook_endpoints.order_by("created_at", "id")
        return Response({"results": WebhookSerializer(rows, many=True).data})
    body = _body(request, WebhookCreateSerializer)
    endpoint = endpoints.create(tenant, body["url"], body["events"], body["description"])
    return Response(WebhookWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], operation_id="webhooks_get", tags=["webhooks"], summary="Get a webhook",
               parameters=[_ID], responses={200: WebhookSerializer})
@extend_schema(methods=["PATCH"], operation_id="webhooks_update", tags=["webhooks"], summary="Change a webhook",
               parameters=[_ID], request=WebhookUpdateSerializer,
               responses={200: WebhookSerializer, **error_responses(400, e400=_URL_ERRORS)})
@extend_schema(methods=["DELETE"], operation_id="webhooks_delete", tags=["webhooks"],
               summary="Delete a webhook and its delivery log", parameters=[_ID],
               responses={204: OpenApiResponse(description="deleted")})
@api_view(["GET", "PATCH", "DELETE"])
def webhook(request: Request, endpoint_id: Any) -> Response:
    endpoint = endpoints.endpoint_for(request.user.tenant, endpoint_id)
    if request.method == "DELETE":
        endpoint.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        endpoint = endpoints.update(endpoint, dict(_body(request, WebhookUpdateSerializer)))
    return Response(WebhookSerializer(endpoint).data)


@extend_schema(
    operation_id="webhooks_rotate_secret", tags=["webhooks"], summary="Replace the webhook's secret",
    description="Returns the new secret. The old one keeps signing too (a second signature in "
    "`webhook-signature`) until `previous_secret_until` (ATOMFLEET_WEBHOOK_SECRET_GRACE_SECONDS).",
    parameters=[_ID], request=None, responses={200: WebhookWithSecretSerializer},
)
@api_view(["POST"])
def rotate_secret(request: Request, endpoint_id: Any) -> Response:
    endpoint = endpoints.rotate_secret(endpoints.endpoint_for(request.user.tenant, endpoint_id))
    return Response(WebhookWithSecretSerializer(endpoint).data)


class DeliveryPagination(RunCursorPagination):
    page_size_query_description = "deliveries per page (1 to 500, default 50)"


@extend_schema_view(get=extend_schema(
    operation_id="webhooks_deliveries", tags=["webhooks"], summary="The webhook's delivery log, newest first",
    parameters=[_ID, OpenApiParameter("status", OpenApiTypes.STR, enum=DeliveryStatus.values,
                                      description="only deliveries in this status")],
    responses={200: DeliverySerializer(many=True),
               **error_responses(400, e400="`invalid_parameter`: a bad `status`, `limit` or `cursor`")},
))
class DeliveryList(ListAPIView):
    serializer_class = DeliverySerializer
    pagination_class = DeliveryPagination

    def get_queryset(self) -> Any:
        endpoint = endpoints.endpoint_for(self.request.user.tenant, self.kwargs["endpoint_id"])
        rows = WebhookDelivery.objects.filter(endpoint=endpoint)
        wanted = self.request.query_params.get("status")
        if wanted is not None:
            if wanted not in DeliveryStatus.values:
                raise ApiError(400, "invalid_parameter", f"status must be one of {', '.join(DeliveryStatus.values)}",
                               {"parameter": "status", "value": wanted[:100]})
            rows = rows.filter(status=wanted)
        return rows


@extend_schema(
    operation_id="webhooks_delivery_retry", tags=["webhooks"], summary="Send one delivery again now",
    description="With the same `webhook-id`; the retry schedule starts over.",
    parameters=[_ID, _DELIVERY], request=None,
    responses={202: DeliverySerializer, **error_responses(409, e409="`delivery_in_progress`: a sender holds it")},
)
@api_view(["POST"])
def retry_delivery(request: Request, endpoint_id: Any, delivery_id: Any) -> Response:
    endpoint = endpoints.endpoint_for(request.user.tenant, endpoint_id)
    delivery = endpoints.retry(endpoint, delivery_id)
    return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    operation_id="webhooks_replay", tags=["webhooks"], summary="Deliver again the events of a time range",
    description="Every event of `[since, until)` the webhook subscribes to (also ones older than the "
    "webhook) is delivered again; events it already had keep their `webhook-id`. At most "
    "ATOMFLEET_WEBHOOK_REPLAY_MAX_EVENTS events, within the event log's retention.",
    parameters=[_ID], request=ReplaySerializer,
    responses={202: ReplayResultSerializer,
               **error_responses(400, e400="`invalid_request`, or `replay_too_large` (details: `limit`)")},
)
@api_view(["POST"])
def replay(request: Request, endpoint_id: Any) -> Response:
    endpoint = endpoints.endpoint_for(request.user.tenant, endpoint_id)
    body = _body(request, ReplaySerializer)
    events, deliveries = endpoints.replay(endpoint, body["since"], body.get("until"))
    return Response({"events": events, "deliveries": deliveries}, status=status.HTTP_202_ACCEPTED)
