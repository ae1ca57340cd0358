"""Publishing runs to Celery: on commit from the API, and from the outbox in beat.

A run is committed first and published on commit, within a bounded budget: if the broker does not
answer, the API still answers 202 and the run waits in the **outbox** (``dispatched_at`` unset).
The API publishes through a broker connection of its own whose every wait (connect, each socket
read and write) is bounded by ``ATOMFLEET_API_PUBLISH_TIMEOUT``, which is also the budget of all
the publishes of one commit (a batch): the worker's consuming connection keeps its long socket
timeout, a request never waits on a broker that accepts connections and never answers.
What is published is a run that got its turn (``runs.fairness``: ``turn_at`` set in the same
statement that stamps it published). Beat's round first gives turns on every queue (retries whose
``next_attempt_at`` has come wait for theirs; a crash may have left one ungiven), then publishes
every due run of the outbox — runs whose publish on commit failed, runs the reconciler sent back
after their message was lost — each row on its own, so one bad row never blocks the others. Publishing twice is harmless:
the claim runs a run once per attempt whatever the number of messages.
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from kombu import Connection, Producer
from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError

from atomfleet.catalog import task_name_for
from atomfleet_orchestrator.atoms import registry
from atomfleet_orchestrator.observability import OutboxStats
from atomfleet_orchestrator.runs import fairness, transitions
from atomfleet_orchestrator.runs.lifecycle import WAITING, Deadlines, ErrorCode
from atomfleet_orchestrator.runs.models import AtomRun

__all__ = [
    "PUBLISHED_AT_HEADER",
    "DispatchReport",
    "api_broker_connection",
    "dispatch_after_commit",
    "dispatch_outbox",
    "oldest_per_queue",
    "outbox_stats",
    "publish",
    "publish_from_api",
]

log = logging.getLogger(__name__)
_WAITING = sorted(WAITING)
# Publish time stamped on every message: queue wait and oldest-message age are measured from it.
PUBLISHED_AT_HEADER = "atomfleet_published_at"
BROKER_ERRORS = (OperationalError, KombuError, RedisError, OSError)


@dataclass(frozen=True)
class Target:
    run_id: str
    atom: str
    queue: str
    task_id: str


def publish(target: Target, *, producer: Producer | None = None) -> None:
    """Send the run's task message (its one task id) to its queue; raises broker errors.

    Without ``producer``: the app's pooled connection and its retry policy (beat, workers).
    """
    from atomfleet_orchestrator.celery import app

    app.send_task(
        task_name_for(target.atom),
        args=[target.run_id],
        task_id=target.task_id,
        queue=target.queue,
        headers={PUBLISHED_AT_HEADER: time.time()},
        producer=producer,
        # A given producer is the API's bounded connection: one try, the outbox does the rest.
        retry=producer is None,
    )


def api_broker_connection() -> Connection:
    """A broker connection whose every wait is bounded by ``ATOMFLEET_API_PUBLISH_TIMEOUT``.

    The app's own connections keep the long socket timeout of a consumer waiting for messages
    (``CELERY_BROKER_TRANSPORT_OPTIONS``); with it, a broker that accepts TCP and never answers
    held each API publish for 30 s.
    """
    from atomfleet_orchestrator.celery import app

    seconds = settings.ATOMFLEET_API_PUBLISH_TIMEOUT
    return app.connection_for_write(
        connect_timeout=seconds,
        transport_options={"socket_timeout": seconds, "socket_connect_timeout": seconds},
    )


class _ApiPublisher(threading.local):
    """One bounded connection per API thread (kombu connections are not thread-safe), kept
    between requests; dropped after any error so the next publish starts on a fresh one."""

    connection: Connection | None = None
    producer: Producer | None = None
    url: str = ""

    def publish(self, target: Target) -> None:
        from atomfleet_orchestrator.celery import app

        if self.producer is not None and self.url != app.conf.broker_url:
            self.drop()  # the app was pointed at another broker (tests do)
        if self.producer is None:
            self.url = app.conf.broker_url
            self.connection = api_broker_connection()
            self.producer = self.connection.Producer()
        try:
            publish(target, producer=self.producer)
        except BaseException:
            self.drop()
            raise

    def drop(self) -> None:
        connection, self.connection, self.producer = self.connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception as exc:  # a broken connection may fail to close; it is gone anyway
                log.debug("closing the API's broker connection: %s", exc)


_api_publisher = _ApiPublisher()


def publish_from_api(target: Target) -> None:
    """Publish now, on this thread's bounded connection (one try); raises broker errors."""
    _api_publisher.publish(target)


