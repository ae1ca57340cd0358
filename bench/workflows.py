"""Workflows: a 1,000-step fan-out/fan-in against as many single runs, and what releasing costs.

The full atomfleet path (bench/_fleet.py: the chart's API, beat and one ``default`` worker at
concurrency 2) runs ``text.stats`` on a tiny text. Per repetition:
- single runs: ``--steps`` runs submitted 100 per request (``POST .../runs/batch``), runs/s from
  the first ``created_at`` to the last ``finished_at`` (database clock);
- the workflow: one root → ``--steps``-2 children → one fan-in step after all of them, submitted in
  one ``POST /api/v1/workflows``; steps/s from the workflow's ``created_at`` to its
  ``finished_at``; root end → first child start; last parent end → fan-in start. Per-step
  overhead = 1/steps-per-s − 1/runs-per-s.
Then, the worker stopped, in this process (Django on the same database): ending ONE parent that
has one child, through the hook every run's terminal write takes (``runs.transitions._ending``:
the workflow locked, the run's UPDATE, ``engine.run_ended``), in a 10-step and a 1,000-step
workflow (the other steps pending behind another root) — time and SQL queries — and ending the
fan-out's root (its children all released at once). Nothing is asserted.
Uses Redis DB ``--redis-db`` and the PostgreSQL database ``--database`` (created, dropped).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from bench._common import (
    Figure,
    env_int,
    load_average,
    machine,
    markdown_table,
    ratio,
    redis_url,
    run_main,
    stop_on_sigterm,
    throwaway_database,
    wait_for,
)
from bench._fleet import Fleet
from bench._paths import TEXT
from bench.table_growth import _setup_django

ATOM = "text.stats"
TERMINAL = ("succeeded", "failed", "cancelled")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--steps", type=int, default=env_int("BENCH_WORKFLOW_STEPS", 1000),
                   help="steps of the fan-out/fan-in workflow, and single runs to compare (env BENCH_WORKFLOW_STEPS)")
    p.add_argument("-r", "--reps", type=int, default=env_int("BENCH_R", 3), help="repetitions (env BENCH_R)")
    p.add_argument("--small", type=int, default=10, help="steps of the small workflow of the release-cost figure")
    p.add_argument("--release-reps", type=int, default=5, help="parents ended per workflow size (release cost)")
    p.add_argument("--redis-db", type=int, default=10, help="Redis DB of the broker")
    p.add_argument("--database", default="atomfleet_bench_workflows", help="PostgreSQL database (dropped and created)")
    return p


def fan_out_fan_in(steps: int) -> dict[str, Any]:
    children = [f"s{i:04d}" for i in range(1, steps - 1)]
    args = {"text": TEXT}
    return {"on_failure": "fail_fast", "steps": [
        {"name": "root", "atom": ATOM, "args": args},
        *({"name": name, "atom": ATOM, "after": ["root"], "args": args} for name in children),
        {"name": "fanin", "atom": ATOM, "after": children, "args": args},
    ]}


def one_child_among(steps: int) -> dict[str, Any]:
    """``parent`` → ``child``; ``other`` → every remaining step (pending while ``parent`` ends)."""
    args = {"text": TEXT}
    rest = [{"name": f"w{i:04d}", "atom": ATOM, "after": ["other"], "args": args} for i in range(steps - 3)]
    return {"on_failure": "fail_fast", "steps": [
        {"name": "parent", "atom": ATOM, "args": args},
        {"name": "child", "atom": ATOM, "after": ["parent"], "args": args},
        {"name": "other", "atom": ATOM, "args": args},
        *rest,
    ]}


def _sql(query: str, *params: Any) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall()) if cursor.description else []


def _ms(later: Any, earlier: Any) -> float:
    return float((later - earlier).total_seconds() * 1000)


# -- through the fleet ---------------------------------------------------------------------------


def single_runs(client: httpx.Client, n: int, alive: Any) -> float:
    """Runs/s of ``n`` single runs submitted 100 per request (database clock)."""
    _sql("DELETE FROM runs_atomrun WHERE workflow_id IS NULL")
    body = json.dumps({"items": [{"args": {"text": TEXT}}] * 100})
    left = n
    while left:
        chunk = body if left >= 100 else json.dumps({"items": [{"args": {"text": TEXT}}] * left})
        response = client.post(f"/api/v1/atoms/{ATOM}/runs/batch", content=chunk)
        assert response.status_code == 202, response.text
        left -= min(left, 100)

    def done() -> bool:
        waiting = _sql("SELECT count(*) FROM runs_atomrun WHERE workflow_id IS NULL AND status <> ALL(%s)", list(TERMINAL))
        return waiting[0][0] == 0

    wait_for(done, 900, f"{n} single runs", interval=0.1, alive=alive)
    first, last = _sql("SELECT min(created_at), max(finished_at) FROM runs_atomrun WHERE workflow_id IS NULL")[0]
    return n / ((last - first).total_seconds())


def workflow_run(client: httpx.Client, steps: int, alive: Any) -> dict[str, float]:
    """One fan-out/fan-in workflow end to end: its figures."""
    started = time.perf_counter()
    response = client.post("/api/v1/workflows", json=fan_out_fan_in(steps))
    assert response.status_code == 202, response.text
    submit_ms = (time.perf_counter() - started) * 1000
    workflow_id = response.json()["id"]

    def ended() -> Any:
        rows = _sql("SELECT status, created_at, finished_at FROM workflows_workflow WHERE id = %s", workflow_id)
        return rows[0] if rows and rows[0][0] != "running" else None

    status, created, finished = wait_for(ended, 900, "the workflow", interval=0.1, alive=alive)
    assert status == "succeeded", status
    times = {name: (started_at, finished_at) for name, started_at, finished_at in _sql(
        "SELECT r.step, r.started_at, r.finished_at FROM runs_atomrun r WHERE r.workflow_id = %s", workflow_id)}
    root, fanin = times.pop("root"), times.pop("fanin")
    return {
        "steps_per_s": steps / (finished - created).total_seconds(),
        "submit_ms": submit_ms,
        "root_to_first_child_ms": _ms(min(s for s, _ in times.values()), root[1]),
        "last_parent_to_fanin_ms": _ms(fanin[0], max(f for _, f in times.values())),
    }


# -- in this process: what ending one parent costs ------------------------------------------------


def end_parent(steps_body: dict[str, Any], parent: str) -> tuple[float, int]:
    """Submit ``steps_body`` (worker stopped: nothing runs), then end ``parent``'s run as a worker's
    terminal write does; ms and SQL queries of that write and its workflow's advance."""
    from django.db import connection
    from django.db.models.functions import Now
    from django.test.utils import CaptureQueriesContext

    from atomfleet_orchestrator.runs import transitions
    from atomfleet_orchestrator.runs.models import AtomRun
    from atomfleet_orchestrator.tenancy.models import Tenant
    from atomfleet_orchestrator.workflows import engine
    from atomfleet_orchestrator.workflows.models import WorkflowStep

    workflow, _ = engine.submit(Tenant.objects.get(slug="bench"), "bench", steps_body)
    run_id = str(WorkflowStep.objects.get(workflow=workflow, name=parent).run_id)
    rows = AtomRun.objects.filter(id=run_id)
    connection.queries_log.clear()  # the log keeps 9,000 queries: the submit's must not wrap it
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        transitions._ending(run_id, workflow.id,
                            lambda: bool(rows.update(status="succeeded", finished_at=Now(), result={})))
        seconds = time.perf_counter() - started
    return seconds * 1000, len(queries.captured_queries)


