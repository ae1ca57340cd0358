"""The API's metrics: every gunicorn worker's counters plus the queue and outbox gauges.

The queue gauges (``atomfleet_queue_backlog``, ``atomfleet_queue_oldest_age_seconds``,
``celery_queue_length``) are exported here for every declared queue, so that an autoscaler can
start the first worker of a queue scaled to zero.

Where they are served: on a port of their own (``ATOMFLEET_METRICS_PORT``, 9808 in the chart), by
the gunicorn master (:func:`metrics_wsgi_app`, started from ``gunicorn_hooks.when_ready``). The
API port — the one an Ingress routes — has no ``/metrics`` route: scrapes run database counts and
Redis commands and must not be reachable by the public. :func:`metrics_view` stays for sites that
route it themselves (tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from atomfleet_orchestrator.observability.metrics import build_api_registry

__all__ = ["METRICS_PATH", "metrics_view", "metrics_wsgi_app"]

METRICS_PATH = "/metrics"


def metrics_view(request: Any) -> HttpResponse:
    return HttpResponse(generate_latest(build_api_registry()), content_type=CONTENT_TYPE_LATEST)


def metrics_wsgi_app() -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """A WSGI app serving ``GET /metrics`` (404 elsewhere) from the API registry.

    Each scrape may query the database (the outbox gauges) in the server's request thread: its
    connection is closed when the scrape ends, so scrape threads never leave connections open.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != METRICS_PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: metrics are served at /metrics\n"]
        from django.db import connections

        try:
            body = generate_latest(build_api_registry())
        finally:
            connections.close_all()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    return app
