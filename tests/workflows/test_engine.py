"""The workflow engine against the real database, driven the way executions drive it: a claim,
then the run's guarded terminal write, which advances the workflow in the same transaction.

The test drives every claim itself: what the engine publishes goes to a broker of the test's own
(``private_broker``), so no live worker (the session's ``worker_fleet``, once a fleet test started
it) claims a released step first."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from atomfleet_orchestrator.observability.metrics import WORKFLOWS_TOTAL
from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import Tenant
from atomfleet_orchestrator.workflows import engine
from atomfleet_orchestrator.workflows.models import Workflow, WorkflowStep
from tests.workflows.helpers import fail, reloaded, run_of, start, statuses, step, submit, succeed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_broker")]


def _diamond(tenant: Tenant, **body: Any) -> Workflow:
    return submit(tenant, [step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c")], **body)


def test_a_child_is_released_only_after_all_its_parents_ended(tenant: Tenant) -> None:
    workflow = _diamond(tenant)
    assert statuses(workflow) == {"a": "queued", "b": "pending", "c": "pending", "d": "pending"}
    succeed(workflow, "a")
    assert statuses(workflow) == {"a": "succeeded", "b": "queued", "c": "queued", "d": "pending"}
    succeed(workflow, "b")
    assert statuses(workflow)["d"] == "pending"
    succeed(workflow, "c")
    assert statuses(workflow)["d"] == "queued"
    d = run_of(workflow, "d")
    assert (str(d.workflow_id), d.step, d.atom, d.queue) == (str(workflow.id), "d", "diagnostics.sleep", "default")
    assert reloaded(workflow).status == "running"
    succeed(workflow, "d")
    done = reloaded(workflow)
    assert (done.status, done.open_steps, done.error_step) == ("succeeded", 0, "")
    assert done.finished_at is not None


def test_the_release_commits_with_the_parents_terminal_write_or_not_at_all(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow = _diamond(tenant)
    execution = start(workflow, "a")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("crash while releasing")

    monkeypatch.setattr(engine, "create_run", broken)
    with pytest.raises(RuntimeError):
        succeed(workflow, "a", execution=execution)
    # The parent's success was rolled back with the failed release: nothing half-done.
    assert statuses(workflow) == {"a": "running", "b": "pending", "c": "pending", "d": "pending"}
    monkeypatch.undo()
    succeed(workflow, "a", execution=execution)
    assert statuses(workflow) == {"a": "succeeded", "b": "queued", "c": "queued", "d": "pending"}


def test_single_runs_end_with_their_update_and_its_event(tenant: Tenant) -> None:
    run = AtomRun.objects.create(tenant=tenant, created_by="t", atom="diagnostics.sleep", queue="default",
                                 args={"seconds": 1})
    claimed = transitions.claim(str(run.id), run.celery_task_id, "w@t:1")
    assert isinstance(claimed, transitions.Claimed) and claimed.execution.workflow_id is None
    with CaptureQueriesContext(connection) as queries:
        assert transitions.succeed(claimed.execution, result={"x": 1}, result_artifact="", artifacts=[])
    # One statement: the run's UPDATE, its event's INSERT (events.log.evented_update) and whether
    # any run waits for a turn on its queue (runs.fairness.waiting_sql: nothing does, so no turn lock).
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert [s.split()[0] for s in statements] == ["WITH"], queries.captured_queries
    assert all(part in statements[0] for part in ('UPDATE "runs_atomrun"', "INSERT INTO events_event", "turn_at IS NULL"))


def test_fail_fast_skips_what_has_not_started_and_lets_running_steps_finish(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    workflow = submit(tenant, [step("a"), step("b"), step("c"), step("d", "a"), step("e", "b"),
                               step("report", "a", "b", run_if="all_done")])
    running_b = start(workflow, "b")
    before = WORKFLOWS_TOTAL.labels("failed")._value.get()
    with django_capture_on_commit_callbacks(execute=True):
        fail(workflow, "a")
    assert statuses(workflow) == {"a": "failed", "b": "running", "c": "skipped", "d": "skipped", "e": "skipped",
                                  "report": "skipped"}
    assert run_of(workflow, "c").status == "cancelled"  # its queued run was cancelled
    assert reloaded(workflow).status == "running"  # b still runs
    with django_capture_on_commit_callbacks(execute=True):
        succeed(workflow, "b", execution=running_b)
    done = reloaded(workflow)
    assert (done.status, done.error_step, done.error_code, done.error_message) == ("failed", "a", "atom_error", "a broke")
    assert statuses(workflow)["b"] == "succeeded"
    # Ended exactly once: counted once, and nothing further changes it.
    assert WORKFLOWS_TOTAL.labels("failed")._value.get() == before + 1
    finished_at = done.finished_at
    engine.repair()
    assert reloaded(workflow).finished_at == finished_at


def test_finish_branches_runs_what_does_not_need_the_failed_step(tenant: Tenant) -> None:
    workflow = submit(tenant, [step("a"), step("b"), step("after_a", "a"), step("after_b", "b"),
                               step("cleanup", "a", run_if="all_done")], on_failure="finish_branches")
    fail(workflow, "a")
    assert statuses(workflow) == {"a": "failed", "b": "queued", "after_a": "skipped", "after_b": "pending",
                                  "cleanup": "queued"}
    succeed(workflow, "b")
    assert statuses(workflow)["after_b"] == "queued"
    succeed(workflow, "after_b")
    succeed(workflow, "cleanup")
    done = reloaded(workflow)
    assert (done.status, done.error_step) == ("failed", "a")


def test_from_resolves_a_pointer_into_a_parents_result(tenant: Tenant) -> None:
    workflow = submit(tenant, [
        step("a"),
        step("b", "a", atom="text.stats", args={"text": {"$from": "a", "pointer": "/x/y/1"}, "top": 3}),
        step("c", "b", atom="text.stats", args={"text": {"$from": "a", "pointer": "/x/~1odd"}}),
        step("whole", "a", atom="diagnostics.sleep", args={"seconds": {"$from": "a", "pointer": "/n"}}),
    ])
    succeed(workflow, "a", result={"x": {"y": [0, "hello there"], "/odd": "escaped"}, "n": 2})
    assert run_of(workflow, "b").args == {"text": "hello there", "top": 3}
    assert run_of(workflow, "whole").args == {"seconds": 2}
    succeed(workflow, "b")
    assert run_of(workflow, "c").args == {"text": "escaped"}  # an ancestor, not only a parent


def test_from_that_cannot_be_resolved_or_validated_fails_the_step(tenant: Tenant) -> None:
    workflow = submit(tenant, [
        step("a"),
        step("missing", "a", atom="text.stats", args={"text": {"$from": "a", "pointer": "/nope"}}),
        step("wrong_type", "a", atom="text.stats", args={"text": {"$from": "a", "pointer": "/n"}}),
    ], on_failure="finish_branches")
    succeed(workflow, "a", result={"n": 2})
    missing, wrong = run_of(workflow, "missing"), run_of(workflow, "wrong_type")
    assert (missing.status, missing.error_code) == ("failed", "unresolvable_input")
    assert (wrong.status, wrong.error_code) == ("failed", "invalid_args")
    assert "$.text" in wrong.error_message
    done = reloaded(workflow)
    assert (done.status, done.error_step, done.error_code) == ("failed", "missing", "unresolvable_input")


def test_a_result_stored_by_reference_resolves_to_its_key_never_its_content(tenant: Tenant) -> None:
    workflow = submit(tenant, [
        step("big"),
        step("by_key", "big", atom="text.stats", args={"text": {"$from": "big"}}),
        step("inside", "big", atom="text.stats", args={"text": {"$from": "big", "pointer": "/forecast"}}),
    ], on_failure="finish_branches")
    execution = start(workflow, "big")
    key = f"{tenant.slug}/runs/{execution.run_id}/attempt-1/result.json"
    assert transitions.succeed(execution, result=None, result_artifact="result.json", artifacts=[
        {"name": "result.json", "key": key, "size": 10_000_000, "content_type": "application/json"}])
    assert run_of(workflow, "by_key").args == {"text": key}
    inside = run_of(workflow, "inside")
    assert (inside.status, inside.error_code) == ("failed", "unresolvable_input")


def test_cancel_cascades_and_the_workflow_ends_when_its_running_step_does(tenant: Tenant) -> None:
    workflow = submit(tenant, [step("a"), step("b"), step("c", "a"), step("d", "c")])
    running_a = start(workflow, "a")
    engine.cancel(str(workflow.id))
    assert statuses(workflow) == {"a": "running", "b": "cancelled", "c": "cancelled", "d": "cancelled"}
    assert run_of(workflow, "b").status == "cancelled"
    assert AtomRun.objects.get(id=running_a.run_id).cancel_requested
    assert reloaded(workflow).status == "running"
    # The execution honours the cooperative cancel.
    assert transitions.finish_cancelled(running_a.run_id, "cancelled on request", running_a)
    done = reloaded(workflow)
    assert (done.status, done.error_step) == ("cancelled", "")
    assert engine.cancel(str(workflow.id)).status == "cancelled"  # again: a no-op


def test_cancelling_a_workflow_with_nothing_running_ends_it_at_once(tenant: Tenant) -> None:
    workflow = _diamond(tenant)
    engine.cancel(str(workflow.id))
    assert reloaded(workflow).status == "cancelled"
    assert set(statuses(workflow).values()) == {"cancelled"}


def test_retry_reruns_only_failed_cancelled_and_skipped_steps(tenant: Tenant) -> None:
    workflow = submit(tenant, [step("a"), step("b"), step("c", "a"), step("d", "b"), step("e", "c", "d")])
    succeed(workflow, "b")
    succeed(workflow, "d")
    fail(workflow, "a")
    assert reloaded(workflow).status == "failed"
    kept = {name: run_of(workflow, name).id for name in ("b", "d")}
    failed_a = run_of(workflow, "a").id
    with pytest.raises(Exception, match="still running"):
        engine.retry(str(submit(tenant, [step("x")]).id))
    engine.retry(str(workflow.id))
    again = reloaded(workflow)
    assert (again.status, again.error_step, again.finished_at, again.open_steps) == ("running", "", None, 3)
    assert statuses(workflow) == {"a": "queued", "b": "succeeded", "c": "pending", "d": "succeeded", "e": "pending"}
    assert {name: run_of(workflow, name).id for name in ("b", "d")} == kept
    assert run_of(workflow, "a").id != failed_a
    assert AtomRun.objects.get(id=failed_a).workflow_id == workflow.id  # history keeps its workflow
    succeed(workflow, "a")
    succeed(workflow, "c")
    succeed(workflow, "e")
    assert reloaded(workflow).status == "succeeded"


def test_the_reconciler_repairs_what_a_bypassed_hook_left(tenant: Tenant) -> None:
    ended = submit(tenant, [step("a")])
    succeed(ended, "a")
    # As if the last step's end had been written without its workflow (a bug, a hand edit).
    Workflow.objects.filter(id=ended.id).update(status="running", finished_at=None)
    stuck = _diamond(tenant)
    succeed(stuck, "a")
    WorkflowStep.objects.filter(workflow=stuck, name="d").update(waiting_on=0)  # due, never released
    report = engine.repair()
    assert (report.ended, report.released) == (1, 1)
    assert reloaded(ended).status == "succeeded"
    assert statuses(stuck)["d"] == "queued"
    assert engine.repair() == engine.RepairReport()


def _queries_to_end(tenant: Tenant, fillers: int, children: int) -> int:
    """Queries of ending root ``a`` (``children`` children) in a workflow of ``fillers`` other steps."""
    steps = [step("a"), step("z")]
    steps += [step(f"child{i}", "a") for i in range(children)]
    steps += [step(f"filler{i}", "z") for i in range(fillers)]
    workflow = submit(tenant, steps)
    execution = start(workflow, "a")
    with CaptureQueriesContext(connection) as queries:
        succeed(workflow, "a", execution=execution)
    assert list(statuses(workflow).values()).count("queued") == children + 1
    return len(queries.captured_queries)


# Every ending finds room on the queue: its turns cost the same few statements whatever the queue holds.
@override_settings(ATOMFLEET_QUEUE_READY=1_000_000)
def test_releasing_children_costs_o_children_not_o_steps(tenant: Tenant) -> None:
    small = _queries_to_end(tenant, fillers=8, children=1)
    large = _queries_to_end(tenant, fillers=997, children=1)
    assert large == small, (small, large)
    ten = _queries_to_end(tenant, fillers=0, children=10)
    hundred = _queries_to_end(tenant, fillers=0, children=100)
    per_child = (hundred - ten) / 90
    print(f"queries to end a parent: {small} (10 steps), {large} (1000 steps); {ten} (10 children), {hundred} (100)")
    # Per child: the three queries of its release plus its run.accepted event (events.log).
    assert per_child <= 4 and ten - 10 * per_child <= small, (small, ten, hundred)


@pytest.mark.django_db(transaction=True)
def test_the_claim_reports_the_release_wait_and_beat_counts_waiting_steps(tenant: Tenant) -> None:
    from atomfleet_orchestrator.observability.fleet import DatabaseCollector

    def gauge() -> float:
        collector = DatabaseCollector(lambda: [])
        family = next(f for f in collector.collect() if f.name == "atomfleet_workflow_steps_waiting")
        return float(family.samples[0].value)

    workflow = _diamond(tenant)
    assert gauge() == 3  # b, c, d wait on parents
    first = start(workflow, "a")
    assert first.workflow_id == str(workflow.id)
    succeed(workflow, "a", execution=first)
    assert gauge() == 1
    run = run_of(workflow, "b")
    claimed = transitions.claim(str(run.id), run.celery_task_id, "w@t:2")
    assert isinstance(claimed, transitions.Claimed)
    assert claimed.release_wait is not None and 0 <= claimed.release_wait < 30
    single = AtomRun.objects.create(tenant=tenant, created_by="t", atom="diagnostics.sleep", queue="default",
                                    args={"seconds": 1}, dispatched_at=Now(), dispatch_count=1)  # not for beat's outbox
    claimed_single = transitions.claim(str(single.id), single.celery_task_id, "w@t:3")
    assert isinstance(claimed_single, transitions.Claimed) and claimed_single.release_wait is None
