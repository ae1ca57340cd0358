"""Environment of the metrics package: read before prometheus_client is imported.

Stdlib only. ``PROMETHEUS_MULTIPROC_DIR`` must be in the environment before the first metric value
is created in any process, so :mod:`atomfleet.metrics` calls :func:`ensure_multiproc_dir` first thing.
"""

from __future__ import annotations

import os
import shutil

DEFAULT_MULTIPROC_DIR = "/tmp/atomfleet-metrics"
DEFAULT_METRICS_PORT = 9808
DEFAULT_NEW_SERIES_DELAY = 60.0

__all__ = [
    "DEFAULT_METRICS_PORT",
    "DEFAULT_MULTIPROC_DIR",
    "declared_queues",
    "new_series_delay",
    "ensure_multiproc_dir",
    "metrics_host",
    "metrics_port",
    "wipe_multiproc_dir",
]


def ensure_multiproc_dir() -> str:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` (default ``/tmp/atomfleet-metrics``) and create the folder."""
    path = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", DEFAULT_MULTIPROC_DIR)
    os.makedirs(path, exist_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wipe_multiproc_dir(kind: str = "group") -> str:
    """Give this process group a fresh folder ``<PROMETHEUS_MULTIPROC_DIR>/<kind>-<pid>``.

    Called once by the main process of a process group (worker main process, gunicorn master)
    before it forks. Each group gets a folder of its own, so several workers or an API sharing a
    host and a ``/tmp`` (``atomfleet dev``, tests) never wipe or write each other's files; folders
    of dead groups (a previous container run in the same pod) are removed. The environment
    variable is pointed at the new folder, so forked children write there.
    """
    base = os.environ.get("ATOMFLEET_METRICS_BASE_DIR") or ensure_multiproc_dir()
    os.environ["ATOMFLEET_METRICS_BASE_DIR"] = base
    os.makedirs(base, exist_ok=True)
    for entry in os.scandir(base):
        if not entry.is_dir(follow_symlinks=False):
            continue
        _, _, pid = entry.name.rpartition("-")
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            shutil.rmtree(entry.path, ignore_errors=True)
    path = os.path.join(base, f"{kind}-{os.getpid()}")
    os.makedirs(path)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def metrics_host() -> str:
    """Address the worker's and beat's metrics servers bind (``ATOMFLEET_METRICS_HOST``): every
    interface in a pod, where Prometheus scrapes the pod IP; loopback for ``atomfleet dev``."""
    return os.environ.get("ATOMFLEET_METRICS_HOST") or "0.0.0.0"


def metrics_port() -> int:
    return int(os.environ.get("ATOMFLEET_METRICS_PORT", DEFAULT_METRICS_PORT))


def new_series_delay() -> float:
    """Seconds a label set seen for the first time stays at 0 before it counts
    (``ATOMFLEET_METRICS_NEW_SERIES_DELAY``, default 60; keep it above the scrape interval)."""
    return max(0.0, float(os.environ.get("ATOMFLEET_METRICS_NEW_SERIES_DELAY", DEFAULT_NEW_SERIES_DELAY)))


def declared_queues() -> list[str]:
    """Queues declared in ``ATOMFLEET_QUEUES`` (the one declaration shared by all processes)."""
    from atomfleet.queues import declared_queues as _declared

    return list(_declared())
