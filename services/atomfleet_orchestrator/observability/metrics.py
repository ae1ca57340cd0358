"""Orchestrator metric objects and the registry served by the API's ``/metrics``.

Importing :mod:`atomfleet.metrics` first puts prometheus_client in multiprocess mode (gunicorn runs
several worker processes; the master wipes the folder in ``on_starting``). The API exports only
what its own processes count: requests, runs submitted, tasks published. Fleet-wide gauges (queues,
outbox, run demand, ``celery_worker_up``) are beat's (:mod:`.fleet`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from atomfleet.metrics import precreate_publisher, publisher_hostname

log = logging.getLogger(__name__)

__all__ = [
    "API_REQUESTS",
    "API_REQUEST_DURATION",
    "OutboxStats",
    "RECONCILER_ACTIONS",
    "RECONCILER_ACTIONS_TOTAL",
    "RUNS_SUBMITTED",
    "build_api_registry",
    "install_worker_workflow_series",
    "outbox_stats_provider",
    "precreate_api_series",
    "precreate_reconciler_actions",
    "precreate_worker_workflow_series",
    "record_rate_limiter_error",
    "record_reconciler_action",
    "record_submission_rejected",
    "record_run_submitted",
    "record_step_release_wait",
    "record_workflow_ended",
    "set_outbox_stats_provider",
]

API_REQUESTS = Counter(
    "atomfleet_api_requests",
    "API requests by route template, method and status code.",
    ("route", "method", "status"),
)
API_REQUEST_DURATION = Histogram(
    "atomfleet_api_request_duration_seconds",
    "API request duration by route template and method (seconds).",
    ("route", "method"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, float("inf")),
)
RUNS_SUBMITTED = Counter(
    "atomfleet_runs_submitted", "Runs accepted by the API, by atom and queue.", ("atom", "queue_name")
)
# Submits refused by a tenant's admission limits (tenancy.admission), one per refused request.
SUBMISSIONS_REJECTED = Counter(
    "atomfleet_submissions_rejected",
    "Submit requests refused by a tenant's limits, by tenant (bounded: ATOMFLEET_METRICS_TENANT_LABELS) "
    "and reason (quota_exceeded, rate_limited).",
    ("tenant", "reason"),
)
REJECTION_REASONS = ("quota_exceeded", "rate_limited")
OTHER_TENANTS = "other"
_tenant_labels: set[str] = set()
_tenant_labels_lock = threading.Lock()
# The reconciler runs inside beat, which serves these counters (fleet.py).
RECONCILER_ACTIONS = (
    "redispatched", "lost_retrying", "lost_failed", "lost_cancelled", "workflow_ended", "workflow_step_released",
)
RECONCILER_ACTIONS_TOTAL = Counter(
    "atomfleet_reconciler_actions", "Actions taken by the reconciler, by action.", ("action",)
)

# Workflows end in whichever process wrote their last step's end (a worker, the API, beat): each
# counts its own, in the multiprocess files its exporter serves.
WORKFLOW_STATUSES = ("succeeded", "failed", "cancelled")
WORKFLOWS_TOTAL = Counter("atomfleet_workflows", "Workflows ended, by final status.", ("status",))
# An unlabeled metric creates its value where it is defined, at import: in a worker or beat, before
# the process group's folder exists (wipe_multiproc_dir), so it wrote a stray file into the shared
# base folder at every process start, outside what the exporter reads. Labeled metrics create
# values at .labels(); unlabeled ones are defined on first use, after the folder exists.
M = TypeVar("M", Counter, Histogram)


class OnFirstUse(Generic[M]):
    """An unlabeled metric, defined the first time it is used (see above)."""

    def __init__(self, factory: Callable[[], M]) -> None:
        self._factory: Callable[[], M] = factory
        self._metric: M | None = None
        self._lock = threading.Lock()

    def __call__(self) -> M:
        with self._lock:
            if self._metric is None:
                self._metric = self._factory()
            return self._metric


_step_release_histogram = OnFirstUse(lambda: Histogram(
    "atomfleet_workflow_step_release_seconds",
    "Seconds from a workflow step's release (its last parent's end) to its run's start.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, float("inf")),
))
_rate_limiter_errors = OnFirstUse(lambda: Counter(
    "atomfleet_rate_limiter_errors",
    "Submits admitted without a rate check because the rate limiter's Redis did not answer (fail-open).",
))


@dataclass(frozen=True)
class OutboxStats:
    """Runs accepted but not yet published to the broker."""

    waiting: int
    oldest_age_seconds: float | None = None


_outbox: list[Callable[[], OutboxStats]] = []
_api_series = threading.Lock()
_api_series_created = False


def set_outbox_stats_provider(provider: Callable[[], OutboxStats] | None) -> None:
    """Register the function that counts the outbox at scrape time (e.g. one indexed query)."""
    _outbox[:] = [provider] if provider is not None else []


def outbox_stats_provider() -> Callable[[], OutboxStats] | None:
    return _outbox[0] if _outbox else None


def record_run_submitted(atom: str, queue: str) -> None:
    RUNS_SUBMITTED.labels(atom, queue).inc()


def tenant_label(slug: str) -> str:
    """The tenant's own label for the first ATOMFLEET_METRICS_TENANT_LABELS tenants this process
    counts, ``other`` for the rest: per-tenant series stay bounded whatever the number of tenants."""
    from django.conf import settings

    with _tenant_labels_lock:
        if slug in _tenant_labels:
            return slug
        if len(_tenant_labels) < settings.ATOMFLEET_METRICS_TENANT_LABELS and slug != OTHER_TENANTS:
            _tenant_labels.add(slug)
            return slug
    return OTHER_TENANTS


def record_submission_rejected(tenant_slug: str, reason: str) -> None:
    SUBMISSIONS_REJECTED.labels(tenant_label(tenant_slug), reason).inc()


def record_rate_limiter_error() -> None:
    _rate_limiter_errors().inc()


def record_workflow_ended(status: str) -> None:
    WORKFLOWS_TOTAL.labels(status).inc()


def record_step_release_wait(seconds: float) -> None:
    _step_release_histogram().observe(seconds)


def precreate_workflow_series() -> None:
    for status in WORKFLOW_STATUSES:
        WORKFLOWS_TOTAL.labels(status)


def install_worker_workflow_series(app: Any) -> None:
    """Workers end most workflows (the last step's end): the statuses of
    ``atomfleet_workflows_total`` exist at 0 from the worker's start, after its metrics folder was
    wiped (connect after ``install_worker_metrics``), so ``increase()`` counts a worker's first
    ending instead of taking its series' appearance at 1 for its start."""
    from celery import signals

    signals.worker_init.connect(lambda **_: precreate_worker_workflow_series(), weak=False,
                                dispatch_uid="atomfleet.metrics.workflows")


def precreate_worker_workflow_series() -> None:
    """A worker's workflow series at 0: the endings it counts and the release wait it measures at
    each claim."""
    precreate_workflow_series()
    _step_release_histogram()


def record_reconciler_action(action: str, count: int = 1) -> None:
    """Count reconciler actions. ``action`` is a label: a fixed vocabulary of the reconciler's code
    (:data:`RECONCILER_ACTIONS` are created at 0 when beat starts; others appear when first used).
    Never raises: a metric must not fail the reconciler."""
    if count:
        RECONCILER_ACTIONS_TOTAL.labels(action).inc(count)


def precreate_reconciler_actions() -> None:
    for action in RECONCILER_ACTIONS:
        RECONCILER_ACTIONS_TOTAL.labels(action)


def registered_routes() -> list[tuple[str, str]] | None:
    """``(atom, queue)`` of every registered atom (the API and beat import no atom code); None
    while the database cannot be read (the series then start at their first use)."""
    from django.db import DatabaseError

    from atomfleet_orchestrator.atoms import registry

    try:
        return [(d.name, d.queue) for d in registry.current_all()]
    except DatabaseError as exc:
        log.warning("metrics: registered atoms unavailable, their series start at first use: %s", exc)
        return None


def precreate_api_series() -> None:
    """The API's known label sets at 0: tasks published (every registered atom on its queue), runs
    submitted. Called once per API process when its request stack is built (the metrics
    middleware); atoms registered later start at their first publish.
    """
    global _api_series_created
    with _api_series:
        if _api_series_created:
            return
        routes = registered_routes()
        if routes is None:
            return
        precreate_publisher(publisher_hostname(), routes)
        for name, queue in routes:
            RUNS_SUBMITTED.labels(name, queue)
        precreate_workflow_series()  # a cancel ends a workflow in the API
        _rate_limiter_errors().inc(0)
        for reason in REJECTION_REASONS:  # the `other` series exist at 0 for rate() from the start
            SUBMISSIONS_REJECTED.labels(OTHER_TENANTS, reason)
        _api_series_created = True


def build_api_registry() -> CollectorRegistry:
    """Multiprocess files of all gunicorn workers (a fresh registry per scrape is cheap)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
