"""``/metrics`` of the API: the counters of every gunicorn worker (requests, runs submitted, tasks
published). Fleet-wide gauges — queues, outbox, run demand, worker liveness — are beat's
(``observability.fleet``): one exporter each, so ``sum`` and ``max`` both give the true value.

Where they are served: on a port of their own (``ATOMFLEET_METRICS_PORT``, 9808 in the chart), by
the gunicorn master (:func:`metrics_wsgi_app`, started from ``gunicorn_hooks.when_ready``). The
API port — the one an Ingress routes — has no ``/metrics`` route. :func:`metrics_view` stays for
sites that route it themselves (tests).
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

    A scrape reads the workers' metric files; should a collector ever touch the database, its
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
