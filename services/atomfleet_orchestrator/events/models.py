"""``Event``: one state change of a run or workflow, owned by a tenant.

The id orders events the way readers page through them (``events.log`` assigns it, ``events.read``
explains why paging by it never misses or repeats an event). ``run_id``/``workflow_id`` carry no
foreign key: pruning runs never waits on the event table, and events outlive nothing they point to
for long (``ATOMFLEET_EVENT_RETENTION_DAYS``).
"""

from __future__ import annotations

import enum

from django.db import models
from django.db.models.functions import Now

from atomfleet_orchestrator.tenancy.models import Tenant

__all__ = ["Event", "EventType"]


class EventType(enum.StrEnum):
    RUN_ACCEPTED = "run.accepted"
    RUN_STARTED = "run.started"
    RUN_PROGRESS = "run.progress"
    RUN_RETRYING = "run.retrying"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"
    WORKFLOW_STARTED = "workflow.started"
    WORKFLOW_SUCCEEDED = "workflow.succeeded"
    WORKFLOW_FAILED = "workflow.failed"
    WORKFLOW_CANCELLED = "workflow.cancelled"
    WORKFLOW_STEP_SKIPPED = "workflow.step_skipped"


TERMINAL_RUN_EVENTS = frozenset({EventType.RUN_SUCCEEDED, EventType.RUN_FAILED, EventType.RUN_CANCELLED})


class Event(models.Model):
    # Assigned by events.log (never by a sequence): see events.read for the ordering it gives.
    id = models.BigIntegerField(primary_key=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    type = models.CharField(max_length=40)
    run_id = models.UUIDField(null=True, blank=True)
    workflow_id = models.UUIDField(null=True, blank=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["tenant", "id"], name="event_tenant_id"),
            models.Index(fields=["run_id", "id"], name="event_run_id"),
            models.Index(fields=["workflow_id", "id"], name="event_workflow_id"),
            models.Index(fields=["created_at"], name="event_created"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"
