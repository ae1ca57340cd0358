"""Reading runs: detail, tenant isolation, results, health (lists: test_lists.py)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.models import AtomRun, RunStatus
from atomfleet_orchestrator.runs.storage import get_store
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = pytest.mark.django_db


def _run(tenant: Tenant, **fields: Any) -> AtomRun:
    defaults: dict[str, Any] = {"atom": "text.stats", "queue": "default", "args": {"text": "x"}, "created_by": "t"}
    return AtomRun.objects.create(tenant=tenant, **{**defaults, **fields})


def test_another_tenants_run_is_404_everywhere(api: APIClient, other_api: APIClient, tenant: Tenant) -> None:
    run = _run(tenant, status=RunStatus.SUCCEEDED, result={"x": 1})
    for method, path in [
        ("get", f"/api/v1/runs/{run.id}"),
        ("post", f"/api/v1/runs/{run.id}/cancel"),
        ("get", f"/api/v1/runs/{run.id}/result"),
        ("get", f"/api/v1/runs/{run.id}/artifacts/report.json"),
    ]:
        response = getattr(other_api, method)(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "run_not_found"
    assert other_api.get("/api/v1/runs").json()["results"] == []
    assert api.get(f"/api/v1/runs/{run.id}").status_code == 200


def test_unknown_run_and_endpoint_are_json_404(api: APIClient) -> None:
    assert api.get("/api/v1/runs/00000000-0000-0000-0000-000000000000").json()["error"]["code"] == "run_not_found"
    response = api.get("/api/v1/runs/not-a-uuid")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_result_inline_and_local_artifact_stream(api: APIClient, tenant: Tenant) -> None:
    key = "tenants/acme/runs/r/report.json"
    get_store().put(key, b'{"rows": 3}', "application/json")
    run = _run(
        tenant, status=RunStatus.SUCCEEDED, result={"valid": True},
        artifacts=[{"name": "report.json", "key": key, "size": 11, "content_type": "application/json"}],
    )
    body = api.get(f"/api/v1/runs/{run.id}/result").json()
    assert body["result"] == {"valid": True}
    (artifact,) = body["artifacts"]
    assert artifact["url"].endswith(f"/api/v1/runs/{run.id}/artifacts/report.json")
    streamed = api.get(artifact["url"], HTTP_ACCEPT="application/octet-stream")  # not a 406
    assert streamed.status_code == 200 and b"".join(streamed.streaming_content) == b'{"rows": 3}'
    assert streamed["Content-Type"] == "application/octet-stream" and artifact["content_type"] == "application/json"
    assert 'filename="report.json"' in streamed["Content-Disposition"]
    assert api.get(f"/api/v1/runs/{run.id}/artifacts/other.json").json()["error"]["code"] == "artifact_not_found"


def test_result_of_an_unfinished_run_is_409(api: APIClient, tenant: Tenant) -> None:
    response = api.get(f"/api/v1/runs/{_run(tenant).id}/result")
    assert response.status_code == 409 and response.json()["error"]["code"] == "result_not_ready"


def test_cancelling_a_finished_run_is_409(api: APIClient, tenant: Tenant) -> None:
    run = _run(tenant, status=RunStatus.SUCCEEDED)
    response = api.post(f"/api/v1/runs/{run.id}/cancel")
    assert response.status_code == 409 and response.json()["error"]["code"] == "run_finished"
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_cancelling_a_queued_run_is_immediate(api: APIClient, tenant: Tenant) -> None:
    run = _run(tenant)
    response = api.post(f"/api/v1/runs/{run.id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert api.post(f"/api/v1/runs/{run.id}/cancel").status_code == 200  # again: no-op


def test_cancelling_a_running_run_flags_it(api: APIClient, tenant: Tenant) -> None:
    run = _run(tenant, status=RunStatus.RUNNING)
    response = api.post(f"/api/v1/runs/{run.id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "running" and response.json()["cancel_requested"] is True


def test_atoms_are_listed_with_their_schema(api: APIClient) -> None:
    atoms = {a["name"]: a for a in api.get("/api/v1/atoms").json()["results"]}
    assert atoms["forecast.autoregressive"]["queue"] == "ml_training"
    assert atoms["diagnostics.sleep_once"]["idempotent"] is False
    assert atoms["text.stats"]["schema"]["required"] == ["text"]


def test_openapi_schema_is_served(db: None) -> None:
    response = APIClient().get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"] if response["Content-Type"].endswith("json") else response.content.decode()
    assert "/api/v1/atoms/{name}/runs" in paths and "/api/v1/runs/{run_id}/cancel" in paths


def test_health_and_readiness(db: None) -> None:
    client = APIClient()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}