@dataclass
class _Budget:
    """The time the publishes of one commit may take, started by the first of them."""

    seconds: float
    deadline: float | None = None
    failure: str | None = None  # the broker failed once: the commit's other runs are not tried
    handed_over: list[str] = field(default_factory=list)

    def open(self) -> bool:
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.seconds
        return self.failure is None and now < self.deadline


class _PublishOnCommit:
    """One run's publish, run by Django after the commit; shares its commit's budget."""

    def __init__(self, target: Target, budget: _Budget) -> None:
        self.target, self.budget = target, budget

    def __call__(self) -> None:
        budget = self.budget
        if budget.open():
            try:
                publish_from_api(self.target)
                return
            except Exception as exc:  # never let an accepted run turn into an error response
                budget.failure = f"{type(exc).__name__}: {exc}"
                log.warning("broker did not take run %s within %.1fs (%s); it and the rest of its "
                            "request go to the outbox", self.target.run_id, budget.seconds, budget.failure)
        elif not budget.handed_over:
            log.warning("publish budget of %.1fs spent (%s): run %s and the rest of its request go to "
                        "the outbox", budget.seconds, budget.failure or "the broker is slow", self.target.run_id)
        budget.handed_over.append(self.target.run_id)
        try:
            transitions.unpublish(self.target.run_id)
        except Exception as db_exc:  # the dispatch deadline recovers it
            log.warning("run %s left to the dispatch deadline: %s", self.target.run_id, db_exc)


def _commit_budget() -> _Budget:
    """The budget of the transaction being built: every run of a batch shares one."""
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        for _sids, func, _robust in reversed(connection.run_on_commit):
            if isinstance(func, _PublishOnCommit):
                return func.budget
    return _Budget(settings.ATOMFLEET_API_PUBLISH_TIMEOUT)


def dispatch_after_commit(target: Target) -> None:
    """Publish once the transaction commits; a failure hands the run back to the outbox.

    The run was stamped as published with its turn (``fairness.give_turns``). All the
    runs of one commit share one budget of ``ATOMFLEET_API_PUBLISH_TIMEOUT`` seconds: once the
    broker fails or the budget is spent, the remaining runs go to the outbox without being tried.
    If this process dies between the commit and the publish, the dispatch deadline publishes it.
    """
    transaction.on_commit(_PublishOnCommit(target, _commit_budget()))


class Outcome(enum.Enum):
    PUBLISHED = "published"
    ABANDONED = "abandoned"  # ended failed: unknown atom or queue, re-dispatch cap
    BROKER_DOWN = "broker_down"  # left in the outbox; the round stops
    ERROR = "error"  # unexpected error on this row; left in the outbox, the round goes on


@dataclass
class DispatchReport:
    published: int = 0
    abandoned: int = 0
    errors: int = 0
    broker_down: bool = False


def _due() -> Q:
    """Runs that had their turn and are not published: the publish on commit gets a grace."""
    grace = settings.ATOMFLEET_OUTBOX_GRACE_SECONDS
    return Q(turn_at__lte=transitions.ago(grace), dispatched_at__isnull=True, status__in=_WAITING)


