"""``/healthz``: the process answers. ``/readyz``: the database and the broker answer."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.db import connection
from django.http import HttpRequest, JsonResponse

from atomfleet_orchestrator.http.errors import json_error


def require_GET(view: Callable[[HttpRequest], JsonResponse]) -> Callable[[HttpRequest], JsonResponse]:
    """Django's ``require_GET`` with the API's JSON error body (its 405 is an empty text/html)."""

    @wraps(view)
    def get_only(request: HttpRequest) -> JsonResponse:
        if request.method != "GET":
            response = json_error(405, "method_not_allowed", f'method "{request.method}" not allowed')
            response["Allow"] = "GET"
            return response
        return view(request)

    return get_only


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    from atomfleet_orchestrator.celery import app

    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            conn.default_channel.client.ping()
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)
