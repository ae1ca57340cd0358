"""REST reads of the event log (in-process API client) and run events written by real workers."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from atomfleet_orchestrator.events.log import emit
from atomfleet_orchestrator.events.models import TERMINAL_RUN_EVENTS, Event, EventType
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import Tenant

TERMINAL_STATUS = ("succeeded", "failed", "cancelled")


@pytest.mark.django_db(transaction=True)
def test_events_page_filters_and_next(api: APIClient, tenant: Tenant) -> None:
    run_a, run_b = uuid.uuid4(), uuid.uuid4()
    emit(EventType.RUN_STARTED, tenant_id=tenant.id, run_id=run_a, data={"n": 1})
    emit(EventType.RUN_PROGRESS, tenant_id=tenant.id, run_id=run_a, data={"n": 2})
    emit(EventType.RUN_SUCCEEDED, tenant_id=tenant.id, run_id=run_b, data={"n": 3})
    first = api.get("/api/v1/events", {"limit": 2}).json()
    assert [e["data"]["n"] for e in first["results"]] == [1, 2]
    rest = api.get("/api/v1/events", {"after": first["next"]}).json()
    assert [e["data"]["n"] for e in rest["results"]] == [3] and rest["next"] == rest["results"][0]["id"]
    assert api.get("/api/v1/events", {"after": rest["next"]}).json() == {"results": [], "next": rest["next"]}
    only = api.get("/api/v1/events", {"type": "run.started,run.succeeded"}).json()["results"]
    assert [e["type"] for e in only] == ["run.started", "run.succeeded"]
    prefixed = api.get("/api/v1/events", {"type": "run.*", "run": str(run_a)}).json()["results"]
    assert [e["data"]["n"] for e in prefixed] == [1, 2]
    assert prefixed[0]["links"] == {"run": f"/api/v1/runs/{run_a}"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("params", [{"after": "-1"}, {"after": "x"}, {"type": "run.*x"}, {"type": "RUN"},
                                    {"run": "nope"}, {"run": ""}, {"workflow": ""}, {"limit": "0"},
                                    {"limit": "100000"}])
def test_bad_event_queries_are_400_with_the_error_body(api: APIClient, params: dict[str, str]) -> None:
    response = api.get("/api/v1/events", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter"


@pytest.mark.django_db(transaction=True)
def test_tenants_never_see_each_others_events(api: APIClient, other_api: APIClient, tenant: Tenant) -> None:
    run = api.post("/api/v1/atoms/text.stats/runs", {"args": {"text": "a b"}}, format="json").json()
    mine = api.get(f"/api/v1/runs/{run['id']}/events").json()["results"]
    # A worker of the session's fleet may already have started it: the first event is the acceptance.
    assert mine[0]["type"] == "run.accepted" and {e["run_id"] for e in mine} == {run["id"]}
    assert mine[0]["data"]["status"] == "queued" and mine[0]["data"]["atom"] == "text.stats"
    theirs = other_api.get(f"/api/v1/runs/{run['id']}/events")
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "run_not_found"
    assert other_api.get("/api/v1/events").json()["results"] == []
    assert other_api.get("/api/v1/events", {"run": run["id"]}).json()["results"] == []


@pytest.mark.django_db(transaction=True)
def test_stream_token_request_is_checked(api: APIClient) -> None:
    ok = api.post("/api/v1/events/stream-token", {"type": ["run.*"]}, format="json")
    assert ok.status_code == 201 and "/api/v1/events/stream?token=" in ok.json()["stream_url"]
    bad = api.post("/api/v1/events/stream-token", {"type": ["Run!"]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_parameter"
    missing = api.post("/api/v1/events/stream-token")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "invalid_request"
    assert api.post("/api/v1/events/stream-token", {}, format="json").status_code == 201
    not_a_uuid = api.post("/api/v1/events/stream-token", {"workflow": False}, format="json")
    assert not_a_uuid.status_code == 400  # DRF would take false as the UUID 0
    unknown = api.post("/api/v1/events/stream-token", {"runs": "x"}, format="json")
    assert unknown.status_code == 400


@pytest.mark.fleet
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
@pytest.mark.usefixtures("worker_fleet")
def test_every_terminal_run_has_exactly_one_terminal_event(api: APIClient, wait_for: Any) -> None:
    """Runs that succeed, fail after a retry, are cancelled waiting and cancelled running, through
    real workers: each has one terminal event, matching its row, after its other events."""
    submit = lambda atom, args: api.post(f"/api/v1/atoms/{atom}/runs", {"args": args}, format="json").json()["id"]  # noqa: E731
    ok = submit("diagnostics.sleep", {"seconds": 0.6, "steps": 3})
    retried = submit("diagnostics.sleep", {"seconds": 0.1, "steps": 1, "fail_attempts": 1})
    failed = submit("text.stats", {"text": "x" * 10})
    running = submit("diagnostics.sleep", {"seconds": 20, "steps": 20})
    wait_for(running, lambda r: r["status"] == "running")
    assert api.post(f"/api/v1/runs/{running}/cancel").status_code == 202
    runs = [ok, retried, failed, running]
    for run_id in runs:
        wait_for(run_id)
    time.sleep(0.5)
    for run_id in runs:
        row = AtomRun.objects.get(id=run_id)
        events = list(Event.objects.filter(run_id=run_id).order_by("id"))
        terminal = [e for e in events if e.type in TERMINAL_RUN_EVENTS]
        assert [e.type for e in terminal] == [f"run.{row.status}"], (row.status, [e.type for e in events])
        assert events[-1] == terminal[0] and events[0].type == "run.accepted"
        assert terminal[0].data["status"] == row.status and terminal[0].data["attempt"] == row.attempts
    ok_types = [e.type for e in Event.objects.filter(run_id=ok).order_by("id")]
    assert ok_types[:2] == ["run.accepted", "run.started"] and "run.progress" in ok_types
    retried_types = [e.type for e in Event.objects.filter(run_id=retried).order_by("id")]
    assert retried_types.count("run.started") == 2 and "run.retrying" in retried_types


@pytest.mark.django_db(transaction=True)
def test_a_workflows_events_are_its_tenants_only(api: APIClient, other_api: APIClient) -> None:
    body = {"steps": [{"name": "a", "atom": "text.stats", "args": {"text": "a b"}},
                      {"name": "b", "atom": "text.stats", "after": ["a"], "args": {"text": "c"}}]}
    workflow = api.post("/api/v1/workflows", body, format="json").json()
    # Readers stop below the oldest transaction in flight (the session's workers may hold one).
    deadline = time.monotonic() + 30
    while len((mine := api.get(f"/api/v1/workflows/{workflow['id']}/events").json())["results"]) < 2:
        assert time.monotonic() < deadline, mine
        time.sleep(0.2)
    # The workflow's own events and its steps' runs' (the session's fleet may have started a).
    assert [e["type"] for e in mine["results"]][:2] == ["workflow.started", "run.accepted"]
    assert {e["workflow_id"] for e in mine["results"]} == {workflow["id"]}
    assert mine["results"][1]["data"]["step"] == "a"
    only = api.get(f"/api/v1/workflows/{workflow['id']}/events", {"type": "workflow.*"}).json()["results"]
    assert [e["type"] for e in only][:1] == ["workflow.started"] and all(e["type"].startswith("workflow.") for e in only)
    theirs = other_api.get(f"/api/v1/workflows/{workflow['id']}/events")
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "workflow_not_found"
    bad = api.get(f"/api/v1/workflows/{workflow['id']}/events", {"after": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_parameter"
