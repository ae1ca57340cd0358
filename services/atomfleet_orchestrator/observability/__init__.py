"""Orchestrator observability: the API's request metrics and ``/metrics``, beat's fleet exporter.

Wiring (see ``docs/observability.md``):

- settings: ``MIDDLEWARE = ["atomfleet_orchestrator.observability.middleware.RequestMetricsMiddleware", ...]``
  (first; it also creates the API's known series at 0 when the process starts)
- urls: ``path("metrics", atomfleet_orchestrator.observability.views.metrics_view)``
- gunicorn config: ``from atomfleet_orchestrator.observability.gunicorn_hooks import on_starting, pre_fork,
  post_fork, child_exit``
- beat: :func:`start_fleet_metrics` from the scheduler's setup (``atomfleet_orchestrator.beat``):
  the one exporter of the fleet-wide gauges.
- code: :func:`record_run_submitted`, :func:`record_reconciler_action`,
  :func:`set_outbox_stats_provider`.
"""

from atomfleet_orchestrator.observability.fleet import start_fleet_metrics
from atomfleet_orchestrator.observability.metrics import (
    OutboxStats,
    record_reconciler_action,
    record_run_submitted,
    set_outbox_stats_provider,
)

__all__ = [
    "OutboxStats",
    "record_reconciler_action",
    "record_run_submitted",
    "set_outbox_stats_provider",
    "start_fleet_metrics",
]
