"""``make bench``'s throughput, table-growth, workflow, SSE and fairness parts run end to end at tiny sizes.

Each part runs as ``make bench`` runs it (its own process, real gunicorn, beat, ``celery worker``,
PostgreSQL and Redis) and must print every row of its tables and leave no database behind. The
figures themselves are never asserted: at these sizes, on a shared machine, they mean nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from bench._common import database_url

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.fleet


def run_bench(module: str, *args: str, timeout: float = 120) -> str:
    """Run ``python -m <module>``; on timeout SIGTERM lets it stop its processes, then SIGKILL."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        raise AssertionError(f"{module} did not finish in {timeout}s:\n{out[-4000:]}") from None
    assert proc.returncode == 0, f"{module} exited {proc.returncode}:\n{out[-4000:]}"
    return out


def table_rows(out: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for every markdown table row printed."""
    rows = {}
    for line in out.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def database_exists(name: str) -> bool:
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def test_throughput_part_prints_every_figure_of_the_side_by_side_table() -> None:
    database = "atomfleet_bench_smoke_throughput"
    out = run_bench("bench.throughput", "-n", "20", "-r", "1", "-t", "4", "--latency-samples", "5",
                    "--http-seconds", "1", "--http-connections", "4", "--redis-db", "6",
                    "--database", database)

    rows = table_rows(out)
    assert rows["figure"] == ["raw Celery", "atomfleet", "ratio"]
    expected = [
        "end-to-end, N=20 submitted by 4 client threads, all finished",
        "submit→start at light load, p50 (server timestamps)",
        "submit→start at light load, p99 (server timestamps)",
        "POST → run visible as running (wall clock), p50",
    ]
    for label in expected:
        assert label in rows, f"missing row {label!r}:\n{out}"
    assert any(label.startswith("POST submit alone") for label in rows)
    assert any(label.startswith("GET one run") for label in rows)
    raw, atomfleet, ratio = rows[expected[0]]
    assert raw.endswith("tasks/s") and atomfleet.endswith("runs/s") and ratio != "—"
    for label in ("Redis commands (server-wide)", "PostgreSQL transactions", "PostgreSQL connections opened"):
        assert label in rows, f"missing cost row {label!r}:\n{out}"
    assert "(20 succeeded)" in out  # every run of the end-to-end part finished well
    assert not database_exists(database)


def test_table_growth_part_times_every_endpoint_and_explains_its_sql() -> None:
    database = "atomfleet_bench_smoke_tables"
    out = run_bench("bench.table_growth", "--base-rows", "100", "--tenant-rows", "2000",
                    "--table-rows", "3000", "--other-tenants", "2", "--reps", "1", "--redis-db", "14",
                    "--database", database)

    rows = table_rows(out)
    assert rows["endpoint"] == ["empty (1 run)", "~0 (100 runs)", "tenant 2k", "table 3k", "× tenant 2k", "× table 3k"]
    for label in ("GET /api/v1/runs", "?status=failed", "deep page (cursor at count/2)",
                  "last page (cursor at count-50)", "GET /api/v1/runs/<id>"):
        assert label in rows, f"missing row {label!r}:\n{out}"
    assert any(label.startswith("?atom=") for label in rows)
    assert any(label.startswith("?queue=") for label in rows)
    assert "tenant 2000 runs, table 3000 runs" in out
    assert "EXPLAIN (ANALYZE, BUFFERS)" in out and "Execution Time" in out
    assert not database_exists(database)


def test_workflow_part_prints_the_fan_out_figures_and_the_release_cost() -> None:
    database = "atomfleet_bench_smoke_workflows"
    out = run_bench("bench.workflows", "--steps", "12", "-r", "1", "--small", "5", "--release-reps", "1",
                    "--redis-db", "11", "--database", database)

    rows = table_rows(out)
    assert rows["figure"] == ["value", "against single runs"]
    for label in ("12 single runs, submitted 100 per request", "12-step fan-out/fan-in workflow, one POST",
                  "per-step overhead (1/steps/s − 1/runs/s)", "root end → first child start",
                  "last parent end → fan-in start (10 parents)"):
        assert label in rows, f"missing row {label!r}:\n{out}"
    assert rows["12-step fan-out/fan-in workflow, one POST"][0].endswith("steps/s")
    assert rows["release"] == ["time", "SQL queries"]
    small, large = (rows[f"end a parent with 1 child, {n}-step workflow"] for n in (5, 12))
    assert "end the fan-out's root (10 children released)" in rows
    # Ending a parent with one child costs the same queries whatever the workflow's size
    assert small[1] == large[1], (small, large)
    assert not database_exists(database)


def test_sse_part_opens_streams_and_times_commit_to_client() -> None:
    database = "atomfleet_bench_smoke_sse"
    out = run_bench("bench.sse", "--streams", "40", "--followers", "2", "--rate", "40", "--seconds", "2",
                    "--redis-db", "14", "--database", database)
    rows = table_rows(out)
    for label in ("streams open at once", "events process RSS, no stream", "events process RSS, 42 streams",
                  "events written", "deliveries to followers", "commit → client p50", "commit → client p99"):
        assert label in rows, f"missing row {label!r}:\n{out}"
    assert rows["streams open at once"][0] == "42"
    written = int(rows["events written"][0])
    assert rows["deliveries to followers"][0] == f"{2 * written} of {2 * written}"  # every event, every follower
    assert not database_exists(database)


def test_fairness_part_prints_b_waits_a_throughput_queue_lengths_and_goals() -> None:
    database = "atomfleet_bench_smoke_fairness"
    out = run_bench("bench.fairness", "--runs", "60", "--batch", "25", "--b-seconds", "2", "--atom-seconds", "0.1",
                    "--concurrency", "4", "--redis-db", "15", "--database", database, timeout=240)
    rows = table_rows(out)
    assert rows["B's runs"] == ["B alone", "beside A, fair on", "beside A, fair off"]
    for label in ("B runs accepted (refused)", "B wait p50", "B wait p95", "B wait max"):
        assert label in rows, f"missing row {label!r}:\n{out}"
    assert rows["B runs accepted (refused)"] == ["10 (0)"] * 3  # one run every 200 ms for 2 s, in every phase
    assert rows["A's runs"] == ["fair on", "fair off (today's)", "on / off"]
    for label in ("A alone (60 runs)", "A beside B (60 runs; fair off 60)", "A beside B / A alone",
                  "A + B runs finished in A's window", "machine load, 1 min (alone / beside B)"):
        assert label in rows, f"missing row {label!r}:\n{out}"
    assert rows["A alone (60 runs)"][0].endswith("runs/s") and rows["A alone (60 runs)"][2] != "—"
    assert rows["Redis list length"] == ["p50", "p95", "max", "empty", "turn-lock waiters", "active backends", "samples"]
    assert any(label.startswith("A's slot time per run, alone / beside B") for label in rows), out
    assert "A's run started_at → finished_at, p50 / p95 (alone)" in rows
    for label in ("A alone, fair on", "A + B, fair on", "A + B, fair off", "A alone, fair off"):
        assert label in rows, f"missing row {label!r}:\n{out}"
    assert rows["work per A run"] == ["fair on", "fair off", "on / off"]
    assert "CPU ms: fleet (worker + API + beat)" in rows and "PostgreSQL transactions" in rows
    goals = [label for label in rows if label.startswith(("B p95 beside A", "A alone: fair on", "A beside B: fair on"))]
    assert len(goals) == 4 and all(rows[g][1] in ("yes", "no") for g in goals), out
    # every run of both tenants ended well, in every phase (figures themselves are not asserted)
    assert out.count("{'succeeded': 60}") == 4 and out.count("{'succeeded': 10}") == 3, out
    assert not database_exists(database)


def test_submit_part_prints_cpu_per_post_and_where_it_goes() -> None:
    database = "atomfleet_bench_smoke_submit"
    out = run_bench("bench.submit_cpu", "--n", "20", "--warmup", "5", "--batches", "1", "--batch-size", "5",
                    "--profile-n", "10", "--redis-db", "15", "--database", database)
    assert "single POST, 20 timed after 5 warm-up: CPU" in out
    assert "batch POST of 5, 1 timed: CPU" in out
    assert "self time by component:" in out and "the lean submit view" in out
    assert not database_exists(database)
