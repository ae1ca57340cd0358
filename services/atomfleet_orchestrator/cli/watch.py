"""``atomfleet watch ID``: follow a run, or a workflow step by step, live from the event stream.

Both read the stream from the target's first event (``after=0`` with a run or workflow filter), so
nothing that happened before the command started is missed; the API's row has the last word once
the stream says the target ended. A workflow retried after it ended keeps the watch going: its
earlier end event is followed by the new runs' events.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import IO, Any

from atomfleet.client import Client, NotFound, Run, Workflow

__all__ = ["ProgressBar", "StepBars", "watch"]

_WIDTH = 30


def _bar(fraction: float, width: int = _WIDTH) -> str:
    filled = int(max(0.0, min(1.0, fraction)) * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class ProgressBar:
    """One run's bar on one line, redrawn in place with a carriage return."""

    def __init__(self, stream: IO[str] = sys.stderr) -> None:
        self.stream = stream

    def __call__(self, run: Run) -> None:
        self.draw(run.atom, run.progress.fraction, run.status, run.progress.message, run.is_terminal)

    def draw(self, atom: str, fraction: float, status: str, message: str, final: bool) -> None:
        self.stream.write(f"\r{atom} {_bar(fraction)} {fraction:4.0%} {status:<9} {message[:40]:<40}")
        if final:
            self.stream.write("\n")
        self.stream.flush()


@dataclass
class _Step:
    atom: str
    status: str
    fraction: float = 0.0
    message: str = ""


class StepBars:
    """A workflow's steps, one bar each in submit order. On a terminal the block is redrawn in
    place; elsewhere (a log, a pipe) each change of a step's status is one line."""

    def __init__(self, workflow: Workflow, stream: IO[str] = sys.stderr, live: bool | None = None) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.steps = {s.name: _Step(s.atom, s.status, 1.0 if s.status == "succeeded" else 0.0) for s in workflow.steps}
        self.drawn = 0

    def apply(self, type: str, data: dict[str, Any]) -> None:
        """Fold one event of the workflow into the steps (workflow-level events name no step)."""
        step = self.steps.get(str(data.get("step") or ""))
        if step is None:
            return
        before = step.status
        if type == "workflow.step_skipped":
            step.status = "skipped"
        elif type.startswith("run."):
            step.status = str(data.get("status") or step.status)
            step.fraction = 1.0 if step.status == "succeeded" else float(data.get("progress") or 0)
            step.message = str(data.get("message") or data.get("error_message") or "")
        if not self.live and step.status != before:
            name = next(n for n, s in self.steps.items() if s is step)
            self.stream.write(f"{name} {step.status}\n")
            self.stream.flush()

    def draw(self) -> None:
        if not self.live:
            return
        name_w = max(len(n) for n in self.steps)
        lines = [f"{name:<{name_w}} {_bar(s.fraction)} {s.fraction:4.0%} {s.status:<9} {s.message[:30]}"
                 for name, s in self.steps.items()]
        if self.drawn:
            self.stream.write(f"\x1b[{self.drawn}A\r\x1b[J")
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self.drawn = len(lines)


def _watch_run(client: Client, run: Run) -> Run:
    bar = ProgressBar()
    if run.is_terminal:
        bar(run)
        return run
    for event in client.events(after=0, run=run.id):
        data = event.data
        bar.draw(run.atom, float(data.get("progress") or 0), str(data.get("status", "")),
                 str(data.get("message") or data.get("error_message") or ""), event.is_terminal)
        if event.is_terminal:
            break
    return client.run(run.id)


def _watch_workflow(client: Client, workflow: Workflow) -> Workflow:
    bars = StepBars(workflow)
    bars.draw()
    if workflow.is_terminal:
        return workflow
    for event in client.events(after=0, workflow=workflow.id):
        bars.apply(event.type, event.data)
        bars.draw()
        if event.type.startswith("workflow.") and event.is_terminal:
            workflow = client.get_workflow(workflow.id)
            if workflow.is_terminal:  # else: retried since that event; its new runs follow
                return workflow
    return client.get_workflow(workflow.id)


def watch(client: Client, target_id: str) -> tuple[Run | Workflow, bool]:
    """Follow a run or a workflow to its end; returns it and whether it succeeded. A run id is
    tried first, then a workflow id; neither raises ``NotFound`` naming both."""
    try:
        run = client.run(target_id)
    except NotFound:
        try:
            workflow = client.get_workflow(target_id)
        except NotFound as exc:
            raise NotFound(exc.code, f"no run or workflow {target_id} for this tenant", http_status=404) from None
        workflow = _watch_workflow(client, workflow)
        return workflow, workflow.succeeded
    run = _watch_run(client, run)
    return run, run.succeeded
