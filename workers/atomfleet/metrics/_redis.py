"""Broker-side queue statistics for Redis, read with a bounded number of commands.

Per queue: ``LLEN`` and ``LINDEX -1`` of each priority list (kombu names them ``<queue>``,
``<queue>\\x06\\x163``, ``...6``, ``...9``; it LPUSHes and BRPOPs, so index -1 is the next message
and the oldest of its list) and ``HGETALL`` of a small hash where each worker reports how many
messages it fetched but has not started (one field per worker host). One pipelined round trip for
all queues; no keyspace scans. Prefetched messages are invisible to ``LLEN`` (kombu keeps them in
its ``unacked`` hash together with running ``acks_late`` tasks), hence the worker reports.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

log = logging.getLogger(__name__)

__all__ = [
    "PREFETCH_STALE_AFTER",
    "PublishedAt",
    "QueueStats",
    "RedisQueueStats",
    "published_at_of",
]

PUBLISHED_AT_HEADER = "atomfleet_published_at"
#: A worker's prefetch report older than this is ignored (the worker died or lost Redis).
PREFETCH_STALE_AFTER = 15.0
PREFETCH_KEY_TTL = 60
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
    """Reads queue statistics and stores the worker prefetch reports (kombu's key layout)."""

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

    def prefetch_key(self, queue: str) -> str:
        return f"{self.prefix}atomfleet:prefetched:{queue}"

    # Reading ----------------------------------------------------------------------------------

    def read(self, queues: Iterable[str], now: float | None = None) -> dict[str, QueueStats]:
        """Statistics of every queue: ``(2 x priority steps + 1)`` commands per queue, pipelined."""
        queues = list(dict.fromkeys(queues))
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            for key in self.list_keys(queue):
                pipe.llen(key)
                pipe.lindex(key, -1)
            pipe.hgetall(self.prefetch_key(queue))
        replies = pipe.execute()
        now = time.time() if now is None else now
        stats: dict[str, QueueStats] = {}
        per_queue = 2 * len(self.priority_steps) + 1
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
            for value in (chunk[-1] or {}).values():
                count, oldest, reported_at = _parse_report(value)
                if reported_at is None or now - reported_at > PREFETCH_STALE_AFTER:
                    continue
                prefetched += count
                if oldest is not None:
                    stamps.append(oldest)
            stats[queue] = QueueStats(length, prefetched, min(stamps) if stamps else None)
        return stats

    # Writing (worker main process) ------------------------------------------------------------

    def report_prefetched(
        self, hostname: str, reports: Mapping[str, tuple[int, float | None]], now: float
    ) -> None:
        pipe = self.client.pipeline(transaction=False)
        for queue, (count, oldest) in reports.items():
            key = self.prefetch_key(queue)
            oldest_text = repr(oldest) if oldest is not None else "-"
            pipe.hset(key, hostname, f"{count} {oldest_text} {now!r}")
            pipe.expire(key, PREFETCH_KEY_TTL)
        pipe.execute()

    def forget_prefetched(self, hostname: str, queues: Iterable[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.hdel(self.prefetch_key(queue), hostname)
        pipe.execute()


def _parse_report(value: bytes | str) -> tuple[int, float | None, float | None]:
    try:
        text = value.decode() if isinstance(value, bytes) else value
        count, oldest, reported_at = text.split()
        return int(count), (None if oldest == "-" else float(oldest)), float(reported_at)
    except (ValueError, UnicodeDecodeError):
        return 0, None, None
