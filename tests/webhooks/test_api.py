"""The webhooks API in-process: shapes, tenancy, validation, SSRF refusals, rotation, replay and
retry of deliveries, the OpenAPI contract."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from atomfleet_orchestrator.webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db

PUBLIC = "http://93.184.215.14/hooks"  # a global address: allowed without any setting


def _create(client: APIClient, url: str = PUBLIC, events: list[str] | None = None) -> Any:
    return client.post("/api/v1/webhooks", {"url": url, "events": events or ["*"]}, format="json")


def test_create_shows_the_secret_once_and_reads_never(hook_tenant: Any, other_api: APIClient) -> None:
    _, client = hook_tenant
    created = _create(client, events=["run.succeeded", "workflow.*"])
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    assert body["events"] == ["run.succeeded", "workflow.*"]
    hook_id = body["id"]
    assert "secret" not in client.get(f"/api/v1/webhooks/{hook_id}").json()
    assert [h["id"] for h in client.get("/api/v1/webhooks").json()["results"]] == [hook_id]
    # Another tenant sees nothing.
    assert other_api.get(f"/api/v1/webhooks/{hook_id}").json()["error"]["code"] == "webhook_not_found"
    assert other_api.get("/api/v1/webhooks").json()["results"] == []
    changed = client.patch(f"/api/v1/webhooks/{hook_id}", {"events": ["run.*"], "enabled": False}, format="json")
    assert (changed.json()["events"], changed.json()["enabled"]) == (["run.*"], False)
    assert client.delete(f"/api/v1/webhooks/{hook_id}").status_code == 204
    assert client.get(f"/api/v1/webhooks/{hook_id}").status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"url": PUBLIC, "events": ["run.exploded"]}, "events"),
    ({"url": PUBLIC, "events": []}, "events"),
    ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
    ({"url": PUBLIC, "events": ["*"], "secret": "mine"}, "non_field_errors"),
])
def test_bad_bodies_are_refused_with_the_shared_error(hook_tenant: Any, body: dict[str, Any], field: str) -> None:
    response = hook_tenant[1].post("/api/v1/webhooks", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request" and field in response.json()["error"]["details"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]/x", "http://10.1.2.3/x", "http://192.168.0.10/x",
    "http://172.16.5.4/x", "http://169.254.169.254/latest/meta-data", "http://100.64.0.1/x", "http://224.0.0.1/x",
    "http://0.0.0.0/x", "http://[fd00:ec2::254]/x", "http://[::ffff:127.0.0.1]/x", "http://100.100.100.200/x",
    "http://[fe80::1]/x",
])
def test_ssrf_destinations_are_refused(hook_tenant: Any, url: str) -> None:
    response = _create(hook_tenant[1], url)
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "webhook_url_refused"
    assert response.json()["error"]["details"]["setting"] == "ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS"


def test_an_unresolvable_host_is_refused(hook_tenant: Any) -> None:
    response = _create(hook_tenant[1], "http://no-such-host.invalid/x")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "webhook_url_unresolvable")


def test_a_resolver_that_does_not_answer_is_refused_within_the_resolve_timeout(
    hook_tenant: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The seam: the system resolver with a name server that never answers (glibc: 5 s a try).
    def unanswered(*args: Any, **kwargs: Any) -> Any:
        time.sleep(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", unanswered)
    settings.ATOMFLEET_WEBHOOK_RESOLVE_TIMEOUT = 0.5
    started = time.monotonic()
    response = _create(hook_tenant[1], "http://slow-dns.example/x")
    took = time.monotonic() - started
    assert (response.status_code, response.json()["error"]["code"]) == (400, "webhook_url_unresolvable")
    assert "within 0.5s" in response.json()["error"]["message"]
    assert took < 2, took


def test_allowed_networks_admit_loopback_only_as_listed(hook_tenant: Any, loopback_allowed: None) -> None:
    assert _create(hook_tenant[1], "http://127.0.0.1:9/x").status_code == 201
    assert _create(hook_tenant[1], "http://10.0.0.1/x").json()["error"]["code"] == "webhook_url_refused"


def test_rotation_keeps_the_old_secret_for_the_grace_period(hook_tenant: Any, settings: Any) -> None:
    settings.ATOMFLEET_WEBHOOK_SECRET_GRACE_SECONDS = 3600
    client = hook_tenant[1]
    first = _create(client).json()
    rotated = client.post(f"/api/v1/webhooks/{first['id']}/rotate-secret").json()
    assert rotated["secret"] != first["secret"]
    until = timezone.datetime.fromisoformat(rotated["previous_secret_until"])
    assert timedelta(minutes=59) < until - timezone.now() <= timedelta(hours=1)


def test_replay_and_retry_schedule_deliveries_again(hook_tenant: Any, emit: Any) -> None:
    tenant, client = hook_tenant
    before = emit(tenant, "run.succeeded")  # older than the webhook: only a replay sends it
    hook = _create(client, events=["run.succeeded"]).json()
    emit(tenant, "run.failed")  # not subscribed
    since = (before.created_at - timedelta(seconds=1)).isoformat()
    replayed = client.post(f"/api/v1/webhooks/{hook['id']}/replay", {"since": since}, format="json")
    assert replayed.status_code == 202 and replayed.json() == {"events": 1, "deliveries": 1}
    delivery = WebhookDelivery.objects.get(endpoint_id=hook["id"])
    assert delivery.event_id == before.id
    WebhookDelivery.objects.filter(id=delivery.id).update(status="failed", failures=10)  # as if spent
    retried = client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery.id}/retry")
    assert retried.status_code == 202
    assert (retried.json()["status"], retried.json()["webhook_id"]) == ("pending", delivery.webhook_id)
    again = client.post(f"/api/v1/webhooks/{hook['id']}/replay", {"since": since}, format="json").json()
    assert again == {"events": 1, "deliveries": 1} and WebhookDelivery.objects.filter(endpoint_id=hook["id"]).count() == 1
    bad = client.post(f"/api/v1/webhooks/{hook['id']}/replay", {"since": since, "until": since}, format="json")
    assert bad.status_code == 400
    page = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries?status=pending&limit=1").json()
    assert [d["id"] for d in page["results"]] == [str(delivery.id)]
    assert client.get(f"/api/v1/webhooks/{hook['id']}/deliveries?status=lost").json()["error"]["code"] == "invalid_parameter"


def test_openapi_describes_the_webhook_operations(api: APIClient) -> None:
    schema = api.get("/api/v1/schema?format=json").json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values() if isinstance(op, dict)}
    assert {"webhooks_list", "webhooks_create", "webhooks_get", "webhooks_update", "webhooks_delete",
            "webhooks_rotate_secret", "webhooks_deliveries", "webhooks_delivery_retry", "webhooks_replay"} <= operations