def _send(target: Target, dispatches: int, deadlines: Deadlines) -> Outcome:
    if dispatches > deadlines.max_redispatches:
        transitions.abandon(
            target.run_id, ErrorCode.NOT_STARTED,
            f"published {dispatches} times, never started by a worker of queue {target.queue!r} "
            f"(each within {deadlines.dispatch_timeout:g}s)",
        )
        return Outcome.ABANDONED
    if registry.current(target.atom) is None:
        transitions.abandon(target.run_id, ErrorCode.UNKNOWN_ATOM,
                            f"atom {target.atom!r} is no longer registered (removed by a deploy)")
        return Outcome.ABANDONED
    if target.queue not in settings.ATOMFLEET_QUEUES:
        transitions.abandon(target.run_id, ErrorCode.UNKNOWN_QUEUE,
                            f"queue {target.queue!r} is no longer declared (ATOMFLEET_QUEUES)")
        return Outcome.ABANDONED
    try:
        publish(target)
    except BROKER_ERRORS as exc:
        log.warning("broker unavailable, run %s stays in the outbox: %s", target.run_id, exc)
        return Outcome.BROKER_DOWN
    except Exception:
        log.exception("cannot publish run %s; it stays in the outbox", target.run_id)
        return Outcome.ERROR
    return Outcome.PUBLISHED


def oldest_per_queue(runs: QuerySet[AtomRun], order: str, fields: tuple[str, ...], limit: int) -> list[Any]:
    """Up to ``limit`` of ``runs`` per queue, oldest by ``order`` first, the queues interleaved.

    One query per declared queue and one for runs of queues no longer declared (ended by the
    outbox): a backlog on one queue never hides the runs of another from a round.
    """
    declared = list(settings.ATOMFLEET_QUEUES)
    ordered = runs.order_by(order, "id").values_list(*fields)
    groups = [list(ordered.filter(queue=queue)[:limit]) for queue in declared]
    groups.append(list(ordered.exclude(queue__in=declared)[:limit]))
    return [row for rank in itertools.zip_longest(*groups) for row in rank if row is not None]


def dispatch_outbox(limit: int = 500) -> DispatchReport:
    """Publish the due runs of the outbox: up to ``limit`` per queue, oldest first.

    Each row is published first and stamped after, guarded by the state it was read in
    (``transitions.mark_published``): a crash in between publishes it again next round, a
    harmless duplicate, where stamping first would leave it to the dispatch deadline.
    """
    deadlines = Deadlines.from_settings()
    _give_turns_everywhere(limit)
    due = AtomRun.objects.filter(_due())
    fields = ("id", "atom", "queue", "celery_task_id", "dispatch_count", "status", "attempts")
    report, published = DispatchReport(), []
    for run_id, atom, queue, task_id, dispatches, status, attempts in oldest_per_queue(due, "created_at", fields, limit):
        target = Target(str(run_id), atom, queue, task_id)
        outcome = _send(target, dispatches, deadlines)
        if outcome is Outcome.PUBLISHED:
            published.append(transitions.Published(target.run_id, status, attempts))
        elif outcome is Outcome.ABANDONED:
            report.abandoned += 1
        elif outcome is Outcome.ERROR:
            report.errors += 1
        else:
            report.broker_down = True
            break  # still down: leave the rest for the next round
    report.published = transitions.mark_published(published)
    if report.published or report.abandoned or report.errors:
        log.info("outbox: %s", report)
    return report


def _give_turns_everywhere(limit: int) -> None:
    """Turns on every declared queue (retries that came due; a turn a crash left ungiven); a run
    waiting on a queue no longer declared ends failed, as the outbox ends a published one."""
    declared = list(settings.ATOMFLEET_QUEUES)
    for queue in declared:
        try:
            with transaction.atomic():
                fairness.give_turns(queue)
        except Exception:  # one queue's trouble never stops another's turns
            log.exception("could not give turns on queue %s", queue)
    orphans = (AtomRun.objects.filter(turn_at__isnull=True, status__in=_WAITING).exclude(queue__in=declared)
               .values_list("id", "queue")[:limit])
    for run_id, queue in orphans:
        transitions.abandon(str(run_id), ErrorCode.UNKNOWN_QUEUE,
                            f"queue {queue!r} is no longer declared (ATOMFLEET_QUEUES)")


def outbox_stats() -> OutboxStats:
    """How many runs wait to be published, and for how long the oldest has (scrape time)."""
    pending = AtomRun.objects.filter(_due())
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    from django.utils import timezone

    age = (timezone.now() - oldest).total_seconds() if oldest else None
    return OutboxStats(waiting=pending.count(), oldest_age_seconds=age)
