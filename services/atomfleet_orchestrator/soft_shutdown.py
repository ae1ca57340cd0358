"""Soft shutdown of a worker (chart ``shutdown.mode: soft``), run from the worker's event loop.

Celery's own soft shutdown (``REMAP_SIGTERM=SIGQUIT`` + ``worker_soft_shutdown_timeout``) calls
``WorkController.wait_for_soft_shutdown`` inside the signal handler, which ``sleep()``s the whole
window whenever a task runs — and always with ``worker_enable_soft_shutdown_on_idle``. The main
loop is blocked all that time: a finished task's result is not even read, the probes go stale, and
the pod stays Terminating for the full window (an hour on ml_training), idle or not.

Here SIGTERM only starts a drain. At the next tick of the event loop the worker stops fetching
and announces the shutdown (readiness clears); it keeps reading results, acking and refreshing
liveness, and stops warm as soon as no task is left. When the window elapses first, it sends itself
SIGQUIT: Celery's cold shutdown, which cancels what still runs and requeues it. Celery's own soft
wait is therefore off (``worker_soft_shutdown_timeout = 0``): that SIGQUIT requeues at once.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from celery import bootsteps, platforms, signals
from celery.platforms import EX_OK
from celery.worker import state

__all__ = ["SoftShutdown", "soft_shutdown_window"]

log = logging.getLogger(__name__)

#: How often the drain looks at the running tasks: the delay between a run's end and the exit.
TICK_SECONDS = 0.2


def soft_shutdown_window(environ: dict[str, str] | None = None) -> float:
    """The soft window in seconds, or 0 when SIGTERM means Celery's warm shutdown."""
    from django.conf import settings

    env = os.environ if environ is None else environ
    if env.get("REMAP_SIGTERM", "").strip().upper() != "SIGQUIT":
        return 0.0
    return float(settings.ATOMFLEET_SOFT_SHUTDOWN_TIMEOUT)


class SoftShutdown(bootsteps.StartStopStep):
    """Worker bootstep: takes over SIGTERM when a soft window is configured."""

    label = "atomfleet soft shutdown"
    requires = ("celery.worker.components:Timer",)

    def __init__(self, w: Any, **kwargs: Any) -> None:
        super().__init__(w, **kwargs)
        self.window = soft_shutdown_window()
        self.deadline: float | None = None
        self.draining = False
        self.done = False
        self.tref: Any = None

    def include_if(self, w: Any) -> bool:
        return self.window > 0

    def start(self, w: Any) -> None:
        # Celery installed its handlers in on_start (before any step starts): replace SIGTERM's.
        platforms.signals["SIGTERM"] = self._on_sigterm
        self.tref = w.timer.call_repeatedly(TICK_SECONDS, self._tick, (w,), priority=0)

    def stop(self, w: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def _on_sigterm(self, *_: Any) -> None:
        # Signal context: note the request only; the event loop acts on it within a tick.
        if self.deadline is None:
            self.deadline = time.monotonic() + self.window

    def _tick(self, w: Any) -> None:
        if self.deadline is None:
            return
        consumer = w.consumer
        if not self.draining:
            self.draining = True
            log.warning("soft shutdown: stopped consuming; %d running task(s) get up to %gs",
                        len(state.active_requests), self.window)
            signals.worker_shutting_down.send(sender=w.hostname, sig="SIGTERM", how="Soft", exitcode=EX_OK)
            if consumer is not None and consumer.task_consumer is not None:
                try:
                    consumer.task_consumer.cancel()
                except Exception as exc:  # a broker that went away: nothing will be fetched anyway
                    log.warning("soft shutdown: could not cancel the task consumer: %s", exc)
        if self.done:
            return  # the ticks go on until the loop ends: they wake it, so it sees the flag at once
        # Reserved requests include the active ones and any handed to the pool but not yet started.
        if not state.reserved_requests:
            log.info("soft shutdown: no task left; stopping")
            self.done = True
            state.should_stop = EX_OK  # Celery's warm shutdown, with nothing left to wait for
        elif time.monotonic() >= self.deadline:
            log.warning("soft shutdown: the %gs window elapsed with %d task(s) running; requeueing them",
                        self.window, len(state.reserved_requests))
            self.done = True
            os.kill(os.getpid(), signal.SIGQUIT)  # Celery's cold shutdown (no soft wait of its own)
