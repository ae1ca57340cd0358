"""Metric objects written by worker, publisher and pool-child processes (multiprocess mode).

Scrape-time gauges (queue depth, worker state) are not here: they are collectors registered on the
serving registry only (:mod:`atomfleet.metrics.collectors`), because custom collectors cannot go
through prometheus_client's multiprocess files. No label carries a run id or task id.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "QUEUE_WAIT_BUCKETS",
    "RUN_DURATION",
    "RUN_DURATION_BUCKETS",
    "RUNS",
    "RUN_MESSAGES_IGNORED",
    "SUPERSEDED_OUTCOMES",
    "TASK_FAILED",
    "TASK_QUEUE_WAIT",
    "TASK_RECEIVED",
    "TASK_REJECTED",
    "TASK_RETRIED",
    "TASK_REVOKED",
    "TASK_RUNTIME",
    "TASK_RUNTIME_BUCKETS",
    "TASK_SENT",
    "TASK_STARTED",
    "TASK_SUCCEEDED",
]

_TASK = ("name", "hostname", "queue_name")

# Celery tasks: from milliseconds (maintenance) to hours (ml_training).
TASK_RUNTIME_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    1800.0, 3600.0, 7200.0, 14400.0, float("inf"),
)
QUEUE_WAIT_BUCKETS = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0, 7200.0, 21600.0, float("inf"),
)
RUN_DURATION_BUCKETS = (
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
    7200.0, 14400.0, 28800.0, 43200.0, 86400.0, float("inf"),
)

# celery-exporter compatible names (its Grafana dashboards and alert mixin work unchanged).
TASK_SENT = Counter("celery_task_sent", "Task messages published, by the publishing host.", _TASK)
TASK_RECEIVED = Counter("celery_task_received", "Task messages received by a worker.", _TASK)
TASK_STARTED = Counter("celery_task_started", "Tasks started in a pool process.", _TASK)
TASK_SUCCEEDED = Counter("celery_task_succeeded", "Tasks that returned.", _TASK)
TASK_FAILED = Counter(
    "celery_task_failed",
    "Tasks that raised, were killed by the hard time limit or lost their pool process.",
    (*_TASK, "exception"),
)
TASK_REJECTED = Counter("celery_task_rejected", "Task messages rejected by a worker.", _TASK)
TASK_REVOKED = Counter("celery_task_revoked", "Tasks revoked (before or while running).", _TASK)
TASK_RETRIED = Counter("celery_task_retried", "Tasks that asked to be retried.", _TASK)
TASK_RUNTIME = Histogram(
    "celery_task_runtime", "Task runtime in the pool process (seconds).", _TASK,
    buckets=TASK_RUNTIME_BUCKETS,
)

# atomfleet fleet metrics.
TASK_QUEUE_WAIT = Histogram(
    "atomfleet_task_queue_wait_seconds",
    "Time from publishing a task message (header atomfleet_published_at) to its start.",
    ("name", "queue_name"),
    buckets=QUEUE_WAIT_BUCKETS,
)
RUN_DURATION = Histogram(
    "atomfleet_run_duration_seconds",
    "Duration of finished atom runs (seconds), any outcome.",
    ("atom", "queue_name"),
    buckets=RUN_DURATION_BUCKETS,
)
RUNS = Counter(
    "atomfleet_runs",
    "Finished atom runs by outcome "
    "(succeeded, failed, cancelled, retrying, worker_lost, time_limit).",
    ("atom", "queue_name", "outcome"),
)
RUN_MESSAGES_IGNORED = Counter(
    "atomfleet_run_messages_ignored",
    "Task messages that started nothing: duplicates or late copies (held, finished, not due, gone).",
    ("atom", "queue_name", "reason"),
)
SUPERSEDED_OUTCOMES = Counter(
    "atomfleet_superseded_outcomes",
    "Outcomes of executions whose run had moved on to another attempt: discarded.",
    ("atom", "queue_name"),
)
