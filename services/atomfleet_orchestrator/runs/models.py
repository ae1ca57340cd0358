"""``AtomRun``: one execution request of one atom, owned by a tenant."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from atomfleet_orchestrator.runs.lifecycle import ACTIVE, TERMINAL, WAITING, RunStatus
from atomfleet_orchestrator.tenancy.models import Tenant

__all__ = ["AtomRun", "RunStatus", "new_task_id"]

_WAITING = sorted(s.value for s in WAITING)  # plain strings: migrations import no app code
_ACTIVE = sorted(s.value for s in ACTIVE)
# Also names the enum of the OpenAPI schema (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
RUN_STATUS_CHOICES = [(s.value, s.value) for s in RunStatus]


def new_task_id() -> str:
    return str(uuid.uuid4())


class AtomRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: every run_tenant_* index below starts with the tenant.
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="runs", db_index=False)
    created_by = models.CharField(max_length=150)
    atom = models.CharField(max_length=200)
    # The registered version of the atom the arguments were validated against (atoms.registry);
    # its policy (idempotency, backoff) decides what happens after a loss. Empty before versions.
    spec_hash = models.CharField(max_length=64, blank=True, default="", db_default="")
    queue = models.CharField(max_length=40)
    args = models.JSONField()
    # NULL, not "", means "no key": the partial unique constraint below ignores NULLs.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001

    # Written only through runs.transitions (one guarded UPDATE per lifecycle transition).
    status = models.CharField(
        max_length=16, choices=RUN_STATUS_CHOICES, default=RunStatus.QUEUED.value
    )
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=500, blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    # Name of the artifact holding the result when it was too large to keep inline.
    result_artifact = models.CharField(max_length=200, blank=True, default="")
    artifacts = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    # Executions started (claims). The claim increments it, and every write an execution makes
    # names its attempt: an execution that was superseded can no longer change the run.
    attempts = models.PositiveIntegerField(default=0)
    # The atom's attempt budget when the run was accepted (1 + retries), kept with the run so
    # redeliveries, re-dispatches and rolling deploys cannot reset it.
    max_attempts = models.PositiveIntegerField(default=1)
    # When a retrying run is due (database clock); the outbox publishes it then.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    # One Celery task id for the whole run: retries and re-dispatches publish it again.
    celery_task_id = models.CharField(max_length=64, default=new_task_id)
    # When fair dispatch gave the run its turn (runs.fairness): NULL while it waits for it in
    # PostgreSQL; set with the publish, and cleared again by a retry (the next attempt waits anew).
    turn_at = models.DateTimeField(null=True, blank=True)
    # Order among the tenant's own waiting runs (9 first); never ahead of another tenant's turn.
    priority = models.PositiveSmallIntegerField(default=5, db_default=5)
    # Last publish (database clock); NULL while the run waits in the outbox.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Publishes since the run last started; capped by ATOMFLEET_MAX_REDISPATCHES.
    dispatch_count = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    # The execution holding the run: ``<worker hostname>:<pool process pid>``.
    worker = models.CharField(max_length=200, blank=True, default="")
    # Refreshed by the executing worker's main process (database clock).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    # The workflow this run is a step of (``step``: the step's name); NULL and "" for single runs.
    # Ending such a run advances its workflow in the same transaction (runs.transitions).
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.PROTECT, null=True, blank=True, related_name="runs", db_index=False
    )
    step = models.CharField(max_length=100, blank=True, default="", db_default="")

    # The database clock, like every other lifecycle timestamp: the outbox compares it with now()
    # (the API host's clock may be off). The INSERT returns it for the 202 response.
    created_at = models.DateTimeField(db_default=Now())
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="uniq_idempotency_key_per_tenant",
            )
        ]
        indexes = [
            # GET /api/v1/runs pages newest first by (-created_at, -id), a unique order, per tenant
            # and optionally one filter: each page is one range scan of one of these.
            models.Index(fields=["tenant", "-created_at", "-id"], name="run_tenant_created_id"),
            models.Index(fields=["tenant", "status", "-created_at", "-id"], name="run_tenant_status_created"),
            models.Index(fields=["tenant", "atom", "-created_at", "-id"], name="run_tenant_atom_created"),
            models.Index(fields=["tenant", "queue", "-created_at", "-id"], name="run_tenant_queue_created"),
            # Beat's rounds read only active runs: partial indexes stay small as history grows.
            models.Index(
                fields=["created_at"], name="run_outbox",
                condition=Q(status__in=_WAITING, dispatched_at__isnull=True, turn_at__isnull=False),
            ),
            # Fair dispatch (runs.fairness): the runs waiting for their turn, per queue and tenant in
            # the tenant's own order; and the runs that hold or are about to hold a slot.
            models.Index(
                fields=["queue", "tenant", "-priority", "created_at", "id"], name="run_waiting_turn",
                condition=Q(status__in=_WAITING, turn_at__isnull=True),
            ),
            models.Index(fields=["queue", "status"], name="run_turn_queue",
                         condition=Q(status__in=_ACTIVE, turn_at__isnull=False)),
            models.Index(fields=["tenant", "queue"], name="run_turn_tenant",
                         condition=Q(status__in=_ACTIVE, turn_at__isnull=False)),
            models.Index(
                fields=["dispatched_at"], name="run_dispatched",
                condition=Q(status__in=_WAITING, dispatched_at__isnull=False),
            ),
            models.Index(fields=["heartbeat_at"], name="run_running", condition=Q(status="running")),
            # A tenant's accepted-not-finished runs, counted on every submit against its quota
            # (tenancy.limits): an index-only range of the active runs alone, whatever the history.
            models.Index(fields=["tenant"], name="run_tenant_active", condition=Q(status__in=_ACTIVE)),
            # Runs of a workflow (cancel, fail_fast): single runs stay out of the index.
            models.Index(fields=["workflow"], name="run_workflow", condition=Q(workflow__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.atom} {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL
