"""Start-up checks of a worker process that need the worker (its queues, its shutdown settings).

Connected to ``celery.signals.worker_init`` by :func:`install_worker_checks` (called from
``atomfleet_orchestrator.celery``). Celery logs and
swallows exceptions raised by signal handlers, so a failed check exits the process
(``SystemExit``): Kubernetes shows the message in the container's last state and restarts it.

The pod tells the worker its grace period (the chart sets ``ATOMFLEET_TERMINATION_GRACE_SECONDS``
to the pod's ``terminationGracePeriodSeconds``); without it (a local worker) nothing is checked.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import signals
from django.conf import settings

from atomfleet.catalog import CATALOG, ShutdownBudget, check_grace_period
from atomfleet.errors import ConfigurationError

__all__ = ["GRACE_ENV", "check_worker_shutdown_budget", "install_worker_checks", "shutdown_budget"]

GRACE_ENV = "ATOMFLEET_TERMINATION_GRACE_SECONDS"
log = logging.getLogger(__name__)


def shutdown_budget(soft_shutdown_timeout: float, environ: dict[str, str] | None = None) -> ShutdownBudget | None:
    """The pod's budget from the environment, or None when no grace period is declared."""
    env = os.environ if environ is None else environ
    raw = env.get(GRACE_ENV, "").strip()
    if not raw:
        return None
    try:
        grace = int(raw)
    except ValueError:
        raise ConfigurationError(f"{GRACE_ENV} must be a whole number of seconds, got {raw!r}") from None
    # SIGTERM starts a soft shutdown only when remapped to SIGQUIT (Celery 5.5 soft shutdown).
    soft = env.get("REMAP_SIGTERM", "").strip().upper() == "SIGQUIT"
    return ShutdownBudget(grace, float(soft_shutdown_timeout) if soft else None)


def check_worker_shutdown_budget(sender: Any = None, **_: Any) -> None:
    """worker_init: refuse to start when the grace period cannot cover the consumed queues' atoms."""
    app = sender.app
    queues = set(app.amqp.queues.consume_from or app.amqp.queues)
    try:
        budget = shutdown_budget(settings.ATOMFLEET_SOFT_SHUTDOWN_TIMEOUT)
        if budget is not None:
            check_grace_period(CATALOG, queues, budget)
    except ConfigurationError as exc:
        log.critical("worker refuses to start: %s", exc)
        raise SystemExit(f"atomfleet worker refuses to start: {exc}") from None


def install_worker_checks(app: Any) -> None:
    """Run the checks in every worker of ``app`` (they need the worker's queues)."""

    def on_worker_init(sender: Any = None, **kwargs: Any) -> None:
        if sender is not None and sender.app is app:
            check_worker_shutdown_budget(sender, **kwargs)

    signals.worker_init.connect(on_worker_init, weak=False)
