"""Celery settings (read by the app through the CELERY_ namespace).

Choices follow docs/architecture.md, docs/lifecycle.md and the delivery facts in
shared/reference/celery-on-kubernetes.md: JSON only, explicit queues, one message per free slot,
visibility timeout above every hard limit (checked at start-up), bounded publish retries, and no
result backend — the run's row is the record of its outcome.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from atomfleet.queues import SERVICE_QUEUES, celery_queues
from atomfleet_orchestrator.envconfig import env_bool, env_float, env_int, env_str
from atomfleet_orchestrator.settings.events import ATOMFLEET_EVENT_PRUNE_INTERVAL
from atomfleet_orchestrator.settings.fleet import (
    ATOMFLEET_DISPATCH_INTERVAL,
    ATOMFLEET_QUEUES,
    ATOMFLEET_RECONCILE_INTERVAL,
)
from atomfleet_orchestrator.settings.webhooks import ATOMFLEET_WEBHOOK_INTERVAL


def broker_url_from_redis_url(redis_url: str) -> str:
    """The broker's URL from ``REDIS_URL``: database 0 unless the URL names one (``.../3``).

    Both forms the docs show work: ``redis://redis:6379`` and ``redis://redis:6379/0``; a query
    (``?ssl_cert_reqs=required``) stays after the path. Any other path is refused at start-up.
    """
    parts = urlsplit(redis_url.strip())
    database = parts.path.strip("/") or "0"
    if not database.isdigit():
        raise ImproperlyConfigured(
            f"REDIS_URL must be redis[s]://[:password@]host:port[/database number], got path "
            f"{parts.path!r}: remove it, or set ATOMFLEET_BROKER_URL to the broker's full URL"
        )
    return parts._replace(path=f"/{database}").geturl()


CELERY_BROKER_URL = env_str("ATOMFLEET_BROKER_URL", "") or broker_url_from_redis_url(
    env_str("REDIS_URL", "redis://127.0.0.1:6379")
)
ATOMFLEET_VISIBILITY_TIMEOUT = env_int("ATOMFLEET_VISIBILITY_TIMEOUT", 43200, minimum=60)

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": ATOMFLEET_VISIBILITY_TIMEOUT,
    # Guard against half-open sockets (celery#9705).
    "socket_timeout": 30,
    "socket_connect_timeout": 5,
    "health_check_interval": 25,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# The API publishes on commit through a connection of its own (runs/dispatch.py) whose connect and
# socket timeouts are this, and all the publishes of one request (a batch) share this budget: a
# broker that accepts connections and never answers costs a request at most about twice this,
# and the runs it could not publish wait in the outbox. (The 30 s socket timeout above is the
# workers' and beat's: a consumer's connection waits for messages.)
ATOMFLEET_API_PUBLISH_TIMEOUT = env_float("ATOMFLEET_API_PUBLISH_TIMEOUT", 1.0, minimum=0.05)

CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# No result backend: outcomes, progress and start times are in the run's row.
CELERY_TASK_IGNORE_RESULT = True

# The atom queues, and the service queues no atom may use (webhooks: docs/events.md).
CELERY_TASK_QUEUES = celery_queues(ATOMFLEET_QUEUES + SERVICE_QUEUES)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_CREATE_MISSING_QUEUES = False
# The API must answer quickly when the broker is down: the outbox sends the run later.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.25,
    "interval_max": 0.5,
}
# Task events feed Flower (and celery-exporter's event-based mode); atomfleet's own metrics are
# in-process. They cost three Redis PUBLISHes a task, so they are on only when something listens:
# the chart turns them on with Flower.
ATOMFLEET_TASK_EVENTS = env_bool("ATOMFLEET_TASK_EVENTS", False)
CELERY_TASK_SEND_SENT_EVENT = ATOMFLEET_TASK_EVENTS
CELERY_WORKER_SEND_TASK_EVENTS = ATOMFLEET_TASK_EVENTS
# Celery's Django fixup closes the database connection around every task unless this is set;
# then a pool process keeps it for this many tasks (docs/performance.md).
CELERY_DB_REUSE_MAX = env_int("ATOMFLEET_DB_REUSE_MAX", 200, minimum=0)

# Long tasks: a worker fetches a message only for a free pool slot (Redis, Celery >= 5.6), so no
# message waits in a worker where a crash would strand it until the visibility timeout.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Set false (with --prefetch-multiplier above 1) only for floods of tiny runs; messages a lost
# worker had prefetched are then recovered by the dispatch deadline (docs/lifecycle.md).
CELERY_WORKER_DISABLE_PREFETCH = env_bool("ATOMFLEET_WORKER_DISABLE_PREFETCH", True)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_REDIRECT_STDOUTS = False
# A broker blip must not kill running work: the claim already guarantees one execution per
# attempt, so the copy Redis may redeliver later is ignored.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Soft shutdown window (chart shutdown.mode soft, with REMAP_SIGTERM=SIGQUIT): SIGTERM gives the
# running tasks up to this long, then requeues them. atomfleet's SoftShutdown worker step runs it
# from the event loop and stops as soon as no task is left (soft_shutdown.py); Celery's own soft
# wait sleeps the whole window inside the signal handler, idle or busy, so it stays off.
ATOMFLEET_SOFT_SHUTDOWN_TIMEOUT = float(env_int("ATOMFLEET_SOFT_SHUTDOWN_TIMEOUT", 0, minimum=0))
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 0.0
CELERY_WORKER_ENABLE_SOFT_SHUTDOWN_ON_IDLE = False

# Beat runs the maintenance jobs in its own process (see services/orchestrator/beat.py): they are
# never queued behind long runs.
CELERY_BEAT_SCHEDULER = "atomfleet_orchestrator.beat:MaintenanceScheduler"
CELERY_BEAT_SCHEDULE = {
    "dispatch-outbox": {
        "task": "atomfleet.maintenance.dispatch_outbox",
        "schedule": float(ATOMFLEET_DISPATCH_INTERVAL),
    },
    "reconcile-runs": {
        "task": "atomfleet.maintenance.reconcile",
        "schedule": float(ATOMFLEET_RECONCILE_INTERVAL),
    },
    "prune-events": {
        "task": "atomfleet.maintenance.prune_events",
        "schedule": float(ATOMFLEET_EVENT_PRUNE_INTERVAL),
    },
    # Fan events out to webhook deliveries, publish the due ones to the `webhooks` queue.
    "webhooks": {
        "task": "atomfleet.maintenance.webhooks",
        "schedule": float(ATOMFLEET_WEBHOOK_INTERVAL),
    },
}
