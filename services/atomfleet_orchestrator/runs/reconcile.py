"""The reconciler: enforces the deadlines of running and published runs (beat, every round).

- **running, heartbeat older than ATOMFLEET_STALE_AFTER_SECONDS**: its execution is gone (the
  worker's main process refreshes the heartbeat while the pool process lives). Retried when the
  atom is idempotent and attempts are left, cancelled if that was requested, else failed
  (``worker_lost`` / ``attempts_exhausted``). The worker itself kills an execution whose lease it
  could not renew before this deadline (``leases``), so a run never executes twice at once.
- **published, not claimed within ATOMFLEET_DISPATCH_TIMEOUT_SECONDS**: when its message can no
  longer be waiting in the queue — the queue holds nothing published before it — the message was
  lost (prefetched by a killed worker, dropped by a Redis restart, acked by a claim that failed),
  so the run goes back to the outbox and is published again with the same task id. A run whose
  message may still wait behind a long backlog is left alone: a backlog is not a fault.
- **workflows** (``workflows.engine.repair``): a running workflow with every step terminal is
  ended, and a due step never released is released or skipped.

Everything is read and compared on the database clock, except the publish stamps of the messages
in Redis, which are compared with a margin for clock skew between the API, beat and the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from atomfleet.metrics import RedisQueueStats
from atomfleet_orchestrator.atoms import registry
from atomfleet_orchestrator.observability import record_reconciler_action
from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.dispatch import dispatch_outbox, oldest_per_queue
from atomfleet_orchestrator.runs.lifecycle import WAITING, Deadlines, RunStatus
from atomfleet_orchestrator.runs.models import AtomRun

__all__ = ["CLOCK_SKEW_MARGIN", "ReconcileReport", "reconcile"]

log = logging.getLogger(__name__)
#: Seconds of clock difference tolerated between message publish stamps and the database clock.
CLOCK_SKEW_MARGIN = 10.0
_BATCH = 500


@dataclass
class ReconcileReport:
    lost: dict[str, int] = field(default_factory=dict)  # new status -> runs
    redispatched: int = 0

    @property
    def requeued(self) -> int:
        return self.lost.get(RunStatus.RETRYING, 0)

    @property
    def failed(self) -> int:
        return self.lost.get(RunStatus.FAILED, 0)


def _recover_stale(deadlines: Deadlines, report: ReconcileReport) -> None:
    stale = AtomRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=transitions.ago(deadlines.stale_after))
    for run_id, atom, spec_hash in stale.values_list("id", "atom", "spec_hash")[:_BATCH]:
        spec = registry.of_run(atom, spec_hash)
        outcome = transitions.lose(
            str(run_id),
            idempotent=spec is not None and spec.idempotent,
            backoff=spec.backoff if spec is not None else None,
            stale_after=deadlines.stale_after,
            reason=f"no heartbeat for {deadlines.stale_after:g}s: its worker was lost",
        )
        if outcome is not None:
            report.lost[outcome] = report.lost.get(outcome, 0) + 1
            log.warning("run %s (%s) lost its execution: now %s", run_id, atom, outcome)


def _queue_heads(queues: list[str]) -> dict[str, float | None] | None:
    """Publish stamp of the oldest message waiting in each queue; None if Redis cannot be read."""
    from atomfleet_orchestrator.celery import app

    stats = RedisQueueStats.from_app(app)
    if stats is None:
        return None
    try:
        return {q: s.oldest_published_at for q, s in stats.read(queues).items()}
    except Exception as exc:  # the broker is down: the next round looks again
        log.warning("dispatch deadline not checked, broker unreadable: %s", exc)
        return None


def _expire_lost_messages(deadlines: Deadlines, report: ReconcileReport) -> None:
    # Per queue, oldest publish first: a backlog on one queue (rows rightly left alone) never
    # crowds out another queue's lost messages, and within a queue the oldest rows are the ones
    # the queue head can prove lost (if the oldest may still wait, so may every later one).
    published = AtomRun.objects.filter(
        status__in=sorted(WAITING), dispatched_at__lt=transitions.ago(deadlines.dispatch_timeout)
    )
    overdue = oldest_per_queue(published, "dispatched_at", ("id", "queue", "dispatched_at"), _BATCH)
    if not overdue:
        return
    heads = _queue_heads(sorted({queue for _, queue, _ in overdue}))
    if heads is None:
        return
    for run_id, queue, dispatched_at in overdue:
        head = heads.get(queue)
        if head is not None and dispatched_at is not None and head <= dispatched_at.timestamp() + CLOCK_SKEW_MARGIN:
            continue  # its message may still wait behind older ones
        if transitions.expire_dispatch(str(run_id), deadlines.dispatch_timeout):
            report.redispatched += 1
            log.warning("run %s was published but never started; publishing it again", run_id)


def _repair_workflows() -> None:
    from atomfleet_orchestrator.workflows.engine import repair

    repaired = repair(_BATCH)
    record_reconciler_action("workflow_ended", repaired.ended)
    record_reconciler_action("workflow_step_released", repaired.released)


def reconcile() -> ReconcileReport:
    deadlines = Deadlines.from_settings()
    report = ReconcileReport()
    _recover_stale(deadlines, report)
    _expire_lost_messages(deadlines, report)
    _repair_workflows()
    for status, count in report.lost.items():
        record_reconciler_action(f"lost_{status}", count)
    record_reconciler_action("redispatched", report.redispatched)
    if report.redispatched or report.requeued:
        dispatch_outbox()  # now, not at the next dispatcher round
    return report
