"""Worker main process thread writing the worker's report (heartbeat + prefetched messages) to Redis.

Beat reads the reports: a fresh report makes ``celery_worker_up`` 1, a stale one 0, and the
prefetched counts go into the queue backlog (see :mod:`atomfleet.metrics._redis` for the timings).
A thread, not an event-loop timer: a slow or unreachable Redis must never stall the consumer loop
(and with it the liveness probe). A paused or hung main process stops reporting, which is the point.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from atomfleet.metrics._redis import WORKER_REPORT_INTERVAL, PublishedAt, RedisQueueStats
from atomfleet.metrics.collectors import request_published_at, request_queue, waiting_requests

log = logging.getLogger(__name__)

__all__ = ["WorkerReporter"]


class WorkerReporter(threading.Thread):
    """Writes ``{queue: (prefetched, oldest published_at)}`` when it changes, and every 5 s."""

    def __init__(
        self,
        stats: RedisQueueStats,
        hostname: str,
        queues: Callable[[], Iterable[str]],
        interval: float = 0.5,
        refresh: float = WORKER_REPORT_INTERVAL,
    ) -> None:
        super().__init__(name="atomfleet-worker-report", daemon=True)
        self._stats = stats
        self._hostname = hostname
        self._queues = queues
        self._interval = interval
        self._refresh = refresh
        self._stop_event = threading.Event()
        self._last: dict[str, tuple[int, PublishedAt]] | None = None
        self._last_at = 0.0
        self._last_error_log = 0.0

    def current(self) -> dict[str, tuple[int, PublishedAt]]:
        queues = list(self._queues())
        default = queues[0] if len(queues) == 1 else "unknown"
        reports: dict[str, tuple[int, PublishedAt]] = {q: (0, None) for q in queues}
        for request in waiting_requests():
            queue = request_queue(request, default)
            count, oldest = reports.get(queue, (0, None))
            stamp = request_published_at(request)
            if stamp is not None and (oldest is None or stamp < oldest):
                oldest = stamp
            reports[queue] = (count + 1, oldest)
        return reports

    def report_once(self) -> None:
        reports = self.current()
        if reports == self._last and time.monotonic() - self._last_at < self._refresh:
            return
        self._stats.report_worker(self._hostname, reports)
        self._last, self._last_at = reports, time.monotonic()

    def run(self) -> None:
        while True:
            try:
                self.report_once()
            except Exception as exc:
                self._last = None  # report again as soon as Redis answers
                if time.monotonic() - self._last_error_log > 60:
                    self._last_error_log = time.monotonic()
                    log.warning("cannot write the worker report: %s", exc)
            if self._stop_event.wait(self._interval):
                return

    def stop(self) -> None:
        """Stop reporting and delete the report: a worker that shut down is not a worker down."""
        self._stop_event.set()
        self.join(timeout=5)
        try:
            self._stats.forget_worker(self._hostname)
        except Exception as exc:
            log.debug("cannot remove the worker report: %s", exc)
