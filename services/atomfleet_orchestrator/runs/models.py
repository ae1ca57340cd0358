"""``AtomRun``: one execution request of one atom, owned by a tenant."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from atomfleet_orchestrator.tenancy.models import Tenant


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
WAITING_STATUSES = (RunStatus.QUEUED, RunStatus.RETRYING)


def new_task_id() -> str:
    return str(uuid.uuid4())


class AtomRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="runs")
    created_by = models.CharField(max_length=150)
    atom = models.CharField(max_length=200)
    queue = models.CharField(max_length=40)
    args = models.JSONField()
    # NULL, not "", means "no key": the partial unique constraint below ignores NULLs.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=500, blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    # Name of the artifact holding the result when it was too large to keep inline.
    result_artifact = models.CharField(max_length=200, blank=True, default="")
    artifacts = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)

    # The message id the run is waiting for; a new dispatch (re-dispatch after worker loss)
    # changes it, and messages carrying an old id are dropped.
    celery_task_id = models.CharField(max_length=64, default=new_task_id)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=200, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="uniq_idempotency_key_per_tenant",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="run_tenant_created"),
            # The outbox dispatcher and the reconciler scan by status.
            models.Index(fields=["status", "dispatched_at"], name="run_status_dispatched"),
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"{self.atom} {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES
