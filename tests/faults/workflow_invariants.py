"""What must hold of every workflow after faults (the workflow drills and ``make chaos``).

Read from the database and the diagnostics journal only (every step of these workflows is a
``diagnostics.*`` atom, which journals each execution), and from the engine's log line of each
ending, written once the ending committed:

- every workflow is terminal, every step too (no open step, no run left waiting);
- each ended exactly once (a second ending, which the final row cannot show, shows in the log);
- no step's run executed twice at the same time;
- no child's run was created, or started, before ALL its parents' runs ended (database clock
  for the write, journal clock for the execution: the same machine);
- no child of a failed (or skipped) parent ran under ``fail_fast`` or ``run_if: all_succeeded``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.deployment import TERMINAL, Deployment, overlapping

STEP_TERMINAL = ("ended", "skipped", "cancelled")


def diamond(key: str | None = None, *, seconds: float = 0.4, b_seconds: float | None = None,
            on_failure: str = "fail_fast", b_atom: str = "diagnostics.sleep_once",
            **b_args: Any) -> dict[str, Any]:
    """``a`` on io_bound, then ``b`` (not idempotent by default) on default and ``c`` on
    ml_training, then ``d`` on default; ``b_args``: more arguments of ``b`` (fail_attempts...)."""
    def args(**extra: Any) -> dict[str, Any]:
        return {"seconds": seconds, "steps": 2, **extra}

    body: dict[str, Any] = {"on_failure": on_failure, "steps": [
        {"name": "a", "atom": "diagnostics.sleep_io", "args": args()},
        {"name": "b", "atom": b_atom, "after": ["a"], "args": {**args(**b_args), "seconds": b_seconds or seconds}},
        {"name": "c", "atom": "diagnostics.sleep_ml", "after": ["a"], "args": args()},
        {"name": "d", "atom": "diagnostics.sleep", "after": ["b", "c"], "args": args()},
    ]}
    if key is not None:
        body["idempotency_key"] = key
    return body


@dataclass
class WorkflowReport:
    workflows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    step_statuses: Counter[str] = field(default_factory=Counter)
    not_terminal: list[str] = field(default_factory=list)
    ended_twice: list[str] = field(default_factory=list)  # more endings logged than it had
    ending_not_logged: list[str] = field(default_factory=list)
    overlapping: list[str] = field(default_factory=list)  # run ids
    child_before_parents: list[str] = field(default_factory=list)  # "workflow/step: why"
    child_of_failed_parent: list[str] = field(default_factory=list)

    @property
    def broken(self) -> dict[str, list[str]]:
        names = ("not_terminal", "ended_twice", "ending_not_logged", "overlapping", "child_before_parents",
                 "child_of_failed_parent")
        return {name: getattr(self, name) for name in names if getattr(self, name)}

    def lines(self) -> list[str]:
        return [
            f"workflows {self.workflows}: " + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
            "  their steps: " + ", ".join(f"{k} {v}" for k, v in sorted(self.step_statuses.items())),
            f"  workflows not terminal: {len(self.not_terminal)}; ended twice: {len(self.ended_twice)}; "
            f"ending not logged: {len(self.ending_not_logged)}",
            f"  steps started before all their parents ended: {len(self.child_before_parents)}; "
            f"children of a failed parent run: {len(self.child_of_failed_parent)}; "
            f"overlapping step executions: {len(self.overlapping)}",
        ]


def _epoch(value: Any) -> float | None:
    return value.timestamp() if value is not None else None


def _step_status(step: Mapping[str, Any]) -> str:
    if step["state"] in ("skipped", "cancelled"):
        return str(step["state"])
    return str(step["run_status"] or "pending")


def check_workflows(deployment: Deployment, workflow_ids: Iterable[str],
                    endings: Mapping[str, int] | None = None) -> WorkflowReport:
    """Check every invariant above; ``endings``: how many times a workflow should have ended
    (a retried one ends once per try; default 1)."""
    ids = list(workflow_ids)
    report = WorkflowReport(workflows=len(ids))
    rows, all_steps = deployment.workflows(ids), deployment.workflow_steps(ids)
    history, logged = deployment.workflow_runs(ids), deployment.workflow_endings()
    for workflow_id in ids:
        row, steps = rows[workflow_id], all_steps.get(workflow_id, [])
        report.statuses[row["status"]] += 1
        if (row["status"] not in TERMINAL or row["open_steps"] or row["finished_at"] is None
                or any(s["state"] not in STEP_TERMINAL or s["run"] and s["run_status"] not in TERMINAL
                       for s in steps)):
            report.not_terminal.append(workflow_id)
        expected = (endings or {}).get(workflow_id, 1)
        if logged[workflow_id] > expected:
            report.ended_twice.append(f"{workflow_id}: {logged[workflow_id]} endings logged, {expected} expected")
        elif logged[workflow_id] < expected and row["status"] in TERMINAL:
            report.ending_not_logged.append(workflow_id)
        report.overlapping += [r["id"] for r in history.get(workflow_id, []) if overlapping(deployment.executions(r["id"]))]
        by_name = {s["name"]: s for s in steps}
        for step in steps:
            report.step_statuses[_step_status(step)] += 1
            _check_step(deployment, row, step, [by_name[p] for p in step["parents"]], report)
    return report


def _check_step(deployment: Deployment, workflow: Mapping[str, Any], step: Mapping[str, Any],
                parents: list[Mapping[str, Any]], report: WorkflowReport) -> None:
    where = f"{workflow['id']}/{step['name']}"
    executions = deployment.executions(step["run"]) if step["run"] else []
    first_start = min((e.start for e in executions), default=None)
    not_succeeded = [p["name"] for p in parents if p["run_status"] != "succeeded"]
    needs_success = workflow["on_failure"] == "fail_fast" or step["run_if"] == "all_succeeded"
    if not_succeeded and needs_success and (step["run"] or executions):
        report.child_of_failed_parent.append(f"{where}: ran although {not_succeeded} did not succeed")
    if not step["run"]:
        return
    for parent in parents:
        if parent["state"] not in STEP_TERMINAL or parent["run"] and parent["run_finished_at"] is None:
            report.child_before_parents.append(f"{where}: has a run while parent {parent['name']} is open")
            continue
        if not parent["run"]:
            continue  # skipped or cancelled without a run (all_done children may follow it)
        ended = parent["run_finished_at"]
        if step["run_created_at"] < ended:
            report.child_before_parents.append(f"{where}: run created {step['run_created_at']} before "
                                               f"parent {parent['name']} ended {ended}")
        parent_last = max((e.last for e in deployment.executions(parent["run"])), default=None)
        limit = max(t for t in (_epoch(ended), parent_last) if t is not None)
        if first_start is not None and first_start < limit:
            report.child_before_parents.append(f"{where}: started {first_start:.3f}, {limit - first_start:.3f}s "
                                               f"before parent {parent['name']} ended")
