"""The randomized drill: ``make chaos N=200`` (a small N also runs in ``make test``).

N mixed submissions go to the three queues through the HTTP API, spread over time — one in five a
small diamond workflow across the three queues, the others single runs — while the drill, at
random moments, SIGKILLs or SIGTERMs worker groups, SIGKILLs pool processes, kills and restarts
Redis (append-only file) and freezes PostgreSQL (every process of it). Clients behave like the SDK: on a 503 or a
connection error they retry with the same idempotency key. Afterwards every run must be terminal
within the documented deadlines, no run may have executed twice at the same time (the diagnostics
atoms journal every execution), no run may exceed its attempt budget, and no non-idempotent run may
have started twice; and every workflow must be terminal, have ended exactly once, and no child
step may have been created or started before all its parents ended, or run after a parent failed
(tests/faults/workflow_invariants.py). It prints the counts and exits non-zero if any invariant broke.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.faults.workflow_invariants import WorkflowReport, check_workflows, diamond
from tests.support.deployment import DRILL_ENV, Deployment, overlapping, restarted_after_loss

#: After the last fault: a lost execution is found within stale-after, its retry is published within
#: a dispatch round, and a lost message is re-published within the dispatch timeout (a few times).
RECOVERY_SECONDS = (float(DRILL_ENV["ATOMFLEET_STALE_AFTER_SECONDS"])
                    + 6 * float(DRILL_ENV["ATOMFLEET_DISPATCH_TIMEOUT_SECONDS"]) + 60)
KINDS = [
    ("diagnostics.sleep", True), ("diagnostics.sleep_once", False),
    ("diagnostics.sleep_io", True), ("diagnostics.sleep_ml", True),
]
WORKFLOW_EVERY = 5  # one submission in five is a diamond workflow


@dataclass
class Report:
    runs: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    submit_retries: int = 0
    not_terminal: list[str] = field(default_factory=list)
    overlapping: list[str] = field(default_factory=list)
    over_budget: list[str] = field(default_factory=list)
    rerun_non_idempotent: list[str] = field(default_factory=list)
    seconds_to_settle: float = 0.0
    workflows: WorkflowReport = field(default_factory=WorkflowReport)

    @property
    def ok(self) -> bool:
        return not (self.not_terminal or self.overlapping or self.over_budget or self.rerun_non_idempotent
                    or self.workflows.broken)

    def lines(self) -> list[str]:
        return [
            f"runs {self.runs}: " + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
            *self.workflows.lines(),
            "error codes: " + (", ".join(f"{k} {v}" for k, v in sorted(self.codes.items())) or "none"),
            "faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())),
            f"client retries (503 or connection errors): {self.submit_retries}",
            f"settled {self.seconds_to_settle:.1f}s after the last fault (deadline {RECOVERY_SECONDS:g}s)",
            f"non-terminal after the deadline: {len(self.not_terminal)}",
            f"overlapping executions: {len(self.overlapping)}",
            f"attempts over budget: {len(self.over_budget)}",
            f"non-idempotent runs started twice: {len(self.rerun_non_idempotent)}",
        ]


class Client:
    """What a careful client does: retries 503s and connection errors with the same idempotency key."""

    def __init__(self, deployment: Deployment, report: Report) -> None:
        self.deployment, self.report = deployment, report
        self.http = httpx.Client(base_url=deployment.api_url, timeout=10,
                                 headers={"Authorization": f"Bearer {deployment.token}"})

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + 120
        while True:
            try:
                response = self.http.request(method, path, **kwargs)
                if response.status_code != 503:
                    return response
                pause = float(response.headers.get("Retry-After", "1"))
            except httpx.TransportError:
                pause = 1.0
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path}: no answer for 120s")
            self.report.submit_retries += 1
            time.sleep(min(pause, 2.0))


def _pool_processes(main_pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == main_pid:
            children.append(int(stat.parent.name))
    return children


def _inject(deployment: Deployment, rng: random.Random, report: Report) -> None:
    fault = rng.choice(["kill_worker", "term_worker", "kill_pool_process", "restart_redis", "freeze_postgres"])
    queue = rng.choice(deployment.queues)
    worker = deployment.worker(queue)
    if fault == "kill_worker":
        worker.kill()  # the supervisor (kubelet) starts a new one
    elif fault == "term_worker":
        worker.signal(signal.SIGTERM)  # warm shutdown, as in a rollout or a scale-down
    elif fault == "kill_pool_process":
        children = _pool_processes(worker.proc.pid) if worker.alive and worker.proc else []
        if not children:
            return
        try:
            os.kill(rng.choice(children), signal.SIGKILL)
        except ProcessLookupError:
            return
    elif fault == "restart_redis":
        deployment.redis.kill()
        time.sleep(rng.uniform(0, 2))
        deployment.redis.start()
    else:
        deployment.postgres.freeze()
        time.sleep(rng.uniform(2, 6))  # below the fencing window: a freeze is not a lost worker
        deployment.postgres.thaw()
    report.faults[fault if fault != "kill_worker" else f"kill_worker_{queue}"] += 1


def run_drill(
    deployment: Deployment,
    runs: int,
    seed: int,
    fault_every: tuple[float, float] = (2.0, 6.0),
    chaos_after_submit: float = 30.0,
) -> Report:
    """Submit ``runs`` while faults strike, keep striking ``chaos_after_submit`` seconds more."""
    rng = random.Random(seed)
    report = Report()
    client = Client(deployment, report)
    submitted: dict[str, bool] = {}  # run id -> idempotent
    workflows: list[str] = []
    done = threading.Event()

    def chaos() -> None:
        while not done.wait(rng.uniform(*fault_every)):
            _inject(deployment, rng, report)

    injector = threading.Thread(target=chaos, name="chaos", daemon=True)
    injector.start()
    try:
        for i in range(runs):
            if i % WORKFLOW_EVERY == WORKFLOW_EVERY - 1:
                workflows.append(_submit_workflow(client, rng, f"chaos-{seed}-{i}"))
            else:
                atom, idempotent = KINDS[i % len(KINDS)]
                args = {"seconds": round(rng.uniform(0.3, 3.0), 2), "steps": 10,
                        "fail_attempts": rng.choice([0, 0, 0, 1, 2])}
                response = client.call("POST", f"/api/v1/atoms/{atom}/runs",
                                       json={"args": args, "idempotency_key": f"chaos-{seed}-{i}"})
                assert response.status_code in (200, 202), response.text
                submitted[response.json()["id"]] = idempotent
            if rng.random() < 0.05:
                victim = rng.choice(list(submitted) + workflows)
                kind = "workflows" if victim in workflows else "runs"
                client.call("POST", f"/api/v1/{kind}/{victim}/cancel")
            time.sleep(rng.uniform(0, 0.3))
        done.wait(chaos_after_submit)
    finally:
        done.set()
        injector.join()
    last_fault = time.monotonic()
    report.runs = len(submitted)
    _settle(deployment, list(submitted), workflows, report, last_fault)
    _check(deployment, submitted, report)
    report.workflows = check_workflows(deployment, workflows)
    client.http.close()
    return report


def _submit_workflow(client: Client, rng: random.Random, key: str) -> str:
    """A small diamond (a on io_bound; b on default, not idempotent one time in two, and c on
    ml_training; then d), steps of 0.2–1 s, b sometimes failing transiently first."""
    b_atom = rng.choice(["diagnostics.sleep", "diagnostics.sleep_once"])
    body = diamond(key, seconds=round(rng.uniform(0.2, 1.0), 2), b_atom=b_atom,
                   fail_attempts=rng.choice([0, 0, 1]))
    response = client.call("POST", "/api/v1/workflows", json=body)
    assert response.status_code in (200, 202), response.text
    return str(response.json()["id"])


def _settle(deployment: Deployment, run_ids: list[str], workflow_ids: list[str], report: Report,
            since: float) -> None:
    deadline = since + RECOVERY_SECONDS
    while True:
        rows = deployment.rows(run_ids)
        pending = [r for r in run_ids if rows.get(r, {}).get("status") not in ("succeeded", "failed", "cancelled")]
        flows = deployment.workflows(workflow_ids)
        running = [w for w in workflow_ids if flows.get(w, {}).get("status") not in ("succeeded", "failed", "cancelled")]
        if not pending and not running or time.monotonic() > deadline:
            report.not_terminal = pending
            report.seconds_to_settle = time.monotonic() - since
            return
        time.sleep(0.5)


def _check(deployment: Deployment, submitted: dict[str, bool], report: Report) -> None:
    rows = deployment.rows(submitted)
    for run_id, idempotent in submitted.items():
        row = rows[run_id]
        report.statuses[row["status"]] += 1
        if row["error_code"]:
            report.codes[row["error_code"]] += 1
        if row["attempts"] > row["max_attempts"]:
            report.over_budget.append(run_id)
        executions = deployment.executions(run_id)
        if overlapping(executions):
            report.overlapping.append(run_id)
        # A non-idempotent run retries only its own transient errors (the atom raised and ended);
        # an execution that was lost mid-way is never followed by another one.
        if not idempotent and restarted_after_loss(executions):
            report.rerun_non_idempotent.append(run_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="submissions (one in five a workflow)")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--chaos-after-submit", type=float, default=30.0,
                        help="seconds of faults after the last submission")
    args = parser.parse_args(argv)
    print(f"chaos drill: {args.runs} submissions (one in {WORKFLOW_EVERY} a diamond workflow), seed {args.seed}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="atomfleet-chaos-") as root, Deployment(Path(root)) as deployment:
        report = run_drill(deployment, args.runs, args.seed, chaos_after_submit=args.chaos_after_submit)
        for line in report.lines():
            print(line)
        if not report.ok:
            print(deployment.logs())
            for name in ("not_terminal", "overlapping", "over_budget", "rerun_non_idempotent"):
                ids = getattr(report, name)
                if ids:
                    print(f"{name}: {deployment.rows(ids[:10])}")
            for name, found in report.workflows.broken.items():
                print(f"workflows {name}: {found[:10]}")
    print("OK" if report.ok else "FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
