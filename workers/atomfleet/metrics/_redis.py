"""Broker-side queue statistics and worker reports in Redis, read with a bounded number of commands.

Per queue: ``LLEN`` and ``LINDEX -1`` of each priority list (kombu names them ``<queue>``,
``<queue>\\x06\\x163``, ``...6``, ``...9``; it LPUSHes and BRPOPs, so index -1 is the next message
and the oldest of its list). Plus one ``HGETALL`` of the worker report hash ``atomfleet:workers``:
the main process of every worker writes one field (its Celery hostname) saying when it last
reported and, per consumed queue, how many messages it fetched but has not started (prefetched
messages are invisible to ``LLEN``: kombu keeps them in its ``unacked`` hash together with running
``acks_late`` tasks). The report doubles as the worker's heartbeat: beat exports
``celery_worker_up`` from it. One pipelined round trip for all queues; no keyspace scans.

Report times are Redis server times (``TIME``), so clock skew between nodes never makes a worker
look down. Timings of a report: written when it changes and at least every :data:`WORKER_REPORT_INTERVAL`
seconds; *fresh* while younger than :data:`WORKER_STALE_AFTER` (the worker counts as up and its
prefetched messages count in the backlog); *stale* after that (the worker counts as down: paused,
hung, lost its Redis connection, or killed without a shutdown); *forgotten* (field deleted) after
:data:`WORKER_FORGET_AFTER`, longer than the 15 minutes celery-exporter's ``CeleryWorkerDown``
waits. A worker that shuts down cleanly deletes its field at once (no ``celery_worker_up`` 0).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

log = logging.getLogger(__name__)

__all__ = [
    "PUBLISHED_AT_HEADER",
    "WORKER_FORGET_AFTER",
    "WORKER_REPORT_INTERVAL",
    "WORKER_STALE_AFTER",
    "PublishedAt",
    "QueueStats",
    "RedisQueueStats",
    "WorkerReport",
    "published_at_of",
]

PUBLISHED_AT_HEADER = "atomfleet_published_at"
#: A worker writes its report at least this often (seconds).
WORKER_REPORT_INTERVAL = 5.0
#: A report older than this is stale: the worker is down (``celery_worker_up`` 0), its prefetch
#: report no longer counts.
WORKER_STALE_AFTER = 15.0
#: A report older than this is deleted: the worker's ``celery_worker_up`` series ends.
WORKER_FORGET_AFTER = 3600.0
WORKERS_KEY = "atomfleet:workers"
DEFAULT_PRIORITY_STEPS = (0, 3, 6, 9)
DEFAULT_SEP = "\x06\x16"

PublishedAt = float | None


@dataclass(frozen=True)
class QueueStats:
    """Waiting work of one queue, as seen at one instant."""

    length: int  # messages in the Redis lists (all priorities)
    prefetched: int  # fetched by live workers, not started
    oldest_published_at: float | None  # publish time of the oldest waiting message, if stamped

    @property
    def backlog(self) -> int:
        return self.length + self.prefetched

    def oldest_age(self, now: float) -> float:
        if self.oldest_published_at is None:
            return 0.0
        return max(0.0, now - self.oldest_published_at)


@dataclass(frozen=True)
class WorkerReport:
    """One worker's heartbeat report: when, and per consumed queue (prefetched, oldest stamp)."""

    hostname: str
    reported_at: float
    queues: Mapping[str, tuple[int, PublishedAt]] = field(default_factory=dict)

    def age(self, now: float) -> float:
        return max(0.0, now - self.reported_at)

    def fresh(self, now: float) -> bool:
        return self.age(now) <= WORKER_STALE_AFTER

    def encode(self) -> str:
        return json.dumps({"at": self.reported_at, "queues": {q: list(v) for q, v in self.queues.items()}})

    @classmethod
    def decode(cls, hostname: bytes | str, raw: bytes | str) -> WorkerReport | None:
        try:
            name = hostname.decode() if isinstance(hostname, bytes) else hostname
            data = json.loads(raw)
            queues = {
                str(q): (int(count), None if oldest is None else float(oldest))
                for q, (count, oldest) in data.get("queues", {}).items()
            }
            return cls(name, float(data["at"]), queues)
        except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
            return None


def published_at_of(raw: bytes | str | None) -> float | None:
    """The ``atomfleet_published_at`` header of a kombu Redis message payload (JSON), if any."""
    if raw is None:
        return None
    try:
        message = json.loads(raw)
        value = message.get("headers", {}).get(PUBLISHED_AT_HEADER)
        return float(value) if value is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def _first_url(broker_url: str | list[str] | tuple[str, ...] | None) -> str | None:
    if not broker_url:
        return None
    if isinstance(broker_url, list | tuple):
        broker_url = broker_url[0]
    return str(broker_url).split(";")[0].strip()


