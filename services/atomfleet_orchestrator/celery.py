"""The Celery app. Workers run ``celery -A atomfleet_orchestrator worker --queues=<queue>``.

Every setting comes from Django settings (CELERY_ prefix). Building the app also checks the fleet's
declaration — queues of every atom declared, visibility timeout above every hard limit — so a
misconfigured process refuses to start instead of losing work; a worker also refuses a pool that
cannot enforce the atoms' time limits (``runs.leases``).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atomfleet_orchestrator.settings")

from celery import Celery  # noqa: E402
from django.conf import settings  # noqa: E402

from atomfleet.catalog import load_catalog  # noqa: E402
from atomfleet.metrics import install_worker_metrics  # noqa: E402
from atomfleet.probes import install_worker_probes  # noqa: E402
from atomfleet_orchestrator.runs.tasks import register_tasks  # noqa: E402
from atomfleet_orchestrator.worker_checks import install_worker_checks  # noqa: E402

app = Celery("atomfleet")
app.config_from_object("django.conf:settings", namespace="CELERY")

catalog = load_catalog(settings.ATOMFLEET_QUEUES, settings.ATOMFLEET_VISIBILITY_TIMEOUT)
register_tasks(app, catalog)
# Worker pods: Prometheus metrics (prefork-safe) on ATOMFLEET_METRICS_PORT and probe files.
install_worker_metrics(app)
install_worker_probes(app)
# Run leases: the main process heartbeats live executions and fences lost ones (prefork only).
app.steps["worker"].add("atomfleet_orchestrator.runs.leases:RunLeases")
install_worker_checks(app)  # e.g. the pod's grace period against the atoms' soft time limits
