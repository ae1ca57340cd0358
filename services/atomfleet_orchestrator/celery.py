"""The Celery app. Workers run ``celery -A atomfleet_orchestrator worker --queues=<queue>``.

Every setting comes from Django settings (CELERY_ prefix). Only workers import atom code: when a
worker starts it loads the atom packages, checks them against the fleet's declaration — queues of
every atom declared, visibility timeout above every hard limit, a grace period that covers the
soft limits, a pool that can enforce them — and refuses to start instead of losing work. The API
and beat publish by task name and know atoms from what workers registered (``atoms.registry``).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atomfleet_orchestrator.settings")

from celery import Celery  # noqa: E402
from django.conf import settings  # noqa: E402
from django.utils.log import configure_logging  # noqa: E402

from atomfleet.metrics import install_worker_metrics  # noqa: E402
from atomfleet.probes import install_worker_probes  # noqa: E402
from atomfleet.runtime.logging import install_json_worker_output  # noqa: E402
from atomfleet_orchestrator.atoms import serving  # noqa: E402
from atomfleet_orchestrator.observability.metrics import install_worker_workflow_series  # noqa: E402
from atomfleet_orchestrator.runs.tasks import register_maintenance_tasks  # noqa: E402
from atomfleet_orchestrator.webhooks.tasks import register_webhook_tasks  # noqa: E402
from atomfleet_orchestrator.worker_checks import install_worker_checks  # noqa: E402

# Logging as Django configures it, from the start: Celery writes before django.setup() (a
# SecurityWarning at start-up), and in ATOMFLEET_LOG_FORMAT=json every line must be JSON.
configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)

app = Celery("atomfleet")
app.config_from_object("django.conf:settings", namespace="CELERY")

register_maintenance_tasks(app)
register_webhook_tasks(app)  # the `webhooks` queue's sender; beat's webhook round
# Workers: atoms loaded, registered and served (first, so everything below sees the catalog).
serving.install(app)
# Worker pods: Prometheus metrics (prefork-safe) on ATOMFLEET_METRICS_PORT and probe files.
install_worker_metrics(app)
install_worker_workflow_series(app)  # the orchestrator's own worker series, after the folder's wipe
install_worker_probes(app)
# Run leases: the main process heartbeats live executions and fences lost ones (prefork only).
app.steps["worker"].add("atomfleet_orchestrator.runs.leases:RunLeases")
# Soft shutdown mode: SIGTERM drains from the event loop and exits as soon as no task is left.
app.steps["worker"].add("atomfleet_orchestrator.soft_shutdown:SoftShutdown")
install_json_worker_output(app)  # Celery's banner and shutdown messages as JSON lines (json format)
install_worker_checks(app)  # e.g. the pod's grace period against the atoms' soft time limits
