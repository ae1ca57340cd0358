"""The orchestrator's real Celery app with the observability wiring the issue asks for.

Until ``services/orchestrator/celery.py`` calls these itself, the real-app test starts workers
with ``-A tests.observability.real_app``; both calls are idempotent, so this keeps working after.
"""

from services.orchestrator.celery import app
from workers.metrics import install_worker_metrics
from workers.probes import install_worker_probes

install_worker_metrics(app)
install_worker_probes(app)

__all__ = ["app"]
