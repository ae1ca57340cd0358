"""Webhook fixtures: a real ``celery worker -Q webhooks`` and beat (fan-out and publishing, as
deployed) on short timings, tenants, endpoints and events (the feature's input)."""

from __future__ import annotations

import ipaddress
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from rest_framework.test import APIClient

from atomfleet_orchestrator.events import log
from atomfleet_orchestrator.events.models import Event, EventType
from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant
from atomfleet_orchestrator.webhooks.models import WebhookDelivery
from tests.support.live_api import database_url
from tests.support.workers import WorkerFleet

# The schedule shortened: 1 s, then 2 s between attempts, ten attempts; no jitter so the tests can
# reason about time. The lease is above the timeout as production requires.
TIMINGS = {
    # Ten attempts over ~40 s: a loaded machine must not exhaust a delivery while its test waits.
    "ATOMFLEET_WEBHOOK_RETRY_SCHEDULE": "0,1,2,2,2,5,5,5,8,8",
    "ATOMFLEET_WEBHOOK_RETRY_JITTER": "0",
    "ATOMFLEET_WEBHOOK_TIMEOUT": "2",
    "ATOMFLEET_WEBHOOK_LEASE_SECONDS": "4",
    "ATOMFLEET_WEBHOOK_DISPATCH_TIMEOUT": "5",
    "ATOMFLEET_WEBHOOK_INTERVAL": "0.3",
    "ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
}


@pytest.fixture(scope="module")
def senders(django_db_setup: None, broker_redis: redis.Redis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerFleet]:
    env = {
        **os.environ, **TIMINGS,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONUNBUFFERED": "1",
    }
    fleet = WorkerFleet(("webhooks",), env, tmp_path_factory.mktemp("webhook-senders"))
    fleet.start("webhooks", concurrency=2)
    fleet.start_beat()
    try:
        fleet.wait_consuming("webhooks")
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture
def loopback_allowed(settings: Any) -> None:
    """This process (the API in-process) admits 127.0.0.0/8 like the senders do."""
    settings.ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.fixture
def hook_tenant(db: None) -> tuple[Tenant, APIClient]:
    tenant = Tenant.objects.create(slug="hooks", name="Hooks")
    _, raw = ApiToken.issue(tenant, "hooks-user")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return tenant, client


@pytest.fixture
def emit() -> Callable[..., Event]:
    """Insert an event row as the event log's writer does (the input of webhooks)."""

    def insert(tenant: Tenant, type_: str, **data: Any) -> Event:
        log.emit(EventType(type_), tenant_id=tenant.id, run_id=uuid.uuid4(), data={"status": type_[4:], **data})
        return Event.objects.filter(tenant=tenant).latest("id")  # autocommit: the one just written

    return insert


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.1)


def deliveries(endpoint_id: str) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(endpoint_id=endpoint_id).order_by("event_id"))
