"""What the API does to endpoints and deliveries: create, change, rotate, retry, replay."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from atomfleet_orchestrator.events.models import Event
from atomfleet_orchestrator.http.errors import ApiError
from atomfleet_orchestrator.tenancy.models import Tenant
from atomfleet_orchestrator.webhooks.destinations import DestinationRefused, resolve
from atomfleet_orchestrator.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from atomfleet_orchestrator.webhooks.patterns import matches
from atomfleet_orchestrator.webhooks.signing import new_secret

__all__ = ["create", "endpoint_for", "replay", "retry", "rotate_secret", "update"]

# Scheduled again: due now, the retry schedule from its start.
_RESCHEDULED: dict[str, Any] = {
    "status": DeliveryStatus.PENDING, "failures": 0, "next_attempt_at": Now(), "published_at": None,
    "lease_until": None,
}


def _check_url(url: str) -> None:
    try:
        resolve(url)
    except DestinationRefused as exc:
        raise ApiError(400, exc.code, exc.message, {"field": "url", "setting": "ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS"}) from None


def endpoint_for(tenant: Tenant, endpoint_id: Any) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(id=endpoint_id, tenant=tenant).first()
    if endpoint is None:  # another tenant's endpoint is not found either
        raise ApiError(404, "webhook_not_found", f"no webhook {endpoint_id}")
    return endpoint


def create(tenant: Tenant, url: str, events: list[str], description: str) -> WebhookEndpoint:
    _check_url(url)
    limit = settings.ATOMFLEET_WEBHOOK_MAX_ENDPOINTS
    if WebhookEndpoint.objects.filter(tenant=tenant).count() >= limit:
        raise ApiError(409, "webhook_limit_reached", f"a tenant has at most {limit} webhooks",
                       {"limit": limit, "setting": "ATOMFLEET_WEBHOOK_MAX_ENDPOINTS"})
    endpoint = WebhookEndpoint.objects.create(
        tenant=tenant, url=url, events=events, description=description, secret=new_secret()
    )
    endpoint.refresh_from_db(fields=["created_at", "updated_at"])
    return endpoint


def update(endpoint: WebhookEndpoint, changes: dict[str, Any]) -> WebhookEndpoint:
    if "url" in changes:
        _check_url(changes["url"])
    if changes.get("enabled") is True:
        changes["disabled_reason"] = ""
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.updated_at = Now()
    endpoint.save(update_fields=[*changes, "updated_at"])
    endpoint.refresh_from_db()
    return endpoint


def rotate_secret(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; the old one also signs for ATOMFLEET_WEBHOOK_SECRET_GRACE_SECONDS."""
    grace = settings.ATOMFLEET_WEBHOOK_SECRET_GRACE_SECONDS
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(id=endpoint.id)
        locked.previous_secret, locked.secret = locked.secret, new_secret()
        locked.previous_secret_until = timezone.now() + timedelta(seconds=grace) if grace else None
        locked.updated_at = Now()
        locked.save(update_fields=["previous_secret", "secret", "previous_secret_until", "updated_at"])
    locked.refresh_from_db()
    return locked


def retry(endpoint: WebhookEndpoint, delivery_id: Any) -> WebhookDelivery:
    """Send one delivery again now (delivered or failed ones too), with the same webhook-id."""
    delivery = WebhookDelivery.objects.filter(id=delivery_id, endpoint=endpoint).first()
    if delivery is None:
        raise ApiError(404, "delivery_not_found", f"no delivery {delivery_id} of webhook {endpoint.id}")
    held = Q(status=DeliveryStatus.SENDING, lease_until__gt=Now())
    if not WebhookDelivery.objects.filter(id=delivery.id).exclude(held).update(**_RESCHEDULED):
        raise ApiError(409, "delivery_in_progress", "a sender is delivering it now; its outcome shows shortly")
    delivery.refresh_from_db()
    return delivery


def replay(endpoint: WebhookEndpoint, since: datetime, until: datetime | None) -> tuple[int, int]:
    """Deliver again every event of ``[since, until)`` the endpoint subscribes to (the same
    webhook-ids for events it had received). Returns (events, deliveries scheduled)."""
    until = until or timezone.now()
    if until <= since:
        raise ApiError(400, "invalid_request", "`until` must be after `since`", {"since": since, "until": until})
    limit = settings.ATOMFLEET_WEBHOOK_REPLAY_MAX_EVENTS
    events = list(Event.objects.filter(tenant_id=endpoint.tenant_id, created_at__gte=since, created_at__lt=until)
                  .order_by("id")[: limit + 1])
    if len(events) > limit:
        raise ApiError(400, "replay_too_large", f"the range holds more than {limit} events: replay a shorter one",
                       {"limit": limit, "setting": "ATOMFLEET_WEBHOOK_REPLAY_MAX_EVENTS"})
    wanted = [e for e in events if matches(endpoint.events, e.type)]
    # Older events than the endpoint are wanted here: replay is how an endpoint gets them.
    rows = [WebhookDelivery(endpoint=endpoint, event_id=e.id, event_type=e.type) for e in wanted]
    with transaction.atomic():
        existing = set(WebhookDelivery.objects.filter(endpoint=endpoint, event_id__in=[e.id for e in wanted])
                       .values_list("event_id", flat=True))
        WebhookDelivery.objects.bulk_create([r for r in rows if r.event_id not in existing], ignore_conflicts=True)
        WebhookDelivery.objects.filter(endpoint=endpoint, event_id__in=existing).update(**_RESCHEDULED)
    return len(wanted), len(rows)
