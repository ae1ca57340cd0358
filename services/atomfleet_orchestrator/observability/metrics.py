"""Orchestrator metric objects and the registry served by the API's ``/metrics``.

Importing :mod:`atomfleet.metrics` first puts prometheus_client in multiprocess mode (gunicorn runs
several worker processes; the master wipes the folder in ``on_starting``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

import atomfleet.metrics  # noqa: F401  - multiprocess mode before any metric is created
from atomfleet.metrics._env import declared_queues
from atomfleet.metrics._redis import RedisQueueStats
from atomfleet.metrics.collectors import QueueCollector

log = logging.getLogger(__name__)

__all__ = [
    "API_REQUESTS",
    "API_REQUEST_DURATION",
    "OutboxStats",
    "RECONCILER_ACTIONS",
    "RECONCILER_ACTIONS_KEY",
    "RUNS_SUBMITTED",
    "build_api_registry",
    "configure",
    "record_reconciler_action",
    "record_run_submitted",
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
# The reconciler runs inside beat, which serves no /metrics: it counts its actions in a Redis hash
# on the broker and the API exports the totals (a counter that restarts with Redis' data).
RECONCILER_ACTIONS_KEY = "atomfleet:reconciler_actions"
RECONCILER_ACTIONS = ("redispatched", "lost_retrying", "lost_failed", "lost_cancelled")


@dataclass(frozen=True)
class OutboxStats:
    """Runs accepted but not yet published to the broker."""

    waiting: int
    oldest_age_seconds: float | None = None


class _Config:
    def __init__(self) -> None:
        self.app: Any = None
        self.broker_url: str | None = None
        self.transport_options: dict[str, Any] | None = None
        self.outbox: Callable[[], OutboxStats] | None = None
        self.registry: CollectorRegistry | None = None


_config = _Config()


def configure(
    app: Any = None, broker_url: str | None = None, transport_options: dict[str, Any] | None = None
) -> None:
    """Point the API's queue gauges at the broker (default: the current Celery app's broker)."""
    _config.app, _config.broker_url, _config.transport_options = app, broker_url, transport_options
    _config.registry = None


def set_outbox_stats_provider(provider: Callable[[], OutboxStats] | None) -> None:
    """Register the function that counts the outbox at scrape time (e.g. one indexed query)."""
    _config.outbox = provider


def record_run_submitted(atom: str, queue: str) -> None:
    RUNS_SUBMITTED.labels(atom, queue).inc()


def record_reconciler_action(action: str, count: int = 1) -> None:
    """Count reconciler actions in Redis; ``action`` must come from a fixed vocabulary (a label)."""
    if not count:
        return
    stats = _queue_stats()
    if stats is None:
        return
    try:
        stats.client.hincrby(stats.prefix + RECONCILER_ACTIONS_KEY, action, count)
    except RedisError as exc:  # a metric must never fail the reconciler
        log.warning("could not count reconciler action %s: %s", action, exc)


class ReconcilerActionsCollector(Collector):
    def __init__(self, stats: RedisQueueStats | None) -> None:
        self.stats = stats

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[CounterMetricFamily]:
        if self.stats is None:
            return
        try:
            raw = self.stats.client.hgetall(self.stats.prefix + RECONCILER_ACTIONS_KEY)
        except RedisError as exc:
            log.warning("reconciler action counts unavailable: %s", exc)
            return
        totals = {(key.decode() if isinstance(key, bytes) else key): float(value) for key, value in raw.items()}
        family = CounterMetricFamily(
            "atomfleet_reconciler_actions", "Actions taken by the reconciler, by action.", labels=["action"]
        )
        for action in sorted(set(RECONCILER_ACTIONS) | set(totals)):
            family.add_metric([action], totals.get(action, 0.0))
        yield family


class OutboxCollector(Collector):
    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        provider = _config.outbox
        if provider is None:
            return
        try:
            stats = provider()
        except Exception as exc:  # database down: the scrape still answers
            log.warning("outbox stats unavailable: %s", exc)
            return
        waiting = GaugeMetricFamily("atomfleet_outbox_waiting", "Runs accepted, not yet dispatched.")
        waiting.add_metric([], stats.waiting)
        yield waiting
        oldest = GaugeMetricFamily(
            "atomfleet_outbox_oldest_age_seconds",
            "Age of the oldest run waiting for dispatch (0 when none).",
        )
        oldest.add_metric([], stats.oldest_age_seconds or 0.0)
        yield oldest


def _queue_stats() -> RedisQueueStats | None:
    if _config.broker_url:
        return RedisQueueStats.from_broker(_config.broker_url, _config.transport_options)
    if _config.app is not None:
        return RedisQueueStats.from_app(_config.app)
    # Default: the broker of Django's settings (the Celery app reads the same CELERY_* settings).
    from django.conf import settings

    url = getattr(settings, "CELERY_BROKER_URL", None) or os.environ.get("ATOMFLEET_BROKER_URL")
    if url:
        return RedisQueueStats.from_broker(url, getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None))
    from celery import current_app

    return RedisQueueStats.from_app(current_app)


def build_api_registry() -> CollectorRegistry:
    """Multiprocess files of all gunicorn workers + queue gauges + outbox, built once per process."""
    if _config.registry is None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        stats = _queue_stats()
        registry.register(QueueCollector(stats, declared_queues))
        registry.register(ReconcilerActionsCollector(stats))
        registry.register(OutboxCollector())
        _config.registry = registry
    return _config.registry


def now() -> float:
    return time.perf_counter()
