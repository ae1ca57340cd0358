"""Workflows through real workers on the three queues: the engine advances in the workers' own
terminal writes, with nothing but the API between the test and the fleet."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.workflows.helpers import step

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fleet, pytest.mark.usefixtures("worker_fleet")]

URL = "/api/v1/workflows"
CSV = b"x\n1\n2\n"
Wait = Callable[..., dict[str, Any]]


def _submit(api: APIClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(URL, body, format="json")
    assert response.status_code == 202, response.content
    return dict(response.json())


def _wait(api: APIClient, workflow_id: str, predicate: Callable[[dict[str, Any]], bool] | None = None,
          timeout: float = 90) -> dict[str, Any]:
    predicate = predicate or (lambda w: w["status"] != "running")
    deadline = time.monotonic() + timeout
    while True:
        workflow = dict(api.get(f"{URL}/{workflow_id}").json())
        if predicate(workflow):
            return workflow
        if time.monotonic() > deadline:
            raise AssertionError(f"workflow {workflow_id} did not get there in {timeout}s: {workflow}")
        time.sleep(0.2)


def _steps(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in workflow["steps"]}


def test_the_issues_diamond_runs_across_the_three_queues(api: APIClient) -> None:
    key = api.post("/api/v1/files", {"file": SimpleUploadedFile("u.csv", CSV)}, format="multipart").json()["key"]
    created = _submit(api, {"idempotency_key": "import-42", "on_failure": "fail_fast", "steps": [
        {"name": "validate", "atom": "data.validate_csv",
         "args": {"file": key, "columns": [{"name": "x", "type": "number"}]}},
        {"name": "stats", "atom": "text.stats", "after": ["validate"],
         "args": {"text": {"$from": "validate", "pointer": "/report_artifact"}}},
        {"name": "fit", "atom": "forecast.autoregressive", "after": ["validate"],
         "args": {"series": [1, 2, 3, 4, 5, 6, 7, 8]}},
        {"name": "report", "atom": "text.stats", "after": ["stats", "fit"], "run_if": "all_done",
         "args": {"text": "done"}},
    ]})
    done = _wait(api, created["id"])
    assert (done["status"], done["error"]) == ("succeeded", None), done
    steps = _steps(done)
    assert {n: (s["status"], s["queue"]) for n, s in steps.items()} == {
        "validate": ("succeeded", "io_bound"), "stats": ("succeeded", "default"),
        "fit": ("succeeded", "ml_training"), "report": ("succeeded", "default"),
    }
    # No child started before all its parents ended.
    for child, parents in {"stats": ["validate"], "fit": ["validate"], "report": ["stats", "fit"]}.items():
        assert all(steps[child]["started_at"] >= steps[p]["finished_at"] for p in parents), steps
    stats_run = api.get(f"/api/v1/runs/{steps['stats']['run_id']}").json()
    assert stats_run["args"] == {"text": "report.json"}  # `$from` resolved from validate's result
    assert (stats_run["workflow_id"], stats_run["step"]) == (created["id"], "stats")
    assert api.get(f"/api/v1/runs/{steps['stats']['run_id']}/result").json()["result"]["words"] == 2


def test_a_failing_step_under_fail_fast_fails_the_workflow_and_skips_the_rest(api: APIClient) -> None:
    created = _submit(api, {"steps": [
        step("breaks", args={"seconds": 0.1, "fail_with": "long_code"}),
        step("slow", args={"seconds": 2}),
        step("never", "breaks"),
        step("after_slow", "slow"),
    ]})
    done = _wait(api, created["id"])
    steps = _steps(done)
    assert done["status"] == "failed" and done["error"]["step"] == "breaks", done
    assert steps["breaks"]["status"] == "failed"
    assert steps["slow"]["status"] == "succeeded"  # it was running: it finished
    assert (steps["never"]["status"], steps["never"]["run_id"]) == ("skipped", None)
    assert steps["after_slow"]["status"] == "skipped"


def test_cancelling_a_running_workflow_stops_its_running_step(api: APIClient, wait_for: Wait) -> None:
    created = _submit(api, {"steps": [step("long", args={"seconds": 60, "steps": 120}), step("next", "long")]})
    run_id = created["steps"][0]["run_id"]
    wait_for(run_id, lambda r: r["status"] == "running")
    answer = api.post(f"{URL}/{created['id']}/cancel")
    assert answer.status_code == 202 and answer.json()["cancel_requested"], answer.content
    assert _steps(answer.json())["next"]["status"] == "cancelled"
    started = time.monotonic()
    done = _wait(api, created["id"], timeout=30)
    assert done["status"] == "cancelled" and time.monotonic() - started < 30
    assert _steps(done)["long"]["status"] == "cancelled"


def test_retry_after_a_failure_reruns_only_what_failed(api: APIClient) -> None:
    created = _submit(api, {"on_failure": "finish_branches", "steps": [
        step("ok", args={"seconds": 0.1}),
        step("flaky", args={"seconds": 0.1, "fail_with": "long_code"}),
        step("joined", "ok", "flaky", args={"seconds": 0.1}),
    ]})
    failed = _wait(api, created["id"])
    assert failed["status"] == "failed" and _steps(failed)["joined"]["status"] == "skipped", failed
    ok_run = _steps(failed)["ok"]["run_id"]
    retried = api.post(f"{URL}/{created['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "running"
    # Still fails the same way (its args are the same): only "flaky" ran again, "ok" kept its run.
    again = _wait(api, created["id"])
    steps = _steps(again)
    assert steps["ok"]["run_id"] == ok_run and steps["flaky"]["run_id"] != _steps(failed)["flaky"]["run_id"]
    assert again["status"] == "failed" and steps["joined"]["status"] == "skipped"
