"""Wiring of the worker metrics into a Celery app: signals, identifiers, the /metrics server."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from typing import Any

from celery import Celery, signals
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from atomfleet.metrics import definitions as m
from atomfleet.metrics._env import metrics_host, metrics_port, new_series_delay, wipe_multiproc_dir
from atomfleet.metrics._process import current_identifier, set_identifier
from atomfleet.metrics._redis import PUBLISHED_AT_HEADER, RedisQueueStats
from atomfleet.metrics._reporter import WorkerReporter
from atomfleet.metrics._series import (
    ATOM_TASK_PREFIX,
    OUTCOMES,
    is_known,
    precreate_worker,
    record_run_finished,
)
from atomfleet.metrics._series import child as _child
from atomfleet.metrics.collectors import WorkerStateCollector

log = logging.getLogger(__name__)

__all__ = [
    "OUTCOMES",
    "build_worker_registry",
    "install_worker_metrics",
    "publisher_hostname",
    "record_message_ignored",
    "record_run_finished",
    "record_superseded",
]


class _State:
    """What the handlers need; set in the main process before the pool forks."""

    def __init__(self) -> None:
        self.app: Celery | None = None
        self.hostname = socket.gethostname()
        self.worker: Any = None
        self.consumed: list[str] = []
        self.stats: RedisQueueStats | None = None
        self.reporter: WorkerReporter | None = None
        self.server: Any = None
        self.started: dict[str, float] = {}  # task id -> perf_counter start, while running
        # (task id, exception) failures already counted by the main process (bounded, see below)
        self.main_failures: OrderedDict[tuple[str, str], None] = OrderedDict()
        # First increments of label sets new to this process, counted after a delay (see _count).
        self.deferred: dict[int, Any] = {}
        self.deferred_lock = threading.Lock()


_state = _State()


def publisher_hostname() -> str:
    """The ``hostname`` label of what this process publishes (pod name; Celery node in workers)."""
    return _state.hostname


def _count(metric: Any, *labels: str) -> None:
    """Increment in the worker's main process; a label set not known in advance (a rejected
    message naming an unregistered task) is exported at 0 first and counted ``new_series_delay()``
    seconds later, so that ``increase()`` over a scrape before and one after sees its first event.
    """
    delay = new_series_delay()
    if is_known(metric, *labels) or not delay:
        _child(metric, *labels).inc()
        return
    counter = _child(metric, *labels)  # exported at 0 from the next scrape on
    timer: threading.Timer

    def fire() -> None:
        with _state.deferred_lock:
            pending = _state.deferred.pop(id(timer), None)
        if pending is not None:
            pending.inc()

    timer = threading.Timer(delay, fire)
    timer.daemon = True
    with _state.deferred_lock:
        _state.deferred[id(timer)] = counter
    timer.start()


def _flush_deferred() -> None:
    """Count every deferred first increment now (the worker is shutting down)."""
    with _state.deferred_lock:
        pending = list(_state.deferred.values())
        _state.deferred.clear()
    for counter in pending:
        counter.inc()


def record_message_ignored(atom: str, queue: str, reason: str) -> None:
    _child(m.RUN_MESSAGES_IGNORED, atom, queue, reason).inc()


def record_superseded(atom: str, queue: str) -> None:
    _child(m.SUPERSEDED_OUTCOMES, atom, queue).inc()


def _default_queue() -> str:
    return _state.consumed[0] if len(_state.consumed) == 1 else "unknown"


def _queue_of(request: Any) -> str:
    info = getattr(request, "delivery_info", None) or {}
    return info.get("routing_key") or info.get("exchange") or _default_queue()


def build_worker_registry(with_worker_state: bool = True) -> CollectorRegistry:
    """Registry served by the worker main process: multiprocess files + this pod's state.

    Fleet-wide gauges (queue length, backlog, ``celery_worker_up``) are beat's, not the worker's.
    """
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    if with_worker_state:
        registry.register(
            WorkerStateCollector(
                hostname=lambda: _state.hostname,
                queues=lambda: _state.consumed,
                slots=_pool_size,
            )
        )
    return registry


def _pool_size() -> int:
    worker = _state.worker
    pool = getattr(worker, "pool", None)
    size = getattr(pool, "num_processes", None)
    if isinstance(size, int):
        return size
    return int(getattr(worker, "concurrency", 0) or 0)


# Publisher side (any process that publishes: API, beat, workers) --------------------------------


def _before_task_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    # The orchestrator stamps each message; stamp what it did not publish, and re-stamp retries
    # (they copy the original headers) so wait times start at the latest publish.
    if headers is None:
        return
    if PUBLISHED_AT_HEADER not in headers or headers.get("retries"):
        headers[PUBLISHED_AT_HEADER] = time.time()


def _after_task_publish(
    sender: str | None = None, routing_key: str | None = None, exchange: str | None = None, **_: Any
) -> None:
    _child(m.TASK_SENT, sender or "unknown", _state.hostname, routing_key or exchange or "unknown").inc()


# Worker main process --------------------------------------------------------------------------


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    worker = sender
    _state.worker = worker
    _state.hostname = getattr(worker, "hostname", _state.hostname)
    app = getattr(worker, "app", None) or _state.app
    consume_from = app.amqp.queues.consume_from if app is not None else None
    if consume_from is None and app is not None:
        consume_from = app.amqp.queues
    _state.consumed = list(consume_from or [])
    set_identifier("main")
    path = wipe_multiproc_dir("worker")
    # Every known label set at 0 before the pool forks and before the first message arrives.
    created = precreate_worker(_state.hostname, _state.consumed)
    log.debug("worker metrics: %d label sets created at 0", created)
    if app is not None:
        _state.stats = RedisQueueStats.from_app(app)
    port = metrics_port()
    if port:
        try:
            _state.server = start_http_server(port, metrics_host(), registry=build_worker_registry())
            log.info("worker metrics on %s:%d/metrics (multiprocess folder %s)", metrics_host(), port, path)
        except OSError as exc:
            log.error("cannot serve worker metrics on port %d: %s", port, exc)
    if _state.stats is not None:
        _state.reporter = WorkerReporter(_state.stats, _state.hostname, lambda: _state.consumed)
        _state.reporter.start()


def _on_worker_shutdown(**_: Any) -> None:
    _flush_deferred()
    if _state.reporter is not None:
        _state.reporter.stop()
        _state.reporter = None
    if _state.server is not None:
        server, _thread = _state.server
        server.shutdown()
        server.server_close()
        _state.server = None


def _on_task_received(request: Any = None, **_: Any) -> None:
    _child(m.TASK_RECEIVED, request.name, _state.hostname, _queue_of(request)).inc()


def _on_task_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    name = getattr(sender, "name", None) or getattr(request, "task", None) or "unknown"
    _child(m.TASK_REVOKED, name, _state.hostname, _queue_of(request)).inc()


def _on_task_rejected(message: Any = None, **_: Any) -> None:
    headers = getattr(message, "headers", None) or {}
    _count(m.TASK_REJECTED, headers.get("task", "unknown"), _state.hostname, _queue_of(message))


def _on_task_unknown(message: Any = None, name: str | None = None, **_: Any) -> None:
    # An unregistered task name: the message is rejected and counted as such.
    _count(m.TASK_REJECTED, name or "unknown", _state.hostname, _queue_of(message))


# Pool child (and main process for hard time limits / lost children) --------------------------


def _on_worker_process_init(**_: Any) -> None:
    from billiard.process import current_process

    index = getattr(current_process(), "index", None)
    if isinstance(index, int):
        set_identifier(f"c{index}")


def _on_worker_process_shutdown(**_: Any) -> None:
    # Only live* gauge files are per process; counters and histograms of the slot are kept.
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        mark_process_dead(current_identifier(), path)


def _on_task_prerun(sender: Any = None, task_id: str | None = None, task: Any = None, **_: Any) -> None:
    task = task or sender
    queue = _queue_of(task.request)
    _child(m.TASK_STARTED, task.name, _state.hostname, queue).inc()
    published_at = getattr(task.request, PUBLISHED_AT_HEADER, None)
    if published_at is not None:
        try:
            wait = max(0.0, time.time() - float(published_at))
        except (TypeError, ValueError):
            wait = None
        if wait is not None:
            _child(m.TASK_QUEUE_WAIT, task.name, queue).observe(wait)
    if task_id is not None:
        _state.started[task_id] = time.perf_counter()


def _on_task_postrun(sender: Any = None, task_id: str | None = None, task: Any = None, **_: Any) -> None:
    task = task or sender
    started = _state.started.pop(task_id, None) if task_id is not None else None
    if started is not None:
        _child(m.TASK_RUNTIME, task.name, _state.hostname, _queue_of(task.request)).observe(
            time.perf_counter() - started
        )


def _on_task_success(sender: Any = None, **_: Any) -> None:
    _child(m.TASK_SUCCEEDED, sender.name, _state.hostname, _queue_of(sender.request)).inc()


def _first_report_in_main(task_id: str | None, exc_name: str) -> bool:
    """False for a repeated ``task_failure`` of the same task in the main process.

    Celery 5.7 sends ``task_failure`` twice for a hard time limit (``Request.on_timeout`` and
    ``Request.on_failure`` both fire); a small bounded memory of task ids counts it once.
    """
    if task_id is None:
        return True
    key = (task_id, exc_name)
    if key in _state.main_failures:
        return False
    _state.main_failures[key] = None
    while len(_state.main_failures) > 1024:
        _state.main_failures.popitem(last=False)
    return True


def _on_task_failure(
    sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, **_: Any
) -> None:
    name = getattr(sender, "name", "unknown")
    queue = _queue_of(getattr(sender, "request", None))
    exc_name = type(exception).__name__ if exception is not None else "unknown"
    if current_identifier() == "main" and not _first_report_in_main(task_id, exc_name):
        return
    if current_identifier() == "main":
        _count(m.TASK_FAILED, name, _state.hostname, queue, exc_name)
    else:  # a pool child may exit right after the task: count now
        _child(m.TASK_FAILED, name, _state.hostname, queue, exc_name).inc()
    # A child killed by the hard time limit, or lost, cannot report its run: the main process does.
    if current_identifier() == "main" and name.startswith(ATOM_TASK_PREFIX):
        outcome = {"TimeLimitExceeded": "time_limit", "WorkerLostError": "worker_lost"}.get(exc_name)
        if outcome is not None:
            record_run_finished(name[len(ATOM_TASK_PREFIX) :], queue, outcome, None)


def _on_task_retry(sender: Any = None, request: Any = None, **_: Any) -> None:
    _child(m.TASK_RETRIED, sender.name, _state.hostname, _queue_of(request)).inc()


_HANDLERS = (
    (signals.before_task_publish, _before_task_publish),
    (signals.after_task_publish, _after_task_publish),
    (signals.worker_init, _on_worker_init),
    (signals.worker_shutdown, _on_worker_shutdown),
    (signals.task_received, _on_task_received),
    (signals.task_revoked, _on_task_revoked),
    (signals.task_rejected, _on_task_rejected),
    (signals.task_unknown, _on_task_unknown),
    (signals.worker_process_init, _on_worker_process_init),
    (signals.worker_process_shutdown, _on_worker_process_shutdown),
    (signals.task_prerun, _on_task_prerun),
    (signals.task_postrun, _on_task_postrun),
    (signals.task_success, _on_task_success),
    (signals.task_failure, _on_task_failure),
    (signals.task_retry, _on_task_retry),
)


def install_worker_metrics(app: Celery) -> None:
    """Connect the metrics to ``app``; call once where the Celery app is built (before forking).

    Harmless in non-worker processes (API, beat, Flower, shells): they only count the tasks they
    publish (the API and beat also create their ``sent`` series at 0 and serve them, see
    ``atomfleet_orchestrator.observability``). In a worker, the main process wipes
    ``PROMETHEUS_MULTIPROC_DIR``, creates every known label set at 0, starts the worker report
    and serves ``/metrics`` on ``ATOMFLEET_METRICS_PORT`` (0 disables the server) from
    ``worker_init`` on.
    """
    _state.app = app
    for signal, handler in _HANDLERS:
        signal.connect(handler, weak=False, dispatch_uid=f"atomfleet.metrics.{handler.__name__}")
