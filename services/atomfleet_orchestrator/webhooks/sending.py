"""Sending deliveries: beat publishes the due ones, a sender claims one, posts it, records.

- ``publish_due`` (beat): every due delivery of an enabled endpoint is published as one task on
  the ``webhooks`` queue — pending ones whose time has come, and ``sending`` ones whose sender's
  lease ran out (it died: SIGKILL, OOM, a lost node). A published delivery no sender claimed
  within ATOMFLEET_WEBHOOK_DISPATCH_TIMEOUT (a lost message) is published again.
- ``deliver`` (a sender): claims the delivery under a row lock — due, and not held by a live
  lease — counting the attempt and taking a lease of ATOMFLEET_WEBHOOK_LEASE_SECONDS; a duplicate
  message finds nothing to claim. It posts the event, then writes the outcome only while the
  claim is still its own (the attempt counter), so a sender that outlived its lease changes
  nothing. Every attempt carries the delivery's id as ``webhook-id``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from atomfleet_orchestrator.events.models import Event
from atomfleet_orchestrator.webhooks.destinations import DestinationRefused, resolve
from atomfleet_orchestrator.webhooks.metrics import record_attempt, record_outcome
from atomfleet_orchestrator.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from atomfleet_orchestrator.webhooks.signing import signature_header
from atomfleet_orchestrator.webhooks.tasks import DELIVER_TASK, QUEUE

__all__ = ["DELIVER_TASK", "QUEUE", "PublishReport", "deliver", "publish_due", "signing_secrets"]

log = logging.getLogger(__name__)
# Answers whose Retry-After sets the next attempt (Standard Webhooks).
_RETRY_AFTER_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = "atomfleet-webhooks/1"


@dataclass
class PublishReport:
    published: int = 0
    broker_down: bool = False


def _ago(seconds: float) -> Any:
    return Now() - timedelta(seconds=seconds)


def _due() -> Q:
    return Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=Now()) | Q(
        status=DeliveryStatus.SENDING, lease_until__lte=Now()
    )


def publish_due(limit: int | None = None) -> PublishReport:
    """Beat: publish the due deliveries (oldest first), then stamp them; a crash between the two
    publishes them again next round, a harmless duplicate."""
    from atomfleet_orchestrator.celery import app
    from atomfleet_orchestrator.runs.dispatch import BROKER_ERRORS

    limit = limit or settings.ATOMFLEET_WEBHOOK_BATCH
    unpublished = Q(published_at__isnull=True) | Q(published_at__lte=_ago(settings.ATOMFLEET_WEBHOOK_DISPATCH_TIMEOUT))
    due = (WebhookDelivery.objects.filter(_due(), unpublished, endpoint__enabled=True)
           .order_by("next_attempt_at").values_list("id", flat=True)[:limit])
    report, sent = PublishReport(), []
    for delivery_id in due:
        try:
            app.send_task(DELIVER_TASK, args=[str(delivery_id)], queue=QUEUE)
        except BROKER_ERRORS as exc:
            log.warning("broker unavailable, webhook deliveries wait: %s", exc)
            report.broker_down = True
            break
        sent.append(delivery_id)
    if sent:
        report.published = WebhookDelivery.objects.filter(id__in=sent).update(published_at=Now())
    return report


def _claim(delivery_id: str) -> WebhookDelivery | None:
    lease = timedelta(seconds=settings.ATOMFLEET_WEBHOOK_LEASE_SECONDS)
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint")
                    .filter(_due(), id=delivery_id, endpoint__enabled=True).first())
        if delivery is None:
            return None  # done, not due, held by a live sender, or its endpoint is disabled
        WebhookDelivery.objects.filter(id=delivery.id).update(
            status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, lease_until=Now() + lease,
            published_at=None, last_attempt_at=Now(),
        )
    delivery.attempts += 1
    return delivery


def signing_secrets(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    """The current secret, and the previous one during its rotation grace period."""
    now = now or timezone.now()
    previous = endpoint.previous_secret_until is not None and endpoint.previous_secret_until > now
    return [endpoint.secret] + ([endpoint.previous_secret] if previous and endpoint.previous_secret else [])


def body_of(event: Event) -> bytes:
    """``{"type", "timestamp", "data"}``: what happened and where to read more, never results."""
    data: dict[str, Any] = {"event_id": event.id}
    links: dict[str, str] = {}
    if event.run_id:
        data["run_id"] = str(event.run_id)
        links["run"] = f"/api/v1/runs/{event.run_id}"
    if event.workflow_id:
        data["workflow_id"] = str(event.workflow_id)
        links["workflow"] = f"/api/v1/workflows/{event.workflow_id}"
    data.update(event.data or {})
    data.setdefault("links", links)
    timestamp = event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event.type, "timestamp": timestamp, "data": data}, separators=(",", ":")).encode()


@dataclass
class _Answer:
    result: str  # an ATTEMPT_RESULTS label
    status_code: int | None = None
    latency: float | None = None
    retry_after: float | None = None
    error: str = ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def _post(delivery: WebhookDelivery, body: bytes) -> _Answer:
    endpoint = delivery.endpoint
    try:
        destination = resolve(endpoint.url)  # at every send: the address connected to is checked
    except DestinationRefused as exc:
        return _Answer("refused", error=exc.message)
    timestamp = int(time.time())
    headers = {
        "host": destination.host_header,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(signing_secrets(endpoint), delivery.webhook_id, timestamp, body),
    }
    extensions = {"sni_hostname": destination.sni_hostname} if destination.sni_hostname else {}
    started = time.monotonic()
    try:
        # No redirects (a 3xx is a failed attempt), no proxies from the environment, the body
        # of the answer is never read.
        with (
            httpx.Client(timeout=settings.ATOMFLEET_WEBHOOK_TIMEOUT, follow_redirects=False, trust_env=False) as client,
            client.stream("POST", destination.url, content=body, headers=headers, extensions=extensions) as response,
        ):
            latency = time.monotonic() - started
            code = response.status_code
            retry_after = _retry_after(response.headers.get("retry-after"))
    except httpx.TimeoutException as exc:
        return _Answer("timeout", error=f"no answer within {settings.ATOMFLEET_WEBHOOK_TIMEOUT:g}s ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return _Answer("network_error", error=f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= code < 300:
        return _Answer("success", code, latency)
    if code == 410:
        return _Answer("gone", code, latency, error="the endpoint answered 410 Gone")
    if code in _RETRY_AFTER_STATUSES:
        return _Answer("throttled", code, latency, retry_after, error=f"HTTP {code}")
    return _Answer("http_error", code, latency, error=f"HTTP {code}")


def _next_delay(failures: int, answer: _Answer) -> float | None:
    """Seconds until the next attempt after ``failures`` failed ones, or None: the schedule is spent."""
    schedule = settings.ATOMFLEET_WEBHOOK_RETRY_SCHEDULE
    if failures >= len(schedule):
        return None
    if answer.retry_after is not None:
        return min(answer.retry_after, settings.ATOMFLEET_WEBHOOK_MAX_RETRY_AFTER)
    delay: float = schedule[failures]
    return delay * (1 + random.random() * settings.ATOMFLEET_WEBHOOK_RETRY_JITTER)


def _record(delivery: WebhookDelivery, answer: _Answer) -> str:
    """Write the attempt's outcome if the claim is still ours; returns the delivery's new status."""
    mine = WebhookDelivery.objects.filter(id=delivery.id, attempts=delivery.attempts, status=DeliveryStatus.SENDING)
    common: dict[str, Any] = {
        "last_status_code": answer.status_code,
        "last_latency_ms": None if answer.latency is None else round(answer.latency * 1000),
        "last_error": answer.error[:500], "lease_until": None, "published_at": None,
    }
    changes: dict[str, Any]
    if answer.result == "success":
        status, changes = DeliveryStatus.DELIVERED, {"delivered_at": Now()}
    elif answer.result == "gone":
        status, changes = DeliveryStatus.FAILED, {"failures": F("failures") + 1}
    else:
        failures = delivery.failures + 1
        delay = _next_delay(failures, answer)
        if delay is None:
            status, changes = DeliveryStatus.FAILED, {"failures": failures}
        else:
            status = DeliveryStatus.PENDING
            changes = {"failures": failures, "next_attempt_at": Now() + timedelta(seconds=delay)}
    with transaction.atomic():
        if not mine.update(status=status, **common, **changes):
            return "superseded"
        if answer.result == "gone":
            WebhookEndpoint.objects.filter(id=delivery.endpoint_id).update(
                enabled=False, updated_at=Now(),
                disabled_reason=f"answered 410 Gone to delivery {delivery.id} at {timezone.now().isoformat()}",
            )
    return status


def deliver(delivery_id: str) -> str:
    """The ``webhooks`` task: one attempt of one delivery; returns what became of it."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "not_due"
    event = Event.objects.filter(id=delivery.event_id).first()
    if event is None:
        WebhookDelivery.objects.filter(id=delivery.id, attempts=delivery.attempts).update(
            status=DeliveryStatus.FAILED, lease_until=None, last_error="event_expired: pruned from the event log",
        )
        record_outcome("expired")
        return "expired"
    answer = _post(delivery, body_of(event))
    record_attempt(answer.result, answer.latency)
    status = _record(delivery, answer)
    if status == DeliveryStatus.DELIVERED:
        record_outcome("delivered")
    elif status == DeliveryStatus.FAILED:
        record_outcome("endpoint_gone" if answer.result == "gone" else "failed")
    log.info("webhook %s attempt %d to %s: %s -> %s", delivery.webhook_id, delivery.attempts,
             delivery.endpoint.url, answer.result if answer.status_code is None else answer.status_code, status)
    return str(status)
