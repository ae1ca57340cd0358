"""The OpenAPI contract's shared parts: the error body, the errors every operation may answer, and
strict request bodies.

``ApiSchema`` (``DEFAULT_SCHEMA_CLASS``) adds to each operation the errors that come from the
machinery around views, so no view can forget them:

- 503 (with ``Retry-After``) everywhere: the database or object storage is down;
- 401 wherever a token is required;
- 400, 413, 415 wherever a request body is read;
- 404 wherever the path names something.

Views declare the rest (409, a 400 from query parameters) with :func:`error_responses`.
Serializers that set ``reject_unknown_fields = True`` (see :class:`StrictSerializer`) refuse
fields they do not declare, and their schema says so (``additionalProperties: false``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

__all__ = [
    "RATE_LIMIT_HEADERS",
    "ApiSchema",
    "ErrorBodySerializer",
    "StrictSerializer",
    "error_responses",
]

_DESCRIPTIONS = {
    400: "The request is not valid: `invalid_request` (body shape), `malformed_json`, "
    "`invalid_args` (arguments against the atom's JSON Schema), `invalid_parameter` (query).",
    401: "No token, or a token that is not valid or was revoked: `unauthenticated`.",
    404: "Nothing by that name for this tenant (another tenant's run is not found either).",
    409: "The request conflicts with the current state.",
    413: "The body exceeds its limit: `payload_too_large` (details: `limit_bytes`).",
    415: "The body's Content-Type is not accepted: `unsupported_media_type`.",
    429: "A limit of the tenant refused the request; nothing was created. `quota_exceeded`: too many "
    "accepted runs not yet finished (details: `limit`, `in_use`, `requested`); wait for runs to end. "
    "`rate_limited`: the submit rate (details: `rate`, `burst`, `requested`, `retry_after`); retry "
    "after the `Retry-After` seconds (docs/tenancy.md).",
    503: "A backing service (database, object storage) is down: `database_unavailable` or "
    "`storage_unavailable`. Retry after the `Retry-After` seconds.",
}


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="stable, machine-readable reason, e.g. `invalid_args`")
    message = serializers.CharField(help_text="for people")
    details = serializers.JSONField(allow_null=True, help_text="what a caller needs to fix it, or null")


class ErrorBodySerializer(serializers.Serializer):
    """Every error answer of the API: ``{"error": {"code", "message", "details"}}``."""

    error = ErrorSerializer()

    class Meta:
        ref_name = "ErrorBody"


def error_responses(*codes: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """``@extend_schema(responses=...)`` entries for these statuses, each with the error body.

    ``descriptions`` overrides a status's text: ``error_responses(409, e409="...")``.
    """
    return {
        code: OpenApiResponse(ErrorBodySerializer, description=descriptions.get(f"e{code}", _DESCRIPTIONS[code]))
        for code in codes
    }


class StrictSerializer(serializers.Serializer):
    """A request body that refuses fields it does not declare (and says so in the schema)."""

    reject_unknown_fields = True

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({"non_field_errors": [f"unknown fields: {', '.join(unknown)}"]})
        return super().to_internal_value(data)


_RETRY_AFTER = OpenApiParameter(
    "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[503],
    description="seconds to wait before retrying",
)


#: Response headers of the submit operations (the IETF RateLimit header fields draft): on the
#: answers that created runs and on a ``rate_limited`` 429 (absent while the rate limiter is down).
RATE_LIMIT_HEADERS = [
    OpenApiParameter("Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[429, 503],
                     description="seconds to wait before retrying"),
    OpenApiParameter("RateLimit-Limit", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[200, 202, 429],
                     description="the tenant's burst: runs it may submit at once"),
    OpenApiParameter("RateLimit-Remaining", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[200, 202, 429],
                     description="runs it may still submit now"),
    OpenApiParameter("RateLimit-Reset", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[200, 202, 429],
                     description="seconds until the full burst is available again"),
    OpenApiParameter("RateLimit-Policy", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 202, 429],
                     description="`<burst>;w=<seconds a full burst takes to refill>`"),
]


class ApiSchema(AutoSchema):
    def get_override_parameters(self) -> list[Any]:
        declared = super().get_override_parameters()
        if any(isinstance(p, OpenApiParameter) and p.name == "Retry-After" for p in declared):
            return declared  # the operation's own (e.g. also on its 429)
        return [*declared, _RETRY_AFTER]

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        if "requestBody" in operation:
            operation["requestBody"]["required"] = True  # no operation takes an optional body
        implied = [503]
        if any(requirement for requirement in operation.get("security", [])):
            implied.append(401)
        if "requestBody" in operation:
            implied += [400, 413, 415]
        if any(p.get("in") == "path" for p in operation.get("parameters", [])):
            implied.append(404)
        responses = operation["responses"]
        for code in sorted(implied):
            if str(code) not in responses:
                response = self._get_response_for_code(error_responses(code)[code], str(code))
                responses[str(code)] = response
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if getattr(serializer, "reject_unknown_fields", False):
            schema["additionalProperties"] = False
        return schema
