"""Label sets of the counters: every known one exists at 0 from process start.

A counter series that appears only at its first increment is invisible to ``increase()`` and
``rate()`` until its second sample, so dashboards and alerts miss the first events (and a burst
that creates the series undercounts by one per series). Each process therefore creates, when it
starts, every label set it can know in advance:

- a worker's main process, for every atom of the catalog routed to a queue it consumes: all
  ``celery_task_*`` counters and ``celery_task_runtime`` (``hostname`` = the Celery node name),
  ``celery_task_failed_total`` for every exception type atomfleet raises or knows
  (:func:`known_exceptions`), the queue-wait histogram and ``atomfleet_runs_total`` for every
  outcome with the run duration histogram;
- every publisher that is scraped (the API, beat): ``celery_task_sent_total`` for every atom of
  the catalog and the queue it is routed to.

Not knowable in advance: a rejected message naming a task nobody registered (the worker's main
process exports its series at 0 and counts it :func:`~atomfleet.metrics._env.new_series_delay`
seconds later, so ``increase()`` still sees 0 -> 1), and a failure with an exception type of the
atom's own (``ValueError``, ...; counted in a pool child, which may exit at any time, so the series
appears at its first failure and ``increase()`` misses that one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from atomfleet.catalog.spec import task_name_for
from atomfleet.metrics import definitions as m

__all__ = [
    "ATOM_TASK_PREFIX",
    "OUTCOMES",
    "atom_routes",
    "child",
    "is_known",
    "known_exceptions",
    "precreate_publisher",
    "precreate_worker",
    "record_run_finished",
]

ATOM_TASK_PREFIX = task_name_for("")
OUTCOMES = frozenset({"succeeded", "failed", "cancelled", "retrying", "worker_lost", "time_limit"})
# Raised by Celery/billiard on time limits and lost pool processes (``type(exc).__name__``).
_CELERY_EXCEPTIONS = ("SoftTimeLimitExceeded", "TimeLimitExceeded", "WorkerLostError")

_children: dict[tuple[Any, ...], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, cached: the hot path skips prometheus_client's lock and checks.

    Bounded like the label sets themselves (no ids in labels).
    """
    key = (id(metric), *labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def is_known(metric: Any, *labels: str) -> bool:
    """Whether this process already created the label set."""
    return (id(metric), *labels) in _children


def record_run_finished(atom: str, queue: str, outcome: str, duration_s: float | None) -> None:
    """Count a finished atom run; ``duration_s=None`` counts it without observing a duration."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown run outcome {outcome!r}; expected one of {sorted(OUTCOMES)}")
    child(m.RUNS, atom, queue, outcome).inc()
    if duration_s is not None:
        child(m.RUN_DURATION, atom, queue).observe(max(0.0, duration_s))


def atom_routes(queues: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """``(atom name, queue)`` of every atom in the catalog, optionally only for ``queues``."""
    from atomfleet.catalog import CATALOG

    wanted = None if queues is None else set(queues)
    return [(spec.name, spec.queue) for spec in CATALOG if wanted is None or spec.queue in wanted]


def known_exceptions() -> list[str]:
    """Exception names a task failure of an atom can carry that atomfleet knows in advance:
    :class:`~atomfleet.errors.AtomError` and all its subclasses (atom packages' own included,
    once imported), and Celery's time-limit and lost-process errors."""
    from atomfleet.errors import AtomError

    names: list[str] = []
    pending: list[type[BaseException]] = [AtomError]
    while pending:
        cls = pending.pop()
        names.append(cls.__name__)
        pending.extend(cls.__subclasses__())
    return sorted(set(names) | set(_CELERY_EXCEPTIONS))


def precreate_worker(hostname: str, queues: Iterable[str]) -> int:
    """Create the series of a worker consuming ``queues``; returns how many label sets."""
    exceptions = known_exceptions()
    created = 0
    for atom, queue in atom_routes(queues):
        task = task_name_for(atom)
        for metric in (m.TASK_SENT, m.TASK_RECEIVED, m.TASK_STARTED, m.TASK_SUCCEEDED,
                       m.TASK_REJECTED, m.TASK_REVOKED, m.TASK_RETRIED, m.TASK_RUNTIME):
            child(metric, task, hostname, queue)
            created += 1
        for exception in exceptions:
            child(m.TASK_FAILED, task, hostname, queue, exception)
            created += 1
        child(m.TASK_QUEUE_WAIT, task, queue)
        child(m.RUN_DURATION, atom, queue)
        created += 2
        for outcome in OUTCOMES:
            child(m.RUNS, atom, queue, outcome)
            created += 1
    return created


def precreate_publisher(hostname: str, routes: Iterable[tuple[str, str]] | None = None) -> int:
    """Create ``celery_task_sent_total`` of every atom on its queue (the ``(atom, queue)`` pairs
    given, else those of this process's catalog); returns how many."""
    routes = list(routes) if routes is not None else atom_routes()
    for atom, queue in routes:
        child(m.TASK_SENT, task_name_for(atom), hostname, queue)
    return len(routes)
