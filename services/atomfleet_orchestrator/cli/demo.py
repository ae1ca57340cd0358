"""``atomfleet demo``: start the local fleet, run one atom per queue, then one diamond workflow
across the three queues (docs/workflows.md), print tables, stop."""

from __future__ import annotations

import math
import random
import sys
import time
from typing import Any

from atomfleet.client import Client, Run, Step, Workflow, WorkflowWaitTimeout
from atomfleet_orchestrator.cli.fleet import Fleet
from atomfleet_orchestrator.cli.workflow import render

_CSV = (
    "id,name,age,signup\n"
    + "".join(f"{i},user{i},{20 + i % 50},2024-0{1 + i % 9}-1{i % 10}\n" for i in range(1, 200))
    + "200,,130,not-a-date\n"
)
_COLUMNS = [
    {"name": "id", "type": "integer", "min": 1},
    {"name": "name", "type": "string"},
    {"name": "age", "type": "integer", "min": 0, "max": 120},
    {"name": "signup", "type": "date"},
]


def _series(n: int = 400) -> list[float]:
    rng = random.Random(7)
    values = [0.0, 0.0]
    for t in range(n):
        values.append(0.6 * values[-1] - 0.2 * values[-2] + math.sin(t / 10) + rng.gauss(0, 0.1))
    return values


def _submissions(client: Client, upload_key: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("text.stats", {"text": "The quick brown fox jumps over the lazy dog. The dog sleeps.", "top": 3}),
        ("data.validate_csv", {"file": upload_key, "columns": _COLUMNS}),
        ("forecast.autoregressive", {"series": _series(), "order": 2, "horizon": 5}),
        ("diagnostics.sleep", {"seconds": 2, "steps": 4}),
    ]


def run_demo(timeout: float = 180.0) -> int:
    print("starting the local fleet (API, beat, one worker per queue)...", flush=True)
    with Fleet(log_to_files=True) as fleet:
        print(f"api {fleet.api_url}\ntoken {fleet.token}\nlogs {fleet.data_dir / 'logs'}", flush=True)
        with Client(fleet.api_url, fleet.token) as client:
            upload_key = client.upload(_CSV.encode(), name="customers.csv").key
            runs = [client.submit(atom, args) for atom, args in _submissions(client, upload_key)]
            started = time.monotonic()
            shown: dict[str, str] = {}
            while time.monotonic() - started < timeout:
                fleet.check_alive()
                runs = [client.run(r.id) for r in runs]
                for run in runs:
                    line = f"{run.status} {run.progress.fraction:.0%} {run.progress.message}"
                    if shown.get(run.id) != line:
                        shown[run.id] = line
                        print(f"  {run.atom:<24} {line}", flush=True)
                if all(r.is_terminal for r in runs):
                    break
                time.sleep(0.3)
            _print_table(runs)
            for run in runs:
                if run.status == "failed":
                    print(f"{run.atom} failed: {run.error}", file=sys.stderr)
            ok = all(r.succeeded for r in runs)
            workflow = _run_workflow(fleet, client, upload_key, timeout)
            ok = ok and workflow is not None and workflow.succeeded
    print("fleet stopped")
    return 0 if ok else 1


def _seconds(run: Run) -> str:
    if run.started_at is None or run.finished_at is None:
        return "-"
    return f"{(run.finished_at - run.started_at).total_seconds():.2f}"


def _print_table(runs: list[Run]) -> None:
    print(f"\n{'queue':<12} {'atom':<24} {'status':<10} {'seconds':>8}")
    for run in sorted(runs, key=lambda r: (r.queue, r.atom)):
        print(f"{run.queue:<12} {run.atom:<24} {run.status:<10} {_seconds(run):>8}")


def _diamond(upload_key: str) -> list[Step]:
    """validate (io_bound) -> stats (default) + fit (ml_training) -> report (default)."""
    validate = Step("validate", "data.validate_csv", {"file": upload_key, "columns": _COLUMNS})
    stats = Step("stats", "text.stats", {"text": validate.output("/report_artifact")}, after=[validate])
    fit = Step("fit", "forecast.autoregressive", {"series": _series(), "order": 2, "horizon": 5}, after=[validate])
    report = Step("report", "text.stats", {"text": "validated, counted and fitted"}, after=[stats, fit],
                  run_if="all_done")
    return [validate, stats, fit, report]


def _run_workflow(fleet: Fleet, client: Client, upload_key: str, timeout: float) -> Workflow | None:
    """One diamond workflow; its step table, or None when it did not end in time."""
    print("\nworkflow: validate -> stats + fit -> report", flush=True)
    workflow = client.submit_workflow(_diamond(upload_key))
    shown: dict[str, str] = {}

    def progress(current: Workflow) -> None:
        fleet.check_alive()
        for step in current.steps:
            if shown.get(step.name) != step.status:
                shown[step.name] = step.status
                print(f"  {step.name:<10} {step.status}", flush=True)

    try:
        workflow = client.wait_workflow(workflow.id, timeout=timeout, max_poll_interval=0.5, on_update=progress)
    except WorkflowWaitTimeout as exc:
        print("\n" + "\n".join(render(exc.workflow)))
        print(f"workflow {exc.workflow.id} did not end within {timeout:g}s", file=sys.stderr)
        return None
    print("\n" + "\n".join(render(workflow)))
    if not workflow.succeeded:
        print(f"workflow {workflow.status}: {workflow.error}", file=sys.stderr)
    return workflow