def release_costs(small: int, large: int, reps: int) -> list[tuple[str, str, str]]:
    from django.test import override_settings

    out = []
    for label, body, parent in [
        (f"end a parent with 1 child, {small}-step workflow", one_child_among(small), "parent"),
        (f"end a parent with 1 child, {large}-step workflow", one_child_among(large), "parent"),
        (f"end the fan-out's root ({large - 2} children released)", fan_out_fan_in(large), "root"),
    ]:
        # Every ending finds its queue with room, as on a fleet that keeps up (the worker is stopped
        # here, so the runs submitted meanwhile would fill the queue's window): its turns cost the same
        # statements whatever the queue holds, and the figures compare the workflow's own work.
        with override_settings(ATOMFLEET_QUEUE_READY=10**9):
            measured = [end_parent(body, parent) for _ in range(reps)]
        ms = Figure("ms")
        for value, _ in measured:
            ms.add(value)
        counts = sorted({q for _, q in measured})
        out.append((label, ms.cell(2), "/".join(str(c) for c in counts)))
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="atomfleet-bench-workflows-"))
    print(f"workflow benchmark: {args.steps}-step fan-out/fan-in vs {args.steps} single runs of {ATOM}, "
          f"R={args.reps}; release cost over {args.release_reps} parents per size", flush=True)
    print(f"machine: {machine()}", flush=True)
    figures = {k: Figure(u) for k, u in (("runs", "runs/s"), ("steps", "steps/s"), ("submit", "ms"),
                                          ("root", "ms"), ("fanin", "ms"), ("overhead", "ms"))}
    broker = redis_url(args.redis_db)
    with throwaway_database(args.database) as db_url, contextlib.ExitStack() as stack:
        limit = {"ATOMFLEET_WORKFLOW_MAX_STEPS": str(args.steps)} if args.steps > 1000 else {}  # default 1000
        fleet = Fleet(db_url, broker, workdir=workdir, extra_env=limit)
        stack.callback(lambda: redis.Redis.from_url(broker).flushdb())
        stack.callback(fleet.stop)
        fleet.start()
        _setup_django(fleet)
        headers = {"Authorization": f"Bearer {fleet.token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=fleet.api_url, headers=headers, timeout=120) as client:
            for rep in range(1, args.reps + 1):
                runs = figures["runs"].add(single_runs(client, args.steps, fleet.check_alive))
                flow = workflow_run(client, args.steps, fleet.check_alive)
                figures["steps"].add(flow["steps_per_s"])
                figures["submit"].add(flow["submit_ms"])
                figures["root"].add(flow["root_to_first_child_ms"])
                figures["fanin"].add(flow["last_parent_to_fanin_ms"])
                overhead = figures["overhead"].add(1000 / flow["steps_per_s"] - 1000 / runs)
                print(f"  rep {rep}: single runs {runs:.1f} runs/s; workflow {flow['steps_per_s']:.1f} steps/s "
                      f"(overhead {overhead:+.2f} ms/step), root end→first child start "
                      f"{flow['root_to_first_child_ms']:.0f} ms, last parent end→fan-in start "
                      f"{flow['last_parent_to_fanin_ms']:.0f} ms", flush=True)
        fleet.stop_worker()
        release = release_costs(args.small, args.steps, args.release_reps)
        from django.db import connections

        connections.close_all()  # before the database is dropped

    f = figures
    n = args.steps
    print(f"\nmedians [min–max] of {args.reps} repetition(s), database clock")
    print(markdown_table(("figure", "value", "against single runs"), [
        (f"{n} single runs, submitted 100 per request", f["runs"].cell(), "—"),
        (f"{n}-step fan-out/fan-in workflow, one POST", f["steps"].cell(), ratio(f["steps"].median, f["runs"].median)),
        ("per-step overhead (1/steps/s − 1/runs/s)", f["overhead"].cell(2), "—"),
        (f"POST of the {n}-step workflow (client wall clock)", f["submit"].cell(), "—"),
        ("root end → first child start", f["root"].cell(), "—"),
        (f"last parent end → fan-in start ({n - 2} parents)", f["fanin"].cell(), "—"),
    ]), flush=True)
    print(f"\nending one parent through the hook (the run's terminal UPDATE + its workflow's advance, one "
          f"transaction), medians [min–max] of {args.release_reps}; worker stopped")
    print(markdown_table(("release", "time", "SQL queries"), release), flush=True)
    small_q, large_q = (int(r[2].split("/")[0]) for r in release[:2])
    print(f"queries for one child: {small_q} in {args.small} steps, {large_q} in {n} steps "
          f"({'independent of the workflow size' if small_q == large_q else 'they differ'})")
    print(f"load average at end: {load_average()} (1, 5, 15 min; {os.cpu_count()} CPUs)", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run_main(main)
