"""``POST /api/v1/workflows``: every refusal names its step; idempotency; tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.workflows.helpers import step

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows"


def _refused(api: APIClient, steps: list[dict[str, Any]], **body: Any) -> dict[str, list[Any]]:
    response = api.post(URL, {"steps": steps, **body}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_workflow", error
    return {e["step"]: e["problems"] for e in error["details"]["errors"]}


def test_an_unknown_atom_is_named_with_its_step(api: APIClient) -> None:
    errors = _refused(api, [step("a"), step("b", "a", atom="no.such_atom")])
    assert list(errors) == ["b"] and "no.such_atom" in errors["b"][0]


def test_duplicate_and_unknown_step_names_are_named(api: APIClient) -> None:
    assert list(_refused(api, [step("a"), step("a")])) == ["a"]
    errors = _refused(api, [step("a"), step("b", "ghost")])
    assert list(errors) == ["b"] and "ghost" in errors["b"][0]


def test_a_cycle_names_the_steps_in_it(api: APIClient) -> None:
    errors = _refused(api, [step("root"), step("x", "root", "z"), step("y", "x"), step("z", "y"), step("w", "z")])
    assert sorted(errors) == ["x", "y", "z"]
    assert "cycle" in errors["x"][0] and "x" in errors["x"][0] and "z" in errors["x"][0]


def test_from_must_name_an_ancestor(api: APIClient) -> None:
    errors = _refused(api, [
        step("a"), step("b"),
        step("c", "a", atom="text.stats", args={"text": {"$from": "b"}}),
        step("d", "c", atom="text.stats", args={"text": {"$from": "a", "pointer": "/ok"}}),  # an ancestor: fine
    ])
    assert list(errors) == ["c"]
    assert errors["c"][0]["path"] == "$.text" and "not an ancestor" in errors["c"][0]["message"]
    bad_pointer = _refused(api, [step("a"), step("b", "a", atom="text.stats",
                                                 args={"text": {"$from": "a", "pointer": "no-slash"}})])
    assert list(bad_pointer) == ["b"]


def test_literal_arguments_are_checked_placeholders_exempt(api: APIClient) -> None:
    errors = _refused(api, [
        step("a"),
        step("b", "a", atom="text.stats", args={"text": {"$from": "a"}, "top": "many"}),
        step("c", "a", atom="text.stats", args={"text": {"$from": "a"}}),  # the placeholder is exempt
    ])
    assert list(errors) == ["b"] and errors["b"] == [{"path": "$.top", "message": "'many' is not of type 'integer'"}]


@override_settings(ATOMFLEET_WORKFLOW_MAX_STEPS=3)
def test_more_steps_than_the_limit_are_refused(api: APIClient) -> None:
    errors = _refused(api, [step(f"s{i}") for i in range(4)])
    assert list(errors) == ["s3"] and "at most 3 steps" in errors["s3"][0]


def test_body_shape_errors_are_invalid_request(api: APIClient) -> None:
    for body in ({"steps": []}, {"steps": [{"name": "a"}]}, {"steps": [step("a")], "on_failure": "never"},
                 {"steps": [step("a", run_if="sometimes")]}, {"steps": [step("a")], "extra": 1}):
        response = api.post(URL, body, format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request", body


def test_the_same_key_returns_the_same_workflow_and_another_body_conflicts(api: APIClient) -> None:
    body = {"idempotency_key": "import-42", "steps": [step("a"), step("b", "a")]}
    first = api.post(URL, body, format="json")
    assert first.status_code == 202 and first["Location"].endswith(f"/api/v1/workflows/{first.json()['id']}")
    again = api.post(URL, body, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = api.post(URL, {**body, "steps": [step("a")]}, format="json")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert other.json()["error"]["details"] == {"workflow_id": first.json()["id"]}


def test_the_answer_and_the_runs_show_the_contract(api: APIClient) -> None:
    created = api.post(URL, {"steps": [step("a"), step("b", "a", run_if="all_done")]}, format="json").json()
    assert set(created) >= {"id", "status", "on_failure", "created_at", "finished_at", "error", "steps"}
    assert (created["status"], created["on_failure"], created["error"]) == ("running", "fail_fast", None)
    a, b = created["steps"]
    assert set(a) == {"name", "atom", "queue", "status", "run_id", "attempts", "started_at", "finished_at"}
    assert (a["name"], a["status"], b["status"], b["run_id"]) == ("a", "queued", "pending", None)
    run = api.get(f"/api/v1/runs/{a['run_id']}").json()
    assert (run["workflow_id"], run["step"]) == (created["id"], "a")
    single = api.post("/api/v1/atoms/text.stats/runs", {"args": {"text": "x"}}, format="json").json()
    assert (single["workflow_id"], single["step"]) == (None, "")


def test_another_tenants_workflow_is_not_found_and_not_listed(api: APIClient, other_api: APIClient) -> None:
    mine = api.post(URL, {"steps": [step("a")]}, format="json").json()
    theirs = other_api.post(URL, {"steps": [step("a")]}, format="json").json()
    for path in ("", "/cancel", "/retry"):
        method = other_api.get if not path else other_api.post
        response = method(f"{URL}/{mine['id']}{path}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "workflow_not_found", path
    assert [w["id"] for w in api.get(URL).json()["results"]] == [mine["id"]]
    assert [w["id"] for w in other_api.get(URL).json()["results"]] == [theirs["id"]]


def test_list_pages_and_filters_by_status(api: APIClient) -> None:
    ids = [api.post(URL, {"steps": [step("a")]}, format="json").json()["id"] for _ in range(3)]
    api.post(f"{URL}/{ids[0]}/cancel")
    page = api.get(URL, {"limit": 2}).json()
    assert [w["id"] for w in page["results"]] == ids[::-1][:2] and page["next"]
    rest = api.get(page["next"]).json()
    assert [w["id"] for w in rest["results"]] == [ids[0]]
    assert [w["id"] for w in api.get(URL, {"status": "cancelled"}).json()["results"]] == [ids[0]]
    bad = api.get(URL, {"status": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_parameter"


def test_cancel_and_retry_answer_conflicts_in_the_shared_error_body(api: APIClient) -> None:
    created = api.post(URL, {"steps": [step("a")]}, format="json").json()
    running_retry = api.post(f"{URL}/{created['id']}/retry")
    assert running_retry.status_code == 409 and running_retry.json()["error"]["code"] == "workflow_running"
    cancelled = api.post(f"{URL}/{created['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["steps"][0]["status"] == "cancelled"
    retried = api.post(f"{URL}/{created['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "running"
    assert retried.json()["steps"][0]["status"] == "queued"
    assert retried.json()["steps"][0]["run_id"] != cancelled.json()["steps"][0]["run_id"]
