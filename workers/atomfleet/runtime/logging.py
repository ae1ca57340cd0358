"""Structured logs: JSON lines in containers, readable lines locally.

Every record emitted while a run executes carries its tenant, atom, run id and Celery task id,
taken from context variables the task sets, so third-party loggers are tagged too.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["RUN_FIELDS", "JsonFormatter", "ConsoleFormatter", "RunContextFilter", "run_log_context"]

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
