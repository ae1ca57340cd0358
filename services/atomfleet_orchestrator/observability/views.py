"""``/metrics`` of the API: the counters of every gunicorn worker (requests, runs submitted, tasks
published). Fleet-wide gauges — queues, outbox, run demand, worker liveness — are beat's
(``observability.fleet``): one exporter each, so ``sum`` and ``max`` both give the true value.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from atomfleet_orchestrator.observability.metrics import build_api_registry

__all__ = ["metrics_view"]


def metrics_view(request: Any) -> HttpResponse:
    return HttpResponse(generate_latest(build_api_registry()), content_type=CONTENT_TYPE_LATEST)
