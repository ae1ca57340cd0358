"""One JSON error shape for every API failure::

    {"error": {"code": "invalid_args", "message": "...", "details": {...}}}
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

__all__ = [
    "RETRY_AFTER_SECONDS",
    "ApiError",
    "ServiceUnavailableMiddleware",
    "api_exception_handler",
    "error_body",
    "json_error",
    "unavailable",
]

#: What a client told to come back (503) should wait, in seconds.
RETRY_AFTER_SECONDS = 5


class ApiError(exceptions.APIException):
    """An API failure with a stable code; raise it from views and services."""

    def __init__(self, status_code: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.details = details
        self.headers: dict[str, str] = {}  # sent with the error (e.g. a 429's Retry-After)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def json_error(status_code: int, code: str, message: str, details: Any = None) -> JsonResponse:
    """For plain Django views and middleware (outside DRF)."""
    return JsonResponse(error_body(code, message, details), status=status_code)


_DRF_CODES: dict[type[exceptions.APIException], tuple[str, str | None]] = {
    exceptions.NotAuthenticated: ("unauthenticated", "authentication credentials were not provided"),
    exceptions.AuthenticationFailed: ("unauthenticated", None),
    exceptions.PermissionDenied: ("forbidden", None),
    exceptions.NotFound: ("not_found", None),
    exceptions.MethodNotAllowed: ("method_not_allowed", None),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", None),
    exceptions.ParseError: ("malformed_json", None),
    exceptions.NotAcceptable: ("not_acceptable", None),
    exceptions.Throttled: ("throttled", None),
}


def unavailable(exc: Exception) -> tuple[str, str] | None:
    """The error code and message when ``exc`` means a backing service is down, else None."""
    from django.db import InterfaceError, OperationalError

    from atomfleet.errors import ObjectNotFound, StorageError

    if isinstance(exc, OperationalError | InterfaceError):
        return "database_unavailable", "the database is unavailable; retry later"
    if isinstance(exc, StorageError) and not isinstance(exc, ObjectNotFound):
        return "storage_unavailable", "object storage is unavailable; retry later"
    return None


def _unavailable_response(code: str, message: str) -> dict[str, Any]:
    return {"body": error_body(code, message), "headers": {"Retry-After": str(RETRY_AFTER_SECONDS)}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    from atomfleet_orchestrator.runs.errors import RunError

    down = unavailable(exc)
    if down is not None:
        reply = _unavailable_response(*down)
        return Response(reply["body"], status=503, headers=reply["headers"])
    if isinstance(exc, RunError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
    if isinstance(exc, ApiError):
        return Response(error_body(exc.error_code, exc.message, exc.details), status=exc.status_code,
                        headers=exc.headers or None)
    response = exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's 500 handling and logging
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid_request", "the request body is not valid", response.data)
    else:
        code, message = next(
            (v for k, v in _DRF_CODES.items() if isinstance(exc, k)), ("error", None)
        )
        detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
        body = error_body(code, message or str(detail))
    if response.status_code == status.HTTP_403_FORBIDDEN and isinstance(exc, exceptions.NotAuthenticated):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    response.data = body
    return response


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(404, "not_found", f"no such endpoint: {request.path}")


def server_error_view(request: HttpRequest) -> JsonResponse:
    return json_error(500, "internal_error", "internal server error; the incident was logged")


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 400 (a ``SuspiciousOperation``): say which, a refused Host above all.

    Behind ``kubectl port-forward`` or a new Ingress name, every request is refused for its Host:
    the answer names the Host and the setting that admits it.
    """
    from django.core.exceptions import DisallowedHost

    if isinstance(exception, DisallowedHost):
        host = request.META.get("HTTP_X_FORWARDED_HOST") or request.META.get("HTTP_HOST") or request.META.get(
            "SERVER_NAME", ""
        )
        host = host[:200]
        return json_error(
            400, "host_not_allowed",
            f"the Host header {host!r} is not one this API serves: add it to ATOMFLEET_ALLOWED_HOSTS "
            "(the Helm chart's value config.allowedHosts), or send a Host it lists",
            {"host": host, "setting": "ATOMFLEET_ALLOWED_HOSTS"},
        )
    return json_error(400, "bad_request", "bad request")


class ServiceUnavailableMiddleware:
    """503 with ``Retry-After`` and the error body, never 500, when a backing service is down.

    DRF views get the same answer from ``api_exception_handler``; this covers the rest (Django's
    own views, middleware that touches the database).
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        down = unavailable(exception)
        if down is None:
            return None
        reply = _unavailable_response(*down)
        response = JsonResponse(reply["body"], status=503)
        response["Retry-After"] = reply["headers"]["Retry-After"]
        return response
