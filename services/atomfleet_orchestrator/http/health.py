"""``/healthz``: the process answers. ``/readyz``: the database and the broker answer.

A failed check names what failed and why (the exception's own words, the server and the setting
to look at), so that a pod stuck not-ready can be diagnosed from its probe's answer alone.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
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

__all__ = ["describe_failure", "healthz", "readyz"]

#: Seconds the broker check may take: a probe's timeout is a few seconds.
BROKER_CHECK_TIMEOUT = 2.0
_MAX_REASON = 300


def describe_failure(exc: BaseException) -> str:
    """``<ExceptionClass>: <first line of its message>``, short enough for a probe's answer."""
    lines = str(exc).strip().splitlines()
    reason = lines[0] if lines else "(no message)"
    if len(reason) > _MAX_REASON:
        reason = reason[:_MAX_REASON] + "..."
    return f"{type(exc).__name__}: {reason}"


def _public(url: str) -> str:
    """The URL without its password (the probe's answer is not a secret)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=user + netloc).geturl()


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready; say which
        db = settings.DATABASES["default"]
        where = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db.get('NAME')}"
        return f"error: database {where} (DATABASE_URL): {describe_failure(exc)}"
    return "ok"


def _broker() -> str:
    from atomfleet_orchestrator.runs.dispatch import api_broker_connection

    try:  # the API's bounded connection: a broker that never answers fails the check in time
        with api_broker_connection() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_CHECK_TIMEOUT)
            conn.default_channel.client.ping()
    except Exception as exc:
        url = _public(settings.CELERY_BROKER_URL)
        return f"error: broker {url} (ATOMFLEET_BROKER_URL or REDIS_URL): {describe_failure(exc)}"
    return "ok"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker()}
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)
