"""Webhook endpoints, their deliveries and the fan-out cursor."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from atomfleet_orchestrator.tenancy.models import Tenant

__all__ = ["DeliveryStatus", "FanoutCursor", "WebhookDelivery", "WebhookEndpoint"]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waits for next_attempt_at (or for its endpoint to be enabled again)
    SENDING = "sending"  # a sender holds it until lease_until
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # the schedule is spent, or the endpoint answered 410


_ACTIVE = [DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True, default="")
    # Event type patterns: exact types, `family.*` or `*` (webhooks.patterns).
    events = models.JSONField()
    enabled = models.BooleanField(default=True)
    # Why the service disabled it (a 410 answer); empty when enabled or disabled by the tenant.
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    secret = models.CharField(max_length=100)
    # After a rotation the old secret also signs until previous_secret_until (database clock).
    previous_secret = models.CharField(max_length=100, blank=True, default="")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.url}"


class WebhookDelivery(models.Model):
    """One event for one endpoint. Its id is the `webhook-id`: every attempt, retry and replay of
    the event to the endpoint carries the same one, so receivers can deduplicate."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # No foreign key: pruning the event log never waits on deliveries (a delivery whose event
    # was pruned fails with `event_expired`).
    event_id = models.BigIntegerField()
    event_type = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    # Claims (a fencing counter: a sender writes its outcome only while this is still its claim).
    attempts = models.PositiveIntegerField(default=0)
    # Failures since the delivery was (re)scheduled: the index into the retry schedule.
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_default=Now())
    lease_until = models.DateTimeField(null=True, blank=True)
    # Last publish to the `webhooks` queue (NULL: waits for beat to publish it).
    published_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The fan-out and replays may meet an event twice: never two deliveries of it.
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="uniq_delivery_per_event"),
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at", "-id"], name="delivery_endpoint_created"),
            # Beat reads only active deliveries: the partial index stays small as history grows.
            models.Index(fields=["next_attempt_at"], name="delivery_active", condition=Q(status__in=_ACTIVE)),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} ({self.status})"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.id.hex}"


class FanoutCursor(models.Model):
    """The fan-out's position in the event log: every event with an id up to ``last_event_id``
    has its deliveries. One row (name ``webhooks``)."""

    name = models.CharField(max_length=40, primary_key=True)
    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"{self.name}@{self.last_event_id}"
