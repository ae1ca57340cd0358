"""Queue topology: the one declaration of queues shared by the API, the workers and the chart.

The declaration is a JSON list in ``ATOMFLEET_QUEUES`` (the chart writes it into a ConfigMap from
the keys of ``workers.queues``). Redis has no exchanges, so each queue is its own exchange and
routing key.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

from kombu import Exchange, Queue

from atomfleet.errors import ConfigurationError

__all__ = ["DEFAULT_QUEUES", "QUEUES_ENV", "SERVICE_QUEUES", "declared_queues", "parse_queues", "celery_queues"]

QUEUES_ENV = "ATOMFLEET_QUEUES"
DEFAULT_QUEUES: tuple[str, ...] = ("default", "io_bound", "ml_training")
# Queues of the service itself (no atom runs on them): declared on every process, never in
# ATOMFLEET_QUEUES. `webhooks`: the webhook senders (docs/events.md).
SERVICE_QUEUES: tuple[str, ...] = ("webhooks",)
# Same shape the chart accepts for `workers.queues` keys (also a valid DNS label part).
_QUEUE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def parse_queues(raw: str) -> tuple[str, ...]:
    """Parse and check a JSON list of queue names."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{QUEUES_ENV} is not valid JSON: {exc}") from exc
    if not isinstance(value, list) or not value:
        raise ConfigurationError(f"{QUEUES_ENV} must be a non-empty JSON list of queue names")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _QUEUE_NAME.match(item):
            raise ConfigurationError(
                f"{QUEUES_ENV}: invalid queue name {item!r} "
                "(lowercase letters, digits, '_' or '-', starting with a letter, at most 40)"
            )
        if item in SERVICE_QUEUES:
            raise ConfigurationError(f"{QUEUES_ENV}: queue {item!r} is the service's own; name atom queues otherwise")
        if item in names:
            raise ConfigurationError(f"{QUEUES_ENV}: queue {item!r} is declared twice")
        names.append(item)
    if "default" not in names:
        raise ConfigurationError(
            f"{QUEUES_ENV} must declare the 'default' queue (Celery's default queue)"
        )
    return tuple(names)


def declared_queues(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if environ is None else environ
    raw = env.get(QUEUES_ENV)
    return DEFAULT_QUEUES if raw is None or not raw.strip() else parse_queues(raw)


def celery_queues(names: tuple[str, ...]) -> tuple[Queue, ...]:
    """kombu ``Queue`` objects for ``task_queues``; priorities use kombu's Redis emulation."""
    return tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in names)
