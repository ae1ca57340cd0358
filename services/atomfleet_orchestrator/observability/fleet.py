"""Beat's ``/metrics``: the one exporter of the fleet-wide gauges.

Beat is a single replica (Recreate strategy), so a gauge it exports exists exactly once: ``sum``
and ``max`` over it both give the true value, and dashboards written for one exporter (celery-
exporter's) add nothing twice. It serves, on ``ATOMFLEET_METRICS_PORT``:

- from Redis: ``celery_queue_length``, ``atomfleet_queue_backlog``, ``atomfleet_queue_prefetched``,
  ``atomfleet_queue_oldest_age_seconds`` for every declared queue, ``atomfleet_queue_metrics_up``,
  and ``celery_worker_up{hostname}`` from the workers' reports;
- from the database: ``atomfleet_queue_runs{queue_name,state}`` (waiting, running),
  ``atomfleet_queue_demand`` (their sum: what the autoscaler scales on),
  ``atomfleet_queue_oldest_run_age_seconds``, the same per tenant
  (``atomfleet_tenant_runs_{waiting,running}``, ``atomfleet_tenant_oldest_waiting_age_seconds``
  ``{tenant,queue_name}``: the ATOMFLEET_METRICS_TENANT_LABELS tenants of most demand named, the
  rest ``other``), the outbox gauges and ``atomfleet_database_metrics_up``;
- its own counters (multiprocess files of its own folder): ``atomfleet_reconciler_actions_total``
  and ``celery_task_sent_total`` of what it publishes (outbox dispatches, next attempts).

Workers and the API export none of these (per-pod gauges stay per pod).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from atomfleet.metrics import (
    QueueCollector,
    RedisQueueStats,
    WorkerUpCollector,
    declared_queues,
    metrics_host,
    metrics_port,
    precreate_publisher,
    publisher_hostname,
    wipe_multiproc_dir,
)
from atomfleet_orchestrator.observability.metrics import (
    OTHER_TENANTS,
    OutboxStats,
    outbox_stats_provider,
    precreate_reconciler_actions,
    precreate_workflow_series,
    registered_routes,
)

log = logging.getLogger(__name__)

__all__ = ["DatabaseCollector", "bounded_by_tenant", "build_fleet_registry", "start_fleet_metrics"]

_lock = threading.Lock()
_server: Any = None


def _tenant_counts() -> Mapping[tuple[str, str], Any]:
    from atomfleet_orchestrator.runs.stats import tenant_counts

    return tenant_counts()


def _tenant_label_cap() -> int:
    from django.conf import settings

    return int(settings.ATOMFLEET_METRICS_TENANT_LABELS)


def _add(a: Any, b: Any) -> Any:
    return b if a is None else a + b


def bounded_by_tenant(counts: Mapping[tuple[str, str], Any], cap: int) -> dict[tuple[str, str], Any]:
    """Per-``(tenant, queue)`` counts with at most ``cap`` tenants named: those of the most demand
    (waiting + running over all queues; ties by slug), the others added up per queue as
    ``other`` (sums, the oldest age). Chosen afresh at every scrape: a tenant that drops out of
    the top (or has nothing unfinished) loses its series."""
    demand: dict[str, int] = {}
    for (tenant, _), c in counts.items():
        demand[tenant] = demand.get(tenant, 0) + c.demand
    ranked = sorted((t for t in demand if t != OTHER_TENANTS), key=lambda t: (-demand[t], t))
    named = set(ranked[:max(0, cap)])
    out: dict[tuple[str, str], Any] = {}
    for (tenant, queue), c in counts.items():
        key = (tenant if tenant in named else OTHER_TENANTS, queue)
        out[key] = _add(out.get(key), c)
    return out


def _steps_waiting() -> int:
    from atomfleet_orchestrator.workflows.stats import steps_waiting

    return steps_waiting()


class DatabaseCollector(Collector):
    """Run counts per queue and per tenant, the outbox and waiting workflow steps, read at scrape
    time (three indexed queries). ``counts`` gives the counts per ``(tenant slug, queue)``
    (:func:`~atomfleet_orchestrator.runs.stats.tenant_counts`); the queue gauges are their sums."""

    def __init__(
        self,
        queues: Callable[[], Iterable[str]],
        counts: Callable[[], Mapping[tuple[str, str], Any]] = _tenant_counts,
        outbox: Callable[[], Callable[[], OutboxStats] | None] = outbox_stats_provider,
        steps_waiting: Callable[[], int] = _steps_waiting,
        tenant_labels: Callable[[], int] = _tenant_label_cap,
    ) -> None:
        self._queues = queues
        self._counts = counts
        self._outbox = outbox
        self._steps_waiting = steps_waiting
        self._tenant_labels = tenant_labels
        self._last_error_log = 0.0

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import connections

        up = GaugeMetricFamily(
            "atomfleet_database_metrics_up",
            "1 when the run counts and the outbox could be read from the database at this scrape.",
        )
        try:
            per_tenant = self._counts()
            provider = self._outbox()
            outbox = provider() if provider is not None else None
            waiting_steps = self._steps_waiting()
        except Exception as exc:  # database down: say so, never fail the scrape
            if time.monotonic() - self._last_error_log > 60:
                self._last_error_log = time.monotonic()
                log.warning("run counts unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        finally:
            # prometheus_client serves each scrape from a new thread: close its connection.
            connections.close_all()
        runs = GaugeMetricFamily(
            "atomfleet_queue_runs",
            "Unfinished runs of the queue in the database, by state (waiting: queued or retrying).",
            labels=["queue_name", "state"],
        )
        demand = GaugeMetricFamily(
            "atomfleet_queue_demand",
            "Runs that need a worker slot of the queue now: waiting + running (database).",
            labels=["queue_name"],
        )
        oldest = GaugeMetricFamily(
            "atomfleet_queue_oldest_run_age_seconds",
            "Age of the oldest waiting run of the queue, from its submission (0 when none waits).",
            labels=["queue_name"],
        )
        counts: dict[str, Any] = {}
        for (_, queue), c in per_tenant.items():
            counts[queue] = _add(counts.get(queue), c)
        for queue in dict.fromkeys([*self._queues(), *counts]):
            c = counts.get(queue)
            waiting, running, age = (c.waiting, c.running, c.oldest_waiting_age_seconds) if c else (0, 0, 0.0)
            runs.add_metric([queue, "waiting"], waiting)
            runs.add_metric([queue, "running"], running)
            demand.add_metric([queue], waiting + running)
            oldest.add_metric([queue], age)
        yield from (runs, demand, oldest)
        yield from self._tenant_families(per_tenant)
        steps = GaugeMetricFamily(
            "atomfleet_workflow_steps_waiting",
            "Steps of running workflows waiting on their parents (database).",
        )
        steps.add_metric([], waiting_steps)
        yield steps
        if outbox is not None:
            waiting_family = GaugeMetricFamily("atomfleet_outbox_waiting", "Runs accepted, not yet dispatched.")
            waiting_family.add_metric([], outbox.waiting)
            oldest_family = GaugeMetricFamily(
                "atomfleet_outbox_oldest_age_seconds",
                "Age of the oldest run waiting for dispatch (0 when none).",
            )
            oldest_family.add_metric([], outbox.oldest_age_seconds or 0.0)
            yield from (waiting_family, oldest_family)
        up.add_metric([], 1)
        yield up


    def _tenant_families(self, per_tenant: Mapping[tuple[str, str], Any]) -> Iterator[GaugeMetricFamily]:
        """Only the ``(tenant, queue)`` pairs with unfinished runs: a tenant whose runs all ended,
        or that dropped out of the named ones, has no series from this scrape on."""
        cap = "the ATOMFLEET_METRICS_TENANT_LABELS tenants of most demand are named, the rest are other"
        waiting = GaugeMetricFamily(
            "atomfleet_tenant_runs_waiting",
            f"Runs of the tenant waiting for a worker slot of the queue: queued or retrying and due (database; {cap}).",
            labels=["tenant", "queue_name"],
        )
        running = GaugeMetricFamily(
            "atomfleet_tenant_runs_running",
            f"Runs of the tenant holding a worker slot of the queue (database; {cap}).",
            labels=["tenant", "queue_name"],
        )
        oldest = GaugeMetricFamily(
            "atomfleet_tenant_oldest_waiting_age_seconds",
            f"Age of the tenant's oldest waiting run of the queue (0 when none waits; {cap}).",
            labels=["tenant", "queue_name"],
        )
        bounded = bounded_by_tenant(per_tenant, self._tenant_labels())
        for (tenant, queue), c in sorted(bounded.items()):
            waiting.add_metric([tenant, queue], c.waiting)
            running.add_metric([tenant, queue], c.running)
            oldest.add_metric([tenant, queue], c.oldest_waiting_age_seconds)
        yield from (waiting, running, oldest)


def build_fleet_registry(app: Any) -> CollectorRegistry:
    """Beat's registry: its own counters + Redis gauges + database gauges."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    stats = RedisQueueStats.from_app(app)
    registry.register(QueueCollector(stats, declared_queues))
    registry.register(WorkerUpCollector(stats))
    registry.register(DatabaseCollector(declared_queues))
    return registry


def start_fleet_metrics(app: Any) -> None:
    """Serve beat's ``/metrics`` on ``ATOMFLEET_METRICS_PORT`` (0: off); call once, after
    ``django.setup()``, before beat publishes anything. Idempotent."""
    global _server
    with _lock:
        if _server is not None:
            return
        path = wipe_multiproc_dir("beat")
        precreate_publisher(publisher_hostname(), registered_routes() or [])
        precreate_reconciler_actions()
        precreate_workflow_series()
        port = metrics_port()
        if not port:
            _server = False
            return
        try:
            _server = start_http_server(port, metrics_host(), registry=build_fleet_registry(app))
        except OSError as exc:  # the maintenance must run anyway
            log.error("cannot serve fleet metrics on port %d: %s", port, exc)
            _server = False
            return
        log.info("fleet metrics on %s:%d/metrics (multiprocess folder %s)", metrics_host(), port, path)
