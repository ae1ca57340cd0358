"""Beat scheduler that runs the fleet's maintenance in beat's own process.

The outbox dispatcher and the reconciler must keep running when the fleet is busiest. Sent as
tasks, they would wait on the `default` queue behind long runs, with every slot taken, which is
exactly when a lost worker or a broker outage needs them. Beat is a single replica (Recreate
strategy), so running them here also guarantees one dispatcher and one reconciler at a time.
Other schedule entries are sent to their queues as usual.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry
from django.db import DatabaseError, close_old_connections

__all__ = ["IN_PROCESS_TASKS", "MaintenanceScheduler"]

log = logging.getLogger(__name__)

IN_PROCESS_TASKS = frozenset({
    "atomfleet.maintenance.dispatch_outbox", "atomfleet.maintenance.reconcile", "atomfleet.maintenance.prune_events",
    "atomfleet.maintenance.webhooks",
})


class MaintenanceScheduler(PersistentScheduler):
    def setup_schedule(self) -> None:
        import django

        from atomfleet_orchestrator.observability.fleet import start_fleet_metrics

        django.setup()  # beat runs the maintenance itself: it needs the ORM
        start_fleet_metrics(self.app)  # beat is the one exporter of the fleet-wide gauges
        super().setup_schedule()

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        if entry.task not in IN_PROCESS_TASKS:
            super().apply_entry(entry, producer=producer)
            return
        started = time.monotonic()
        close_old_connections()
        try:
            result = self.app.tasks[entry.task].run(*entry.args, **entry.kwargs)
        except Exception as exc:  # keep beating: the next round tries again
            # A database or broker outage is expected to pass: one line, not a traceback a round.
            log.warning("maintenance %s failed: %s: %s", entry.name, type(exc).__name__, exc,
                        exc_info=not isinstance(exc, DatabaseError | OSError))
        else:
            # Quiet rounds (nothing published, nothing reconciled) log at debug only.
            busy = any(v for v in (result or {}).values() if v not in (False, 0, {}))
            log.log(logging.INFO if busy else logging.DEBUG, "maintenance %s: %s (%.3fs)",
                    entry.name, result, time.monotonic() - started)
        finally:
            close_old_connections()
