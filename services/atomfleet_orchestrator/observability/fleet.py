"""Beat's ``/metrics``: the one exporter of the fleet-wide gauges.

Beat is a single replica (Recreate strategy), so a gauge it exports exists exactly once: ``sum``
and ``max`` over it both give the true value, and dashboards written for one exporter (celery-
exporter's) add nothing twice. It serves, on ``ATOMFLEET_METRICS_PORT``:

- from Redis: ``celery_queue_length``, ``atomfleet_queue_backlog``, ``atomfleet_queue_prefetched``,
  ``atomfleet_queue_oldest_age_seconds`` for every declared queue, ``atomfleet_queue_metrics_up``,
  and ``celery_worker_up{hostname}`` from the workers' reports;
- from the database: ``atomfleet_queue_runs{queue_name,state}`` (waiting, running),
  ``atomfleet_queue_demand`` (their sum: what the autoscaler scales on),
  ``atomfleet_queue_oldest_run_age_seconds``, the outbox gauges and ``atomfleet_database_metrics_up``;
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
    OutboxStats,
    outbox_stats_provider,
    precreate_reconciler_actions,
    precreate_workflow_series,
    registered_routes,
)

log = logging.getLogger(__name__)

__all__ = ["DatabaseCollector", "build_fleet_registry", "start_fleet_metrics"]

_lock = threading.Lock()
_server: Any = None


def _queue_counts() -> Mapping[str, Any]:
    from atomfleet_orchestrator.runs.stats import queue_counts

    return queue_counts()


def _steps_waiting() -> int:
    from atomfleet_orchestrator.workflows.stats import steps_waiting

    return steps_waiting()


class DatabaseCollector(Collector):
    """Run counts per queue and the outbox, read at scrape time (two indexed queries)."""

    def __init__(
        self,
        queues: Callable[[], Iterable[str]],
        counts: Callable[[], Mapping[str, Any]] = _queue_counts,
        outbox: Callable[[], Callable[[], OutboxStats] | None] = outbox_stats_provider,
        steps_waiting: Callable[[], int] = _steps_waiting,
    ) -> None:
        self._queues = queues
        self._counts = counts
        self._outbox = outbox
        self._steps_waiting = steps_waiting
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
            counts = self._counts()
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
        for queue in dict.fromkeys([*self._queues(), *counts]):
            c = counts.get(queue)
            waiting, running, age = (c.waiting, c.running, c.oldest_waiting_age_seconds) if c else (0, 0, 0.0)
            runs.add_metric([queue, "waiting"], waiting)
            runs.add_metric([queue, "running"], running)
            demand.add_metric([queue], waiting + running)
            oldest.add_metric([queue], age)
        yield from (runs, demand, oldest)
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
