"""The raw Celery baseline: a plain app, no Django, no database, the cheapest atom's body.

Worker: ``celery -A bench._raw_celery worker --queues=raw --concurrency=2 --prefetch-multiplier=1``.
Settings are the baseline of issue 12: JSON, ``acks_late``, prefetch 1, prefork, Redis broker and
Redis results; everything else is Celery's default (no events, no ``track_started``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

from atomfleet_demo.text_stats import text_stats

__all__ = ["QUEUE", "TASK_NAME", "app"]

QUEUE = "raw"
TASK_NAME = "bench.raw.text_stats"

app = Celery(
    "bench_raw",
    broker=os.environ.get("BENCH_RAW_BROKER_URL", "redis://127.0.0.1:6379/2"),
    backend=os.environ.get("BENCH_RAW_RESULT_URL", "redis://127.0.0.1:6379/3"),
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
)


class _NoFleet:
    """The one thing ``text.stats`` asks of its context; a raw Celery task has no run row to update."""

    def progress(self, fraction: float, message: str = "") -> None:
        pass


@app.task(name=TASK_NAME)
def raw_text_stats(text: str, sent_at: float) -> dict[str, Any]:
    """``text.stats``'s own function; ``started_at`` (server clock) gives submit→start."""
    started_at = time.time()
    stats = text_stats(_NoFleet(), text=text)
    return {"sent_at": sent_at, "started_at": started_at, "stats": stats}
