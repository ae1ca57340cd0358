"""Submitting runs: every bad input gets a specific error in one shape, and loses nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = pytest.mark.django_db

URL = "/api/v1/atoms/text.stats/runs"


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return dict(body["error"])


def test_submit_returns_202_with_the_run_and_its_url(api: APIClient, tenant: Tenant, django_capture_on_commit_callbacks: Any) -> None:
    response = api.post(URL, {"args": {"text": "a b a"}}, format="json")
    assert response.status_code == 202
    run = response.json()
    assert run["status"] == "queued" and run["atom"] == "text.stats" and run["queue"] == "default"
    assert run["url"].endswith(f"/api/v1/runs/{run['id']}") and response["Location"] == run["url"]
    assert run["created_by"] == "acme-user"
    assert AtomRun.objects.get(id=run["id"]).tenant == tenant


def test_unauthenticated_is_401(db: None) -> None:
    _error(APIClient().post(URL, {"args": {"text": "x"}}, format="json"), 401, "unauthenticated")
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer nope")
    _error(bad.get("/api/v1/runs"), 401, "unauthenticated")


def test_unknown_atom_is_404(api: APIClient) -> None:
    error = _error(api.post("/api/v1/atoms/no.such/runs", {"args": {}}, format="json"), 404, "unknown_atom")
    assert "text.stats" in error["details"]["atoms"]


def test_args_failing_the_schema_are_400_with_json_paths(api: APIClient) -> None:
    response = api.post(
        "/api/v1/atoms/data.validate_csv/runs",
        {"args": {"file": "k", "columns": [{"name": "a", "type": "blob"}, {"type": "string"}]}},
        format="json",
    )
    error = _error(response, 400, "invalid_args")
    paths = {p["path"] for p in error["details"]["problems"]}
    assert paths == {"$.columns[0].type", "$.columns[1]"}
    assert AtomRun.objects.count() == 0


def test_malformed_json_is_400(api: APIClient) -> None:
    response = api.generic("POST", URL, '{"args": {"text": ', content_type="application/json")
    _error(response, 400, "malformed_json")


def test_wrong_content_type_is_415(api: APIClient) -> None:
    response = api.generic("POST", URL, "args=1", content_type="application/x-www-form-urlencoded")
    _error(response, 415, "unsupported_media_type")


@override_settings(ATOMFLEET_MAX_REQUEST_BYTES=2048)
def test_body_over_the_limit_is_413(api: APIClient) -> None:
    error = _error(api.post(URL, {"args": {"text": "x" * 5000}}, format="json"), 413, "payload_too_large")
    assert error["details"] == {"limit_bytes": 2048}
    assert AtomRun.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [([1, 2], "JSON object"), ({"args": {"text": "x"}, "atom": "x"}, "unknown fields: atom"), ({}, "args")],
)
def test_body_shape_errors_are_400(api: APIClient, body: Any, fragment: str) -> None:
    error = _error(api.post(URL, body, format="json"), 400, "invalid_request")
    assert fragment in str(error)


def test_same_idempotency_key_and_args_return_the_original_run(api: APIClient, django_capture_on_commit_callbacks: Any) -> None:
    body = {"args": {"text": "same"}, "idempotency_key": "order-42"}
    first = api.post(URL, body, format="json")
    again = api.post(URL, body, format="json")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert AtomRun.objects.count() == 1


def test_same_idempotency_key_with_other_args_is_409(api: APIClient, django_capture_on_commit_callbacks: Any) -> None:
    first = api.post(URL, {"args": {"text": "one"}, "idempotency_key": "k"}, format="json")
    error = _error(api.post(URL, {"args": {"text": "two"}, "idempotency_key": "k"}, format="json"), 409, "idempotency_conflict")
    assert error["details"]["run_id"] == first.json()["id"]
    assert AtomRun.objects.get().args == {"text": "one"}


def test_idempotency_keys_are_per_tenant(api: APIClient, other_api: APIClient, django_capture_on_commit_callbacks: Any) -> None:
    mine = api.post(URL, {"args": {"text": "a"}, "idempotency_key": "k"}, format="json")
    theirs = other_api.post(URL, {"args": {"text": "b"}, "idempotency_key": "k"}, format="json")
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]


def test_another_tenants_file_key_is_rejected(api: APIClient, other_api: APIClient) -> None:
    upload = other_api.post("/api/v1/files", {"file": _csv("theirs.csv")}, format="multipart").json()
    error = _error(
        api.post("/api/v1/atoms/data.validate_csv/runs",
                 {"args": {"file": upload["key"], "columns": [{"name": "a", "type": "string"}]}}, format="json"),
        400, "invalid_args",
    )
    assert error["details"]["problems"][0]["path"] == "$.file"


def test_missing_file_key_is_rejected(api: APIClient) -> None:
    _error(
        api.post("/api/v1/atoms/data.validate_csv/runs",
                 {"args": {"file": "tenants/acme/uploads/0/none.csv", "columns": [{"name": "a", "type": "string"}]}},
                 format="json"),
        400, "invalid_args",
    )


def _csv(name: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, b"a\n1\n", content_type="text/csv")


def test_upload_returns_a_tenant_scoped_key(api: APIClient) -> None:
    response = api.post("/api/v1/files", {"file": _csv("data.csv")}, format="multipart")
    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith("tenants/acme/uploads/") and body["key"].endswith("/data.csv")
    assert body["size"] == 4


def test_upload_without_file_field_is_400(api: APIClient) -> None:
    _error(api.post("/api/v1/files", {"other": "x"}, format="multipart"), 400, "missing_file")


@override_settings(ATOMFLEET_MAX_UPLOAD_BYTES=1024)
def test_upload_over_its_limit_is_413(api: APIClient) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    big = SimpleUploadedFile("big.csv", b"x" * 4096, content_type="text/csv")
    _error(api.post("/api/v1/files", {"file": big}, format="multipart"), 413, "payload_too_large")
