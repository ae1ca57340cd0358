"""``/metrics`` of the API: every gunicorn worker's counters plus the queue and outbox gauges.

The queue gauges (``atomfleet_queue_backlog``, ``atomfleet_queue_oldest_age_seconds``,
``celery_queue_length``) are exported here for every declared queue, so that an autoscaler can
start the first worker of a queue scaled to zero.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from atomfleet_orchestrator.observability.metrics import build_api_registry

__all__ = ["metrics_view"]


def metrics_view(request: Any) -> HttpResponse:
    return HttpResponse(generate_latest(build_api_registry()), content_type=CONTENT_TYPE_LATEST)
