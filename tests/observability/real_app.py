"""The orchestrator's real Celery app with the observability wiring the issue asks for.

Until ``services/atomfleet_orchestrator/celery.py`` calls these itself, the real-app test starts workers
with ``-A tests.observability.real_app``; both calls are idempotent, so this keeps working after.
"""

from atomfleet.metrics import install_worker_metrics
from atomfleet.probes import install_worker_probes
from atomfleet_orchestrator.celery import app

install_worker_metrics(app)
install_worker_probes(app)

__all__ = ["app"]
