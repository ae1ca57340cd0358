"""The served OpenAPI document: generated without a single warning, valid, and declaring what the
server does (token scheme, parameters, envelopes, every error with the shared body)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = APIClient().get("/api/v1/schema", {"format": "json"})
    assert response.status_code == 200
    return dict(response.json())


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]


def test_generation_has_no_warnings_and_the_document_validates(tmp_path: Path) -> None:
    """``--fail-on-warn`` turns every drf-spectacular warning (e.g. an unresolved authenticator)
    into an error; ``--validate`` checks the document against the OpenAPI 3 schema."""
    out = tmp_path / "openapi.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out), stderr=io.StringIO())
    assert out.read_text().startswith("openapi: 3.")


def test_every_operation_requires_the_bearer_token(schema: dict[str, Any]) -> None:
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        **schema["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer",
    }
    for path, method, op in _operations(schema):
        assert op["security"] == [{"bearerAuth": []}], (method, path)


def test_every_error_response_uses_the_shared_error_body(schema: dict[str, Any]) -> None:
    body = schema["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["error"]
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"code", "message", "details"}
    for path, method, op in _operations(schema):
        statuses = set(op["responses"])
        expected = {"401", "503"} | ({"400", "413", "415"} if "requestBody" in op else set())
        expected |= {"404"} if "{" in path else set()
        assert expected <= statuses, (method, path, statuses)
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {"application/json": {"schema": ERROR_BODY}}, (method, path, status)
        assert "Retry-After" in op["responses"]["503"]["headers"]


def test_conflicts_are_declared_where_they_happen(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    assert "409" in paths["/api/v1/atoms/{name}/runs"]["post"]["responses"]
    assert "409" in paths["/api/v1/runs/{run_id}/result"]["get"]["responses"]
    assert "409" in paths["/api/v1/runs/{run_id}/cancel"]["post"]["responses"]


def test_submit_operations_declare_the_tenant_limits(schema: dict[str, Any]) -> None:
    """429 with the error body and Retry-After + RateLimit-* on every operation that creates runs."""
    paths = schema["paths"]
    submits = [paths["/api/v1/atoms/{name}/runs"]["post"], paths["/api/v1/atoms/{name}/runs/batch"]["post"],
               paths["/api/v1/workflows"]["post"]]
    rate_headers = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"}
    for op in submits:
        responses = op["responses"]
        assert "quota_exceeded" in responses["429"]["description"] and "rate_limited" in responses["429"]["description"]
        assert {"Retry-After"} | rate_headers <= set(responses["429"]["headers"]), op["operationId"]
        assert rate_headers <= set(responses["202"]["headers"]), op["operationId"]
        assert "Retry-After" in responses["503"]["headers"]
    assert "429" not in paths["/api/v1/runs/{run_id}/cancel"]["post"]["responses"]


def test_response_envelopes_are_the_real_ones(schema: dict[str, Any]) -> None:
    paths, components = schema["paths"], schema["components"]["schemas"]
    atoms = paths["/api/v1/atoms"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert atoms == {"$ref": "#/components/schemas/AtomList"}
    assert components["AtomList"]["properties"]["results"]["type"] == "array"
    page = components["PaginatedRunList"]
    assert set(page["properties"]) == {"next", "previous", "results"} and "count" not in page["properties"]
    batch = paths["/api/v1/atoms/{name}/runs/batch"]["post"]["responses"]
    assert {"200", "202", "400", "404", "413"} <= set(batch)


def test_list_parameters_are_declared_with_their_bounds(schema: dict[str, Any]) -> None:
    params = {p["name"]: p for p in schema["paths"]["/api/v1/runs"]["get"]["parameters"]}
    assert set(params) == {"status", "atom", "queue", "cursor", "limit"}
    assert params["status"]["schema"]["enum"] == sorted(["queued", "running", "retrying", "succeeded", "failed", "cancelled"])
    assert params["limit"]["schema"] | {} == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}


def test_request_bodies_are_strict_and_required(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    submit = components["SubmitRun"]
    assert submit["required"] == ["args"] and submit["additionalProperties"] is False
    assert submit["properties"]["args"]["type"] == "object" and not submit["properties"]["args"].get("nullable")
    assert components["BatchSubmit"]["properties"]["items"]["maxItems"] == 1000
    upload = schema["paths"]["/api/v1/files"]["post"]["requestBody"]
    assert upload["required"] is True
    assert upload["content"]["multipart/form-data"]["schema"]["required"] == ["file"]
    for _, _, op in _operations(schema):
        if "requestBody" in op:
            assert op["requestBody"]["required"] is True


def test_server_refuses_what_the_schema_refuses(api: APIClient) -> None:
    """Spot checks of the promises above (schemathesis checks them at large in test_contract)."""
    submit = "/api/v1/atoms/text.stats/runs"
    assert api.post(submit, {"args": None}, format="json").status_code == 400
    assert api.post(submit, {"args": [1]}, format="json").status_code == 400
    assert api.post(submit, {"args": {"text": "a"}, "idempotency_key": ""}, format="json").status_code == 400
    assert api.post(submit, {"args": {"text": "a"}, "idempotency_key": "a\nb"}, format="json").status_code == 400
    assert api.post(submit, {"args": {"text": "a\x00"}}, format="json").json()["error"]["code"] == "invalid_request"
    too_deep = "[" * 100_000 + "]" * 100_000
    deep = api.generic("POST", submit, '{"args": {"text": ' + too_deep + "}}", content_type="application/json")
    assert deep.status_code == 400 and deep.json()["error"]["code"] == "malformed_json"
    huge = api.generic("POST", submit, '{"args": {"text": "a", "n": 1e999}}', content_type="application/json")
    assert huge.status_code == 400
    assert api.get("/api/v1/runs", {"offset": "null"}).status_code == 200  # not a parameter: ignored
    assert api.get("/api/v1/runs", {"limit": "null"}).status_code == 400
