"""Prometheus metrics of atomfleet workers (prefork-safe multiprocess mode).

Importing this package sets ``PROMETHEUS_MULTIPROC_DIR`` (default ``/tmp/atomfleet-metrics``) and
makes every metric value a multiprocess value with bounded file names (see ``_process``), so it
must be imported before any metric is created. Entry points:

- :func:`install_worker_metrics` — call where the Celery app is built.
- :func:`record_run_finished` — called by the atom task when a run ends.
- :func:`build_worker_registry` — the registry a worker serves (tests, bench).
"""

from atomfleet.metrics._env import ensure_multiproc_dir

ensure_multiproc_dir()

from atomfleet.metrics._process import install_value_class  # noqa: E402

install_value_class()

from atomfleet.metrics._redis import QueueStats, RedisQueueStats  # noqa: E402
from atomfleet.metrics.install import (  # noqa: E402
    OUTCOMES,
    build_worker_registry,
    install_worker_metrics,
    record_message_ignored,
    record_run_finished,
    record_superseded,
)

__all__ = [
    "OUTCOMES",
    "QueueStats",
    "RedisQueueStats",
    "build_worker_registry",
    "install_worker_metrics",
    "record_message_ignored",
    "record_run_finished",
    "record_superseded",
]
