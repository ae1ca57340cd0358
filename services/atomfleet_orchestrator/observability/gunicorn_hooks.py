"""gunicorn server hooks for multiprocess metrics; import them in the gunicorn config module.

``from atomfleet_orchestrator.observability.gunicorn_hooks import on_starting, pre_fork, post_fork, child_exit``

- ``on_starting`` (master): gives the API a fresh folder under ``PROMETHEUS_MULTIPROC_DIR``.
- ``pre_fork`` (master): gives the new worker the lowest free slot number.
- ``post_fork`` (worker): names its metric files after the slot (``g0``, ``g1``, ...), so workers
  recycled by ``max_requests`` reuse files instead of adding one set per pid.
- ``child_exit`` (master): ``mark_process_dead`` for the slot's live gauges.
"""

from __future__ import annotations

import os
from typing import Any

from atomfleet.metrics import wipe_multiproc_dir

__all__ = ["child_exit", "on_starting", "post_fork", "pre_fork"]

_SLOT = "_atomfleet_metrics_slot"


def on_starting(server: Any) -> None:
    wipe_multiproc_dir("api")


def pre_fork(server: Any, worker: Any) -> None:
    used = {getattr(w, _SLOT, None) for w in getattr(server, "WORKERS", {}).values()}
    slot = next(i for i in range(len(used) + 1) if i not in used)
    setattr(worker, _SLOT, slot)


def post_fork(server: Any, worker: Any) -> None:
    from atomfleet.metrics import set_identifier

    slot = getattr(worker, _SLOT, None)
    set_identifier(f"g{slot}" if slot is not None else str(os.getpid()))


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client.multiprocess import mark_process_dead

    slot = getattr(worker, _SLOT, None)
    mark_process_dead(f"g{slot}" if slot is not None else worker.pid, os.environ["PROMETHEUS_MULTIPROC_DIR"])
