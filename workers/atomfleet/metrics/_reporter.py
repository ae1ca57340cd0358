"""Worker main process thread reporting fetched-but-not-started messages to Redis.

The queue gauges of every pod (and of the API) add these reports to the Redis list lengths, so the
backlog includes what workers prefetched. A thread, not an event-loop timer: a slow or unreachable
Redis must never stall the consumer loop (and with it the liveness probe).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from atomfleet.metrics._redis import RedisQueueStats
from atomfleet.metrics.collectors import request_published_at, request_queue, waiting_requests

log = logging.getLogger(__name__)

__all__ = ["PrefetchReporter"]


class PrefetchReporter(threading.Thread):
    """Writes ``{queue: (count, oldest published_at)}`` when it changes, and at least every 5 s."""

    def __init__(
        self,
        stats: RedisQueueStats,
        hostname: str,
        queues: Callable[[], Iterable[str]],
        interval: float = 0.5,
        refresh: float = 5.0,
    ) -> None:
        super().__init__(name="atomfleet-prefetch-reporter", daemon=True)
        self._stats = stats
        self._hostname = hostname
        self._queues = queues
        self._interval = interval
        self._refresh = refresh
        self._stop_event = threading.Event()
        self._last: dict[str, tuple[int, float | None]] | None = None
        self._last_at = 0.0
        self._last_error_log = 0.0

    def current(self) -> dict[str, tuple[int, float | None]]:
        queues = list(self._queues())
        default = queues[0] if len(queues) == 1 else "unknown"
        reports: dict[str, tuple[int, float | None]] = {q: (0, None) for q in queues}
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
        now = time.time()
        if reports == self._last and now - self._last_at < self._refresh:
            return
        self._stats.report_prefetched(self._hostname, reports, now)
        self._last, self._last_at = reports, now

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            try:
                self.report_once()
            except Exception as exc:
                self._last = None  # report again as soon as Redis answers
                if time.monotonic() - self._last_error_log > 60:
                    self._last_error_log = time.monotonic()
                    log.warning("cannot report prefetched messages: %s", exc)

    def stop(self) -> None:
        self._stop_event.set()
        try:
            self._stats.forget_prefetched(self._hostname, list(self._queues()))
        except Exception as exc:
            log.debug("cannot remove prefetch report: %s", exc)
