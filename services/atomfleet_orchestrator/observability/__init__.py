"""Orchestrator (API) observability: request metrics middleware, ``/metrics`` view, run counters.

Wiring (see ``docs/observability.md``):

- settings: ``MIDDLEWARE = ["atomfleet_orchestrator.observability.middleware.RequestMetricsMiddleware", ...]``
- urls: ``path("metrics", atomfleet_orchestrator.observability.views.metrics_view)``
- gunicorn config: ``from atomfleet_orchestrator.observability.gunicorn_hooks import on_starting, pre_fork,
  post_fork, child_exit``
- code: :func:`record_run_submitted`, :func:`record_reconciler_action`,
  :func:`set_outbox_stats_provider`, optionally :func:`configure` with the Celery app.
"""

from atomfleet_orchestrator.observability.metrics import (
    OutboxStats,
    configure,
    record_reconciler_action,
    record_run_submitted,
    set_outbox_stats_provider,
)

__all__ = [
    "OutboxStats",
    "configure",
    "record_reconciler_action",
    "record_run_submitted",
    "set_outbox_stats_provider",
]
