"""Django middleware counting API requests by route template (never by raw path or id)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from atomfleet_orchestrator.observability.metrics import (
    API_REQUEST_DURATION,
    API_REQUESTS,
    precreate_api_series,
)

__all__ = ["RequestMetricsMiddleware", "route_of"]

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED = "<unmatched>"


def route_of(request: Any) -> str:
    """The URL pattern that matched (``api/v1/runs/<uuid:run_id>``), or ``<unmatched>``."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    route = getattr(match, "route", None)
    return route or getattr(match, "view_name", None) or UNMATCHED


class RequestMetricsMiddleware:
    """Put it first in ``MIDDLEWARE`` so the duration covers the whole stack.

    Django builds the middleware once per process when it loads the WSGI application (after the
    apps, and with them the catalog, are ready): that is when the API's known series are created
    at 0, before the first request and the first publish.
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        precreate_api_series()

    def __call__(self, request: Any) -> Any:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        route = route_of(request)
        API_REQUESTS.labels(route, method, str(response.status_code)).inc()
        API_REQUEST_DURATION.labels(route, method).observe(time.perf_counter() - started)
        return response
