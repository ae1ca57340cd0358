"""A worker process and its atoms: load them, register them, keep them marked as served.

- ``celeryd_init`` (before anything else of the worker): import the atom packages
  (``ATOMFLEET_ATOM_PACKAGES``, else every installed ``atomfleet.atoms`` entry point), check them
  against the fleet's declaration, and register one Celery task per atom.
- ``worker_init``: register the specs of the atoms of the consumed queues (best effort: a worker
  also starts while the database is down), then a thread marks them as served every
  ``SERVE_INTERVAL`` seconds — registering them if they are still missing — until the worker stops.

Only ``celery worker`` runs this: the API and beat never import atom code.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery, signals
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from atomfleet.catalog import CATALOG, AtomSpec, load_catalog
from atomfleet.errors import ConfigurationError
from atomfleet_orchestrator.atoms.liveness import SERVE_INTERVAL
from atomfleet_orchestrator.runs.tasks import register_atom_tasks

__all__ = ["install"]

log = logging.getLogger(__name__)


class _Announcer(threading.Thread):
    def __init__(self, specs: list[AtomSpec]) -> None:
        super().__init__(name="atomfleet-atoms-served", daemon=True)
        self.specs = specs
        self.stopped = threading.Event()

    def run(self) -> None:
        while True:
            announce(self.specs)
            if self.stopped.wait(SERVE_INTERVAL):
                return


def announce(specs: list[AtomSpec]) -> None:
    from atomfleet_orchestrator.atoms import registry  # models: Django is set up by now

    try:
        close_old_connections()
        registry.mark_served(specs)
    except DatabaseError as exc:  # the next round tries again
        log.warning("cannot mark %d atom(s) as served: %s", len(specs), exc)


class _Serving:
    def __init__(self) -> None:
        self.announcer: _Announcer | None = None

    def load(self, app: Celery) -> None:
        catalog = load_catalog(settings.ATOMFLEET_QUEUES, settings.ATOMFLEET_VISIBILITY_TIMEOUT)
        register_atom_tasks(app, catalog)

    def start(self, worker: Any) -> None:
        queues = set(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
        specs = [spec for spec in CATALOG if spec.queue in queues]
        if specs and self.announcer is None:
            self.announcer = _Announcer(specs)
            self.announcer.start()
            log.info("serving %d atom(s): %s", len(specs), ", ".join(s.name for s in specs))

    def stop(self, **_: Any) -> None:
        if self.announcer is not None:
            self.announcer.stopped.set()
            self.announcer = None


_serving = _Serving()


def install(app: Celery) -> None:
    def on_celeryd_init(**_: Any) -> None:
        try:
            _serving.load(app)
        except ConfigurationError as exc:  # Celery swallows exceptions of signal handlers
            log.critical("worker refuses to start: %s", exc)
            raise SystemExit(f"atomfleet worker refuses to start: {exc}") from None

    def on_worker_init(sender: Any = None, **_: Any) -> None:
        if sender is not None and sender.app is app:
            _serving.start(sender)

    signals.celeryd_init.connect(on_celeryd_init, weak=False, dispatch_uid="atomfleet.atoms.load")
    signals.worker_init.connect(on_worker_init, weak=False, dispatch_uid="atomfleet.atoms.serve")
    signals.worker_shutdown.connect(_serving.stop, weak=False, dispatch_uid="atomfleet.atoms.stop")
