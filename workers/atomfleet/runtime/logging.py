"""Structured logs: JSON lines in containers, readable lines locally.

Every record emitted while a run executes carries its tenant, atom, run id and Celery task id,
taken from context variables the task sets, so third-party loggers are tagged too.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "RUN_FIELDS",
    "ConsoleFormatter",
    "JsonFormatter",
    "RunContextFilter",
    "install_json_worker_output",
    "run_log_context",
]

RUN_FIELDS = ("tenant", "atom", "run_id", "task_id")
_run_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "atomfleet_run", default=None
)


@contextlib.contextmanager
def run_log_context(**fields: str) -> Iterator[None]:
    token = _run_context.set({k: v for k, v in fields.items() if k in RUN_FIELDS})
    try:
        yield
    finally:
        _run_context.reset(token)


class RunContextFilter(logging.Filter):
    """Copies the current run's tags onto each record (attach to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_run_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName,
        }
        for key in RUN_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tags = [f"{k}={getattr(record, k)}" for k in RUN_FIELDS if getattr(record, k, None)]
        return f"{line} [{' '.join(tags)}]" if tags else line


def _json_say(msg: str, f: Any = sys.__stderr__) -> None:
    """``celery.apps.worker.safe_say`` writing one JSON line (called from signal handlers: one
    ``os.write``, no logging locks)."""
    record = logging.LogRecord("celery.apps.worker", logging.WARNING, __file__, 0, msg.strip(), None, None)
    record.processName = "MainProcess"
    with contextlib.suppress(OSError, ValueError):
        os.write(f.fileno(), (JsonFormatter().format(record) + "\n").encode())


def install_json_worker_output(app: Any) -> None:
    """With ``ATOMFLEET_LOG_FORMAT=json``, make what Celery writes itself JSON lines too.

    Python warnings go through logging. Celery prints its start-up banner and, from its signal handlers, its shutdown messages
    ("worker: Warm shutdown (MainProcess)") straight to the process's stdout, outside logging. The
    worker's banner becomes one log record (the worker is made quiet in ``celeryd_after_setup``,
    sent just before it would print it), beat's too (a quiet ``Beat`` class); the shutdown messages
    are written as JSON lines.
    """
    if os.environ.get("ATOMFLEET_LOG_FORMAT", "console") != "json":
        return
    from celery import signals
    from celery.apps import worker as celery_worker

    logging.captureWarnings(True)  # e.g. Celery's SecurityWarning at start-up, through the JSON handler
    celery_worker.safe_say = _json_say

    def banner_as_record(sender: Any = None, instance: Any = None, **_: Any) -> None:
        if instance is None or getattr(instance, "app", None) is not app or instance.quiet:
            return
        instance.quiet = True
        text = instance.startup_info(artlines=False) + (instance.extra_info() or "")
        logging.getLogger("celery.apps.worker").info("%s", text.strip())

    signals.celeryd_after_setup.connect(banner_as_record, weak=False, dispatch_uid="atomfleet.json_banner")

    # Beat prints its banner with no signal before it: a quiet Beat that logs its facts instead.
    base = app.Beat

    class JsonBeat(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "quiet": True})

        def run(self) -> None:
            from celery import VERSION_BANNER

            logging.getLogger("celery.apps.beat").info(
                "celery beat v%s is starting: broker %s, scheduler %s", VERSION_BANNER,
                self.app.connection_for_write().as_uri(), self.scheduler_cls)
            super().run()

    app.__dict__["Beat"] = JsonBeat  # Celery.Beat is a cached property: this instance's class
