"""Prometheus metrics of atomfleet workers (prefork-safe multiprocess mode).

Importing this package sets ``PROMETHEUS_MULTIPROC_DIR`` (default ``/tmp/atomfleet-metrics``) and
makes every metric value a multiprocess value with bounded file names (see ``_process``), so it
must be imported before any metric is created. Entry points:

- :func:`install_worker_metrics` — call where the Celery app is built.
- :func:`record_run_finished` — called by the atom task when a run ends.
- :func:`build_worker_registry` — the registry a worker serves (tests, bench).
- :func:`precreate_publisher` — a scraped publisher (API, beat) creates its ``sent`` series at 0.
- :class:`RedisQueueStats`, :class:`QueueCollector`, :class:`WorkerUpCollector` — the fleet-wide
  gauges, served by beat only (``atomfleet_orchestrator.observability.fleet``).
"""

from atomfleet.metrics._env import ensure_multiproc_dir

ensure_multiproc_dir()

from atomfleet.metrics._process import install_value_class  # noqa: E402

install_value_class()

from atomfleet.metrics._env import declared_queues, metrics_host, metrics_port, wipe_multiproc_dir  # noqa: E402
from atomfleet.metrics._process import set_identifier  # noqa: E402
from atomfleet.metrics._redis import QueueStats, RedisQueueStats  # noqa: E402
from atomfleet.metrics._series import known_exceptions, precreate_publisher  # noqa: E402
from atomfleet.metrics.collectors import QueueCollector, WorkerUpCollector  # noqa: E402
from atomfleet.metrics.install import (  # noqa: E402
    OUTCOMES,
    build_worker_registry,
    install_worker_metrics,
    publisher_hostname,
    record_message_ignored,
    record_run_finished,
    record_superseded,
)

__all__ = [
    "OUTCOMES",
    "QueueCollector",
    "QueueStats",
    "RedisQueueStats",
    "WorkerUpCollector",
    "build_worker_registry",
    "declared_queues",
    "install_worker_metrics",
    "known_exceptions",
    "metrics_host",
    "metrics_port",
    "precreate_publisher",
    "publisher_hostname",
    "record_message_ignored",
    "record_run_finished",
    "record_superseded",
    "set_identifier",
    "wipe_multiproc_dir",
]
