"""A workflow's events, written by the engine in the transaction of each change: started (submit,
retry), step_skipped per step that will not run, and one ending event; its steps' runs write theirs."""

from __future__ import annotations

from typing import Any

import pytest

from atomfleet_orchestrator.events.models import TERMINAL_RUN_EVENTS, Event
from atomfleet_orchestrator.runs.lifecycle import TERMINAL
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import Tenant
from atomfleet_orchestrator.workflows import engine
from atomfleet_orchestrator.workflows.models import Workflow
from tests.workflows.helpers import fail, reloaded, run_of, start, step, submit, succeed

pytestmark = pytest.mark.django_db


def _workflow_events(workflow: Workflow) -> list[tuple[str, dict[str, Any]]]:
    return [(e.type, e.data) for e in Event.objects.filter(workflow_id=workflow.id, type__startswith="workflow.")]


def _types(workflow: Workflow) -> list[str]:
    return [t for t, _ in _workflow_events(workflow)]


def _one_terminal_event_per_terminal_run(workflow: Workflow) -> None:
    for run in AtomRun.objects.filter(workflow_id=workflow.id):
        ends = list(Event.objects.filter(run_id=run.id, type__in=[str(t) for t in TERMINAL_RUN_EVENTS]))
        if run.status in TERMINAL:
            assert [e.type for e in ends] == [f"run.{run.status}"], (run.step, run.status, ends)
        else:
            assert ends == [], (run.step, run.status)


def test_fail_fast_writes_started_skips_and_one_failed_event(tenant: Tenant) -> None:
    workflow = submit(tenant, [step("a"), step("b"), step("c"), step("d", "a"), step("e", "b"),
                               step("report", "a", "b", run_if="all_done")])
    assert _workflow_events(workflow) == [("workflow.started", {"status": "running", "steps": 6})]
    running_b = start(workflow, "b")
    fail(workflow, "a")
    skipped = Event.objects.filter(workflow_id=workflow.id, type="workflow.step_skipped")
    assert sorted(e.data["step"] for e in skipped) == ["c", "d", "e", "report"]
    # c's queued run was cancelled by fail_fast: its skip names the run.
    assert {e.data["step"]: e.run_id for e in skipped}["c"] == run_of(workflow, "c").id
    assert "workflow.failed" not in _types(workflow)  # b still runs
    succeed(workflow, "b", execution=running_b)
    assert _types(workflow)[-1] == "workflow.failed"
    assert _workflow_events(workflow)[-1][1] == {"status": "failed", "error_step": "a", "error_code": "atom_error",
                                                 "error_message": "a broke"}
    _one_terminal_event_per_terminal_run(workflow)
    engine.repair()  # nothing more to end: no second ending event
    assert _types(workflow).count("workflow.failed") == 1


def test_a_skipped_child_and_a_refused_run_have_their_events(tenant: Tenant) -> None:
    workflow = submit(tenant, [
        step("a"), step("child", "a"),
        step("refused", "a", atom="text.stats", args={"text": {"$from": "a", "pointer": "/nope"}}),
    ], on_failure="finish_branches")
    fail(workflow, "a")
    assert [(e.type, e.data["step"]) for e in Event.objects.filter(type="workflow.step_skipped",
                                                                    workflow_id=workflow.id)] == [
        ("workflow.step_skipped", "child"), ("workflow.step_skipped", "refused")]
    assert _types(workflow)[-1] == "workflow.failed"

    other = submit(tenant, [step("a"), step("refused", "a", atom="text.stats",
                                              args={"text": {"$from": "a", "pointer": "/nope"}})],
                   on_failure="finish_branches")
    succeed(other, "a", result={"n": 1})
    refused = run_of(other, "refused")
    assert (refused.status, refused.error_code) == ("failed", "unresolvable_input")
    # A run refused at release was never queued: its one event is its end.
    assert [e.type for e in Event.objects.filter(run_id=refused.id)] == ["run.failed"]
    _one_terminal_event_per_terminal_run(other)


def test_cancel_and_retry_write_their_events(tenant: Tenant) -> None:
    workflow = submit(tenant, [step("a"), step("b", "a")])
    engine.cancel(str(workflow.id))
    assert _types(workflow) == ["workflow.started", "workflow.cancelled"]  # cancelled steps are not skips
    engine.cancel(str(workflow.id))  # again: a no-op, no second event
    engine.retry(str(workflow.id))
    assert _workflow_events(workflow)[-1] == ("workflow.started", {"status": "running", "steps": 2, "retry": True})
    succeed(workflow, "a")
    succeed(workflow, "b")
    assert reloaded(workflow).status == "succeeded"
    assert _types(workflow) == ["workflow.started", "workflow.cancelled", "workflow.started", "workflow.succeeded"]
    _one_terminal_event_per_terminal_run(workflow)


def test_the_events_commit_with_the_change_or_not_at_all(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("crash while releasing")

    monkeypatch.setattr(engine, "create_run", broken)
    with pytest.raises(RuntimeError):
        submit(tenant, [step("a")])
    # The submission was rolled back: no workflow, and no event of one.
    assert not Workflow.objects.exists()
    assert not Event.objects.filter(type__startswith="workflow.").exists()
