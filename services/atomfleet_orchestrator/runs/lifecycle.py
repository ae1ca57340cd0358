"""The run lifecycle: every state, every allowed transition, every outcome code, every deadline.

This module is the vocabulary; ``transitions`` holds the guarded writes that move a run, and each
of them is declared here first. ``docs/lifecycle.md`` draws the same machine for operators.

::

    accepted ──► queued ──publish──► (queued, dispatched) ──claim──► running ──► succeeded
                   │  ▲                      │   │                     │  │  ├─► failed
                   │  └──dispatch deadline───┘   │                     │  │  └─► cancelled
                   │                             │                     │  └──transient error,
                   ▼                             ▼                     │     worker lost──► retrying
               cancelled / failed          cancelled / failed          │                      │
               (unknown atom or queue,     (never started after        │   due: publish ──────┘
                cancel while waiting)       the re-dispatch cap)       └─ no heartbeat ─► retrying / failed

The database is the only record of a run's state and its clock is the only clock deadlines are
measured with. Celery messages are hints that a run may be due; a message that does not match the
row (a duplicate, a stale retry, a superseded attempt) changes nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "TRANSITIONS",
    "WAITING",
    "Deadlines",
    "ErrorCode",
    "IllegalTransition",
    "RunStatus",
    "Transition",
    "check",
]


class RunStatus(enum.StrEnum):
    QUEUED = "queued"  # accepted; waiting to be published (outbox) or to be claimed
    RUNNING = "running"  # claimed by one execution, which must keep its heartbeat fresh
    RETRYING = "retrying"  # an attempt ended; the next one is due at ``next_attempt_at``
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


WAITING = frozenset({RunStatus.QUEUED, RunStatus.RETRYING})
ACTIVE = WAITING | {RunStatus.RUNNING}
TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class ErrorCode(enum.StrEnum):
    """Why a run failed, was cancelled or is being retried (``AtomRun.error_code``).

    Atoms may also end a run with codes of their own (``AtomError.code``, e.g. ``invalid_input``).
    """

    ATOM_ERROR = "atom_error"  # the atom raised an exception that is not an AtomError
    RETRIES_EXHAUSTED = "retries_exhausted"  # transient errors on every allowed attempt
    TRANSIENT_ERROR = "transient_error"  # the default code of a transient error (run retrying)
    TIME_LIMIT = "time_limit"  # soft limit raised in the atom, or hard limit killed it
    WORKER_LOST = "worker_lost"  # its execution died (killed, OOM, node lost, no heartbeat)
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # lost or retried on every allowed attempt
    NOT_STARTED = "not_started"  # published again and again, never claimed by a worker
    UNKNOWN_ATOM = "unknown_atom"  # the atom left the catalog after the run was accepted
    UNKNOWN_QUEUE = "unknown_queue"  # the atom's queue is no longer declared
    INVALID_RESULT = "invalid_result"  # the result is not JSON (NaN, Infinity, objects)
    RESULT_NOT_RECORDED = "result_not_recorded"  # storage or the database refused the result
    CANCELLED = "cancelled"


class Transition(enum.Enum):
    """Every write that changes a run's status, with the states it may start from."""

    #: The outbox stamps ``dispatched_at`` (status unchanged); the dispatch deadline clears it.
    PUBLISH = (WAITING, None)
    #: An execution takes the run (one statement; the attempt counter is the fencing token).
    CLAIM = (WAITING, RunStatus.RUNNING)
    SUCCEED = (frozenset({RunStatus.RUNNING}), RunStatus.SUCCEEDED)
    FAIL = (frozenset({RunStatus.RUNNING}), RunStatus.FAILED)
    #: A transient error or a lost execution with attempts left.
    SCHEDULE_RETRY = (frozenset({RunStatus.RUNNING}), RunStatus.RETRYING)
    CANCEL_RUNNING = (frozenset({RunStatus.RUNNING}), RunStatus.CANCELLED)
    CANCEL_WAITING = (WAITING, RunStatus.CANCELLED)
    #: Nothing can ever run it: unknown atom/queue, re-dispatch cap, attempt cap.
    ABANDON = (WAITING, RunStatus.FAILED)

    def __init__(self, sources: frozenset[RunStatus], target: RunStatus | None) -> None:
        self.sources = sources
        self.target = target


TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    status: frozenset(t.target for t in Transition if status in t.sources and t.target is not None)
    for status in RunStatus
}


class IllegalTransition(RuntimeError):
    pass


def check(source: RunStatus | str, target: RunStatus | str) -> None:
    """Raise unless the machine allows ``source`` → ``target`` (terminal states are final)."""
    if RunStatus(target) not in TRANSITIONS[RunStatus(source)]:
        raise IllegalTransition(f"a run cannot go from {source} to {target}")


@dataclass(frozen=True)
class Deadlines:
    """Every non-terminal state's deadline and who enforces it (see docs/lifecycle.md).

    Read from Django settings (``ATOMFLEET_*``, see docs/configuration.md), which refuse to start
    with values that contradict each other.
    """

    #: queued, not yet published: the API publishes on commit; the outbox takes over after this.
    outbox_grace: float
    #: queued or retrying, published, not claimed: re-published after this (same task id).
    dispatch_timeout: float
    #: how many times a run may be re-published without ever being claimed, then ``not_started``.
    max_redispatches: int
    #: running: the worker's main process refreshes the heartbeat this often...
    heartbeat_interval: float
    #: ... and a run whose heartbeat is older is lost (retried or failed ``worker_lost``).
    stale_after: float
    #: beat's rounds: publishing due runs, and enforcing the two deadlines above.
    dispatch_interval: float
    reconcile_interval: float

    @classmethod
    def from_settings(cls) -> Deadlines:
        from django.conf import settings

        return cls(
            outbox_grace=settings.ATOMFLEET_OUTBOX_GRACE_SECONDS,
            dispatch_timeout=settings.ATOMFLEET_DISPATCH_TIMEOUT_SECONDS,
            max_redispatches=settings.ATOMFLEET_MAX_REDISPATCHES,
            heartbeat_interval=settings.ATOMFLEET_HEARTBEAT_SECONDS,
            stale_after=settings.ATOMFLEET_STALE_AFTER_SECONDS,
            dispatch_interval=settings.ATOMFLEET_DISPATCH_INTERVAL,
            reconcile_interval=settings.ATOMFLEET_RECONCILE_INTERVAL,
        )

    @property
    def fence_after(self) -> float:
        """A worker that could not renew a lease for this long kills the execution itself.

        Shorter than ``stale_after`` by two heartbeats, so the execution is gone before the
        reconciler can consider the run lost and hand it to another worker.
        """
        return self.stale_after - 2 * self.heartbeat_interval
