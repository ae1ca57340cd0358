"""Scrape-time collectors, registered on a serving registry next to the multiprocess collector.

Fleet-wide (one exporter: beat, so ``sum`` and ``max`` both give the true value):

- :class:`QueueCollector`: ``celery_queue_length``, ``atomfleet_queue_backlog``,
  ``atomfleet_queue_oldest_age_seconds``, ``atomfleet_queue_prefetched`` for every declared queue,
  from Redis, and ``atomfleet_queue_metrics_up``.
- :class:`WorkerUpCollector`: ``celery_worker_up{hostname}`` from the workers' reports in Redis:
  1 while a worker's report is fresh, 0 once it is stale (paused, hung, killed), gone once forgotten
  or after a clean shutdown.

Per pod (the worker's main process, from its own bookkeeping in ``celery.worker.state``):

- :class:`WorkerStateCollector`: ``celery_worker_tasks_active``, ``atomfleet_worker_slots``,
  ``atomfleet_worker_busy_slots``, ``atomfleet_worker_prefetched``.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from atomfleet.metrics._redis import PUBLISHED_AT_HEADER, RedisQueueStats

log = logging.getLogger(__name__)

__all__ = [
    "QueueCollector",
    "WorkerStateCollector",
    "WorkerUpCollector",
    "request_queue",
    "snapshot",
    "waiting_requests",
]


def snapshot(requests: weakref.WeakSet[Any]) -> list[Any]:
    """Copy a ``WeakSet`` that the event loop mutates while another thread reads it.

    Copying the underlying set of weak references is a single C-level operation under the GIL.
    """
    for _ in range(5):
        try:
            refs = requests.data.copy()  # type: ignore[attr-defined]
            break
        except RuntimeError:  # pragma: no cover - defensive
            continue
    else:  # pragma: no cover
        return []
    items = (ref() for ref in refs)
    return [item for item in items if item is not None]


def request_queue(request: Any, default: str = "unknown") -> str:
    info = getattr(request, "delivery_info", None) or {}
    return info.get("routing_key") or info.get("exchange") or default


def waiting_requests() -> list[Any]:
    """Requests this worker fetched and reserved but no pool process has accepted yet."""
    from celery.worker import state

    active = set(map(id, snapshot(state.active_requests)))
    return [r for r in snapshot(state.reserved_requests) if id(r) not in active]


def request_published_at(request: Any) -> float | None:
    data = getattr(request, "_request_dict", None) or {}
    value = data.get(PUBLISHED_AT_HEADER)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class QueueCollector(Collector):
    """Queue gauges of every declared queue, computed at scrape time from Redis."""

    def __init__(self, stats: RedisQueueStats | None, queues: Callable[[], Iterable[str]]):
        self._stats = stats
        self._queues = queues
        self._last_error_log = 0.0

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "atomfleet_queue_metrics_up",
            "1 when the queue gauges could be read from the broker at this scrape.",
        )
        if self._stats is None:
            up.add_metric([], 0)
            yield up
            return
        queues = list(self._queues())
        try:
            stats = self._stats.read(queues)
            now = time.time()  # message ages: publishers stamp with their wall clock
        except Exception as exc:  # broker down: report it, never fail the scrape
            if time.monotonic() - self._last_error_log > 60:
                self._last_error_log = time.monotonic()
                log.warning("queue metrics unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        length = GaugeMetricFamily(
            "celery_queue_length",
            "Messages in the broker lists of the queue, all priorities (prefetched ones excluded).",
            labels=["queue_name"],
        )
        backlog = GaugeMetricFamily(
            "atomfleet_queue_backlog",
            "Tasks waiting for a worker slot: broker lists of all priorities + fetched, not started.",
            labels=["queue_name"],
        )
        prefetched = GaugeMetricFamily(
            "atomfleet_queue_prefetched",
            "Messages fetched by live workers of the queue and not started yet.",
            labels=["queue_name"],
        )
        oldest = GaugeMetricFamily(
            "atomfleet_queue_oldest_age_seconds",
            "Age of the oldest waiting message of the queue (0 when none waits).",
            labels=["queue_name"],
        )
        for queue, s in stats.items():
            length.add_metric([queue], s.length)
            backlog.add_metric([queue], s.backlog)
            prefetched.add_metric([queue], s.prefetched)
            oldest.add_metric([queue], s.oldest_age(now))
        up.add_metric([], 1)
        yield from (length, backlog, prefetched, oldest, up)


class WorkerUpCollector(Collector):
    """``celery_worker_up`` of every worker that reported recently (see ``_redis`` for timings)."""

    def __init__(self, stats: RedisQueueStats | None) -> None:
        self._stats = stats
        self._last_error_log = 0.0

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self._stats is None:
            return
        try:
            now = self._stats.server_time()
            reports = self._stats.worker_reports(now)
        except Exception as exc:  # broker down: atomfleet_queue_metrics_up says so
            if time.monotonic() - self._last_error_log > 60:
                self._last_error_log = time.monotonic()
                log.warning("worker reports unavailable: %s", exc)
            return
        up = GaugeMetricFamily(
            "celery_worker_up",
            "1 while the worker's report in Redis is fresh, 0 once it is stale (paused, hung, killed).",
            labels=["hostname"],
        )
        for report in reports:
            up.add_metric([report.hostname], 1 if report.fresh(now) else 0)
        yield up


class WorkerStateCollector(Collector):
    """Liveness and saturation of this worker process group, from the main process's state."""

    def __init__(
        self,
        hostname: Callable[[], str],
        queues: Callable[[], Iterable[str]],
        slots: Callable[[], int],
    ) -> None:
        self._hostname = hostname
        self._queues = queues
        self._slots = slots

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from celery.worker import state

        host = self._hostname()
        queues = list(self._queues())
        active = snapshot(state.active_requests)
        waiting = waiting_requests()
        tasks_active = GaugeMetricFamily(
            "celery_worker_tasks_active", "Tasks running in this worker's pool.", labels=["hostname"]
        )
        tasks_active.add_metric([host], len(active))
        slots = GaugeMetricFamily(
            "atomfleet_worker_slots", "Pool processes of this worker.", labels=["queue_name", "hostname"]
        )
        busy = GaugeMetricFamily(
            "atomfleet_worker_busy_slots",
            "Pool processes of this worker running a task.",
            labels=["queue_name", "hostname"],
        )
        prefetched = GaugeMetricFamily(
            "atomfleet_worker_prefetched",
            "Messages this worker fetched and has not started.",
            labels=["queue_name", "hostname"],
        )
        default = queues[0] if len(queues) == 1 else "unknown"
        size = self._slots()
        for queue in queues:
            slots.add_metric([queue, host], size)
            busy.add_metric([queue, host], sum(1 for r in active if request_queue(r, default) == queue))
            prefetched.add_metric(
                [queue, host], sum(1 for r in waiting if request_queue(r, default) == queue)
            )
        yield from (tasks_active, slots, busy, prefetched)
