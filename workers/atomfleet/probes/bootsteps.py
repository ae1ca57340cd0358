"""Worker side of the probes: a consumer bootstep and a helper thread.

- The :class:`ConsumerProbes` bootstep starts after the task consumer (``Tasks`` step). Its timer
  runs inside the consumer's event loop and, at every tick, refreshes the liveness file and sets
  or clears the readiness file according to whether the task consumer has queues to consume.
- On a broker connection loss Celery restarts the consumer blueprint: ``stop`` clears readiness,
  and the reconnect runs outside the event loop, so the :class:`_Keeper` thread refreshes liveness
  while the phase is not ``consuming`` (the broker being down is not a reason to restart the pod).
  After reconnecting, ``start`` runs again and the next tick sets readiness again.
- While the phase is ``consuming`` only the loop refreshes liveness: a blocked loop goes stale.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Celery, bootsteps, signals

from atomfleet.probes import _files

log = logging.getLogger(__name__)

__all__ = ["ConsumerProbes", "install"]


class _Phase:
    STARTING = "starting"
    CONSUMING = "consuming"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


class _ProbeState:
    def __init__(self) -> None:
        self.phase = _Phase.STARTING
        self.ready = False
        self.keeper: _Keeper | None = None


_state = _ProbeState()


def _set_ready(ready: bool) -> None:
    if ready == _state.ready:
        return
    if ready:
        _files.touch(_files.readiness_path(), "consuming\n")
    else:
        _files.remove(_files.readiness_path())
    _state.ready = ready
    log.info("worker readiness: %s", "ready" if ready else "not ready")


class _Keeper(threading.Thread):
    """Refreshes liveness while the worker is legitimately outside its consumer loop."""

    def __init__(self) -> None:
        super().__init__(name="atomfleet-probe-keeper", daemon=True)
        self.stop_event = threading.Event()

    def run(self) -> None:
        interval = _files.tick_interval()
        while not self.stop_event.wait(interval):
            if _state.phase != _Phase.CONSUMING:
                try:
                    _files.touch(_files.liveness_path(), f"{_state.phase}\n")
                except OSError as exc:  # pragma: no cover - read-only /tmp would be a chart bug
                    log.warning("cannot refresh liveness file: %s", exc)


def _consuming(c: Any) -> bool:
    consumer = getattr(c, "task_consumer", None)
    return bool(getattr(c, "connection", None) and consumer is not None and consumer.queues)


class ConsumerProbes(bootsteps.StartStopStep):
    """Consumer bootstep: liveness from the event loop, readiness from consumption."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    label = "atomfleet probes"

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self.tref: Any = None

    def start(self, c: Any) -> None:
        _state.phase = _Phase.CONSUMING
        self._tick(c)
        self.tref = c.timer.call_repeatedly(_files.tick_interval(), self._tick, (c,), priority=0)

    def _tick(self, c: Any) -> None:
        _files.touch(_files.liveness_path(), f"{_state.phase} {time.time():.3f}\n")
        # A soft shutdown keeps the loop (and this timer) running after worker_shutting_down.
        _set_ready(_state.phase == _Phase.CONSUMING and _consuming(c))

    def _cancel(self) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def stop(self, c: Any) -> None:
        # Blueprint restart after a connection loss, or the beginning of a shutdown.
        self._cancel()
        if _state.phase == _Phase.CONSUMING:
            _state.phase = _Phase.RECONNECTING
        _set_ready(False)

    def shutdown(self, c: Any) -> None:
        self._cancel()
        _state.phase = _Phase.STOPPED
        _set_ready(False)


def _on_worker_init(**_: Any) -> None:
    # /tmp outlives container restarts within a pod: never trust files from a previous run.
    _files.remove(_files.readiness_path())
    _state.ready = False
    _state.phase = _Phase.STARTING
    _files.touch(_files.liveness_path(), f"{_Phase.STARTING}\n")
    if _state.keeper is None:
        _state.keeper = _Keeper()
        _state.keeper.start()


def _on_worker_shutting_down(**_: Any) -> None:
    _state.phase = _Phase.STOPPED
    _set_ready(False)


def _on_worker_shutdown(**_: Any) -> None:
    _state.phase = _Phase.STOPPED
    _set_ready(False)
    if _state.keeper is not None:
        _state.keeper.stop_event.set()
        _state.keeper = None


def install(app: Celery) -> None:
    if ConsumerProbes not in app.steps["consumer"]:
        app.steps["consumer"].add(ConsumerProbes)
    signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="atomfleet.probes.init")
    signals.worker_shutting_down.connect(
        _on_worker_shutting_down, weak=False, dispatch_uid="atomfleet.probes.shutting_down"
    )
    signals.worker_shutdown.connect(
        _on_worker_shutdown, weak=False, dispatch_uid="atomfleet.probes.shutdown"
    )
