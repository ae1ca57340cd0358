"""Environment of the metrics package: read before prometheus_client is imported.

Stdlib only. ``PROMETHEUS_MULTIPROC_DIR`` must be in the environment before the first metric value
is created in any process, so :mod:`workers.metrics` calls :func:`ensure_multiproc_dir` first thing.
"""

from __future__ import annotations

import contextlib
import os
import shutil

DEFAULT_MULTIPROC_DIR = "/tmp/atomfleet-metrics"
DEFAULT_METRICS_PORT = 9808

__all__ = [
    "DEFAULT_METRICS_PORT",
    "DEFAULT_MULTIPROC_DIR",
    "declared_queues",
    "ensure_multiproc_dir",
    "metrics_port",
    "wipe_multiproc_dir",
]


def ensure_multiproc_dir() -> str:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` (default ``/tmp/atomfleet-metrics``) and create the folder."""
    path = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", DEFAULT_MULTIPROC_DIR)
    os.makedirs(path, exist_ok=True)
    return path


def wipe_multiproc_dir() -> str:
    """Empty the multiprocess folder: only the main process of a process group, at start."""
    path = ensure_multiproc_dir()
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    return path


def metrics_port() -> int:
    return int(os.environ.get("ATOMFLEET_METRICS_PORT", DEFAULT_METRICS_PORT))


def declared_queues() -> list[str]:
    """Queues declared in ``ATOMFLEET_QUEUES`` (the one declaration shared by all processes)."""
    from workers.queues import declared_queues as _declared

    return list(_declared())
