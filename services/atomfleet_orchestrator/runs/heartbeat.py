"""A thread beside the running atom: refreshes the heartbeat and relays cancellation requests."""

from __future__ import annotations

import logging
import threading

from django.db import DatabaseError, connection

from atomfleet_orchestrator.runs import transitions

log = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    def __init__(self, run_id: str, task_id: str, interval: float, cancel_event: threading.Event) -> None:
        super().__init__(name=f"heartbeat-{run_id[:8]}", daemon=True)
        self.run_id, self.task_id, self.interval = run_id, task_id, interval
        self.cancel_event = cancel_event
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(self.interval):
                try:
                    if transitions.heartbeat(self.run_id, self.task_id):
                        self.cancel_event.set()
                except DatabaseError as exc:  # keep beating; the reconciler tolerates gaps
                    log.warning("heartbeat of run %s failed: %s", self.run_id, exc)
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=self.interval + 5)
