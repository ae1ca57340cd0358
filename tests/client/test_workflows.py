"""The client's workflow calls against a real local HTTP server answering issue 17's contract:
what is sent, how answers are read, what is retried and what is never sent twice."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from atomfleet.client import (
    AsyncClient,
    BadRequest,
    Client,
    Conflict,
    NotFound,
    Retries,
    Run,
    Step,
    TransportError,
    Workflow,
    WorkflowWaitTimeout,
)
from tests.client.test_retries import RUN_ID, fast, run_json
from tests.support.scripted_http import Answer, ScriptedServer, drop, unavailable
from tests.support.workflow_json import DIAMOND, WORKFLOW_ID, page_json, workflow_json

pytestmark = pytest.mark.timeout(60)

DONE = {"validate": "succeeded", "stats": "succeeded", "fit": "succeeded", "report": "succeeded"}


def _diamond_steps() -> list[Step]:
    validate = Step("validate", "data.validate_csv",
                    {"file": "uploads/x.csv", "columns": [{"name": "x", "type": "number"}]})
    stats = Step("stats", "text.stats", {"text": validate.output("/report_artifact")}, after=[validate])
    fit = Step("fit", "forecast.autoregressive", {"series": [1, 2, 3, 4, 5, 6, 7, 8]}, after=["validate"])
    report = Step("report", "text.stats", {"text": "done"}, after=[stats, fit], run_if="all_done")
    return [validate, stats, fit, report]


def test_submit_sends_the_contracts_body_and_reads_the_workflow() -> None:
    with ScriptedServer(Answer(202, workflow_json(steps={"validate": "queued"}))) as server, \
            Client(server.url, "tok") as client:
        workflow = client.submit_workflow(_diamond_steps(), on_failure="fail_fast", idempotency_key="import-42")
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("POST", "/api/v1/workflows")
    assert json.loads(seen.body) == DIAMOND  # Step objects and output() give the example
    assert isinstance(workflow, Workflow) and workflow.id == WORKFLOW_ID and workflow.status == "running"
    assert [s.name for s in workflow.steps] == ["validate", "stats", "fit", "report"]
    assert [(s.queue, s.status) for s in workflow.steps] == [
        ("io_bound", "queued"), ("default", "pending"), ("ml_training", "pending"), ("default", "pending")]
    assert workflow.step("validate").run_id is not None and workflow.step("stats").run_id is None
    assert not workflow.is_terminal and workflow.created_at.year == 2026 and workflow.finished_at is None


def test_submit_takes_the_apis_own_step_objects_and_omits_unset_options() -> None:
    with ScriptedServer(Answer(202, workflow_json())) as server, Client(server.url, "tok") as client:
        client.submit_workflow(DIAMOND["steps"])
    assert json.loads(server.seen[0].body) == {"steps": DIAMOND["steps"]}


def test_a_submit_with_a_key_is_retried_with_the_same_body_and_without_one_never_sent_twice() -> None:
    retries, recorder = fast()
    with ScriptedServer(drop(), unavailable("0"), Answer(200, workflow_json())) as server, \
            Client(server.url, "tok", retries=retries) as client:
        assert client.submit_workflow(_diamond_steps(), idempotency_key="import-42").id == WORKFLOW_ID
    assert len(server.seen) == 3 and len({s.body for s in server.seen}) == 1
    assert [e.reason for e in recorder.events] == ["RemoteProtocolError", "503"]

    with ScriptedServer(drop(), Answer(202, workflow_json())) as server, \
            Client(server.url, "tok", retries=retries) as client, pytest.raises(TransportError):
        client.submit_workflow(_diamond_steps())
    assert len(server.seen) == 1


def test_get_reads_every_field_of_an_ended_workflow() -> None:
    failed = workflow_json("failed", {"validate": "succeeded", "stats": "failed", "fit": "succeeded",
                                      "report": "skipped"},
                           error={"step": "stats", "code": "atom_error", "message": "boom"})
    with ScriptedServer(Answer(200, failed)) as server, Client(server.url, "tok") as client:
        workflow = client.get_workflow(WORKFLOW_ID)
    assert server.seen[0].path == f"/api/v1/workflows/{WORKFLOW_ID}"
    assert workflow.is_terminal and not workflow.succeeded and workflow.finished_at is not None
    assert (workflow.error.step, workflow.error.code, workflow.error.message) == ("stats", "atom_error", "boom")
    stats = workflow.step("stats")
    assert stats.is_terminal and stats.attempts == 1 and stats.seconds == 1.5
    report = workflow.step("report")
    assert report.status == "skipped" and report.is_terminal and report.run_id is None and report.seconds is None
    with pytest.raises(KeyError, match="no step 'nope'"):
        workflow.step("nope")


def test_unknown_workflow_and_refused_submission_raise_the_apis_error() -> None:
    refused = {"error": {"code": "invalid_workflow", "message": "the workflow is invalid",
                         "details": [{"step": "fit", "problems": ["unknown parent 'nope'"]}]}}
    missing = {"error": {"code": "workflow_not_found", "message": "no such workflow", "details": None}}
    with ScriptedServer(Answer(400, refused), Answer(404, missing)) as server, Client(server.url, "tok") as client:
        with pytest.raises(BadRequest) as bad:
            client.submit_workflow(DIAMOND["steps"], idempotency_key="k")
        with pytest.raises(NotFound) as nf:
            client.get_workflow("nope")
    assert bad.value.code == "invalid_workflow" and bad.value.details[0]["step"] == "fit"
    assert nf.value.code == "workflow_not_found" and len(server.seen) == 2


def test_wait_polls_with_backoff_until_the_workflow_ends() -> None:
    script = [Answer(200, workflow_json(steps={"validate": "running"}))] * 4 + [Answer(200, workflow_json("succeeded", DONE))]
    seen: list[str] = []
    with ScriptedServer(*script) as server, Client(server.url, "tok") as client:
        started = time.monotonic()
        workflow = client.wait_workflow(WORKFLOW_ID, timeout=30, poll_interval=0.05, max_poll_interval=0.1,
                                        on_update=lambda w: seen.append(w.status))
        elapsed = time.monotonic() - started
    assert workflow.succeeded and seen == ["running"] * 4 + ["succeeded"]
    # Four pauses: 0.05, 0.075, then capped at 0.1 twice.
    assert 0.3 <= elapsed < 5 and len(server.seen) == 5


def test_wait_gives_up_with_the_last_state_seen() -> None:
    with ScriptedServer(Answer(200, workflow_json(steps={"validate": "running"}))) as server, \
            Client(server.url, "tok") as client, pytest.raises(WorkflowWaitTimeout) as caught:
        client.wait_workflow(WORKFLOW_ID, timeout=0.3, poll_interval=0.05)
    assert isinstance(caught.value, TimeoutError) and caught.value.code == "wait_timeout"
    assert caught.value.workflow.step("validate").status == "running" and len(server.seen) >= 2


def test_list_sends_filters_and_follows_cursors() -> None:
    first = page_json(workflow_json("failed", workflow_id="w1"), next_cursor="abc")
    second = page_json(workflow_json("failed", workflow_id="w2"))
    with ScriptedServer(Answer(200, first), Answer(200, second)) as server, Client(server.url, "tok") as client:
        page = client.list_workflows(status="failed", limit=1)
        assert [w.id for w in page.items] == ["w1"] and page.next_cursor == "abc" and page.has_next
        rest = client.list_workflows(status="failed", limit=1, cursor=page.next_cursor)
    assert [w.id for w in rest.items] == ["w2"] and rest.next_cursor is None
    assert [s.path for s in server.seen] == ["/api/v1/workflows?status=failed&limit=1",
                                             "/api/v1/workflows?status=failed&limit=1&cursor=abc"]
    with ScriptedServer(Answer(200, first), Answer(200, second)) as server, Client(server.url, "tok") as client:
        assert [w.id for w in client.iter_workflows(status="failed")] == ["w1", "w2"]


def test_cancel_is_asked_again_after_a_lost_answer_and_retry_never_is() -> None:
    retries, _ = fast()
    cancelling = workflow_json(steps={"validate": "running", "stats": "cancelled", "fit": "cancelled",
                                      "report": "cancelled"})
    with ScriptedServer(drop(), Answer(202, cancelling)) as server, Client(server.url, "tok", retries=retries) as client:
        workflow = client.cancel_workflow(WORKFLOW_ID)
    assert [s.path for s in server.seen] == [f"/api/v1/workflows/{WORKFLOW_ID}/cancel"] * 2
    assert workflow.step("report").status == "cancelled"

    with ScriptedServer(drop(), Answer(202, workflow_json())) as server, \
            Client(server.url, "tok", retries=retries) as client, pytest.raises(TransportError):
        client.retry_workflow(WORKFLOW_ID)
    assert len(server.seen) == 1  # a second retry could re-run steps that failed again meanwhile


def test_retry_of_a_running_workflow_is_a_conflict() -> None:
    body = {"error": {"code": "workflow_running", "message": "only an ended workflow can be retried",
                      "details": None}}
    with ScriptedServer(Answer(409, body)) as server, Client(server.url, "tok", retries=Retries(attempts=1)) as client, \
            pytest.raises(Conflict) as caught:
        client.retry_workflow(WORKFLOW_ID)
    assert caught.value.http_status == 409 and server.seen[0].path.endswith("/retry")


def test_a_step_run_names_its_workflow_and_step() -> None:
    with ScriptedServer(Answer(200, run_json("running", workflow_id=WORKFLOW_ID, step="fit")),
                        Answer(200, run_json("running"))) as server, Client(server.url, "tok") as client:
        step_run, single = client.run(RUN_ID), client.run(RUN_ID)
    assert isinstance(step_run, Run) and (step_run.workflow_id, step_run.step) == (WORKFLOW_ID, "fit")
    assert (single.workflow_id, single.step) == (None, "")


def test_the_async_client_speaks_the_same_workflow_api() -> None:
    retries, _ = fast()

    async def scenario(url: str) -> tuple[Any, ...]:
        async with AsyncClient(url, "tok", retries=retries) as client:
            submitted = await client.submit_workflow(_diamond_steps(), idempotency_key="import-42")
            ended = await client.wait_workflow(submitted.id, timeout=30, poll_interval=0.02)
            listed = [w.id async for w in client.iter_workflows(status="succeeded")]
            cancelled = await client.cancel_workflow(submitted.id)
            retried = await client.retry_workflow(submitted.id)
            return submitted, ended, listed, cancelled, retried

    script = [
        Answer(202, workflow_json()), drop(),  # the submit; then a GET whose answer is lost
        Answer(200, workflow_json(steps={"validate": "running"})),
        Answer(200, workflow_json("succeeded", DONE)),
        Answer(200, page_json(workflow_json("succeeded", DONE), next_cursor="c2")),
        Answer(200, page_json(workflow_json("succeeded", DONE, workflow_id="w0"))),
        Answer(202, workflow_json("cancelled")), Answer(202, workflow_json()),
    ]
    with ScriptedServer(*script) as server:
        submitted, ended, listed, cancelled, retried = asyncio.run(scenario(server.url))
    assert json.loads(server.seen[0].body) == {"steps": DIAMOND["steps"], "idempotency_key": "import-42"}
    assert submitted.status == "running" and ended.succeeded and listed == [WORKFLOW_ID, "w0"]
    assert cancelled.status == "cancelled" and retried.status == "running"
    assert [(s.method, s.path.split("?")[0]) for s in server.seen] == [
        ("POST", "/api/v1/workflows"), *[("GET", f"/api/v1/workflows/{WORKFLOW_ID}")] * 3,
        ("GET", "/api/v1/workflows"), ("GET", "/api/v1/workflows"),
        ("POST", f"/api/v1/workflows/{WORKFLOW_ID}/cancel"), ("POST", f"/api/v1/workflows/{WORKFLOW_ID}/retry"),
    ]
