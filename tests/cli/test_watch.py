"""``atomfleet watch``'s step bars: how events fold into a workflow's steps and how they are drawn
(the live command against the real fleet: tests/events/test_live_progress.py)."""

from __future__ import annotations

import io
from typing import Any

from atomfleet.client import Workflow
from atomfleet_orchestrator.cli.watch import StepBars


def _workflow(*steps: tuple[str, str]) -> Workflow:
    return Workflow.from_json({
        "id": "w1", "status": "running", "on_failure": "fail_fast", "created_at": "2026-12-06T10:00:00Z",
        "finished_at": None, "error": None,
        "steps": [{"name": n, "atom": "text.stats", "queue": "default", "status": s, "run_id": None, "attempts": 0,
                   "started_at": None, "finished_at": None} for n, s in steps],
    })


def _run(step: str, status: str, progress: float = 0.0, **more: Any) -> dict[str, Any]:
    return {"step": step, "status": status, "progress": progress, **more}


def test_a_pipe_gets_one_line_per_change_of_a_step_status() -> None:
    out = io.StringIO()
    bars = StepBars(_workflow(("a", "queued"), ("b", "pending")), out, live=False)
    for type, data in [("run.accepted", _run("a", "queued")), ("run.started", _run("a", "running")),
                       ("run.progress", _run("a", "running", 0.5, message="half")),
                       ("run.failed", _run("a", "failed", 0.5, error_message="boom")),
                       ("workflow.step_skipped", {"step": "b"}), ("workflow.failed", {"error": {}})]:
        bars.apply(type, data)
        bars.draw()
    assert out.getvalue().splitlines() == ["a running", "a failed", "b skipped"]
    assert bars.steps["a"].message == "boom"


def test_a_terminal_gets_the_block_redrawn_in_place() -> None:
    out = io.StringIO()
    bars = StepBars(_workflow(("fetch", "running"), ("b", "pending")), out, live=True)
    bars.draw()
    bars.apply("run.progress", _run("fetch", "running", 0.5, message="half"))
    bars.draw()
    first, second = out.getvalue().split("\x1b[2A\r\x1b[J")  # up over the two lines drawn before
    assert "fetch [---" in first and "0%" in first
    assert "fetch [###############---------------]  50% running   half" in second
    assert second.splitlines()[1].startswith("b     [") and "pending" in second