class RedisQueueStats:
    """Reads queue statistics and stores the worker reports (kombu's key layout and prefix)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        global_keyprefix: str = "",
        sep: str = DEFAULT_SEP,
        priority_steps: Iterable[int] = DEFAULT_PRIORITY_STEPS,
    ) -> None:
        self.client = client
        self.prefix = global_keyprefix
        self.sep = sep
        self.priority_steps = tuple(priority_steps)

    @classmethod
    def from_broker(
        cls, broker_url: Any, transport_options: Mapping[str, Any] | None = None
    ) -> RedisQueueStats | None:
        """Build from Celery's ``broker_url``/``broker_transport_options``; None if not Redis."""
        url = _first_url(broker_url)
        if not url or not url.startswith(("redis://", "rediss://", "unix://")):
            return None
        options = dict(transport_options or {})
        client = redis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30
        )
        return cls(
            client,
            global_keyprefix=options.get("global_keyprefix", "") or "",
            sep=options.get("sep", DEFAULT_SEP),
            priority_steps=options.get("priority_steps", DEFAULT_PRIORITY_STEPS),
        )

    @classmethod
    def from_app(cls, app: Any) -> RedisQueueStats | None:
        return cls.from_broker(app.conf.broker_url, app.conf.broker_transport_options)

    # Key layout -------------------------------------------------------------------------------

    def list_keys(self, queue: str) -> list[str]:
        keys = []
        for step in self.priority_steps:
            name = f"{queue}{self.sep}{step}" if step else queue
            keys.append(self.prefix + name)
        return keys

    @property
    def workers_key(self) -> str:
        return self.prefix + WORKERS_KEY

    # Reading (beat) ---------------------------------------------------------------------------

    def server_time(self) -> float:
        seconds, micros = self.client.time()
        return seconds + micros / 1e6

    def read(self, queues: Iterable[str], now: float | None = None) -> dict[str, QueueStats]:
        """Statistics of every queue: ``2 x priority steps`` commands per queue + 2, pipelined.

        ``now`` (default: Redis server time) decides which worker reports are fresh.
        """
        queues = list(dict.fromkeys(queues))
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            for key in self.list_keys(queue):
                pipe.llen(key)
                pipe.lindex(key, -1)
        pipe.hgetall(self.workers_key)
        pipe.time()
        replies = pipe.execute()
        seconds, micros = replies[-1]
        now = seconds + micros / 1e6 if now is None else now
        fresh = [r for r in self._decode_reports(replies[-2]) if r.fresh(now)]
        stats: dict[str, QueueStats] = {}
        per_queue = 2 * len(self.priority_steps)
        for i, queue in enumerate(queues):
            chunk = replies[i * per_queue : (i + 1) * per_queue]
            length = 0
            stamps: list[float] = []
            for j in range(len(self.priority_steps)):
                length += int(chunk[2 * j] or 0)
                stamp = published_at_of(chunk[2 * j + 1])
                if stamp is not None:
                    stamps.append(stamp)
            prefetched = 0
            for report in fresh:
                count, oldest = report.queues.get(queue, (0, None))
                prefetched += count
                if oldest is not None:
                    stamps.append(oldest)
            stats[queue] = QueueStats(length, prefetched, min(stamps) if stamps else None)
        return stats

    def worker_reports(self, now: float | None = None) -> list[WorkerReport]:
        """Reports not yet forgotten (fresh and stale); deletes the forgotten ones."""
        now = self.server_time() if now is None else now
        reports = self._decode_reports(self.client.hgetall(self.workers_key))
        keep = [r for r in reports if r.age(now) <= WORKER_FORGET_AFTER]
        forgotten = [r.hostname for r in reports if r.age(now) > WORKER_FORGET_AFTER]
        if forgotten:
            self.client.hdel(self.workers_key, *forgotten)
        return sorted(keep, key=lambda r: r.hostname)

    @staticmethod
    def _decode_reports(raw: Mapping[Any, Any] | None) -> list[WorkerReport]:
        reports = [WorkerReport.decode(name, value) for name, value in (raw or {}).items()]
        return [r for r in reports if r is not None]

    # Writing (worker main process) ------------------------------------------------------------

    def report_worker(self, hostname: str, queues: Mapping[str, tuple[int, PublishedAt]]) -> WorkerReport:
        """Write this worker's report, stamped with the Redis server time; returns it."""
        report = WorkerReport(hostname, self.server_time(), dict(queues))
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.workers_key, report.hostname, report.encode())
        # The hash outlives every report in it; it goes when the last worker stopped reporting.
        pipe.expire(self.workers_key, int(WORKER_FORGET_AFTER))
        pipe.execute()
        return report

    def forget_worker(self, hostname: str) -> None:
        self.client.hdel(self.workers_key, hostname)
