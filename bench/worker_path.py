"""The pool child's database work per run, in-process: claim + succeed against real PostgreSQL.

``python -m bench.worker_path [-n 300] [-r 3]`` creates a throwaway database
(``atomfleet_bench_worker_path``), migrates it, and for N runs published ahead of time calls what
a pool process calls — ``transitions.claim`` then ``transitions.succeed`` — on one connection,
with real transactions and durable commits. Two cases: no run waits for a turn on the queue (the
fairness check finds none), and a backlog waits (the check finds some; the queue has no room, so
``give_turns`` stops at the room count). Prints per run: statements (captured) and transactions
(``pg_stat_database.xact_commit``), CPU of this process and of its PostgreSQL backend (``/proc``),
and wall time. No broker is needed: nothing is published.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from bench._common import throwaway_database

_TICKS = os.sysconf("SC_CLK_TCK")


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _setup(url: str) -> None:
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "atomfleet_orchestrator.settings",
        "DATABASE_URL": url,
        "ATOMFLEET_BROKER_URL": os.environ.get("ATOMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379") + "/15",
    })
    os.environ.setdefault("ATOMFLEET_SECRET_KEY", "bench-worker-path")
    import logging

    import django

    django.setup()
    logging.getLogger("atomfleet_orchestrator").setLevel(logging.ERROR)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _runs(tenant: Any, n: int, *, published: bool) -> list[tuple[str, str]]:
    from django.utils import timezone

    from atomfleet_orchestrator.runs.models import AtomRun

    now = timezone.now()
    stamp = {"turn_at": now, "dispatched_at": now} if published else {}
    rows = AtomRun.objects.bulk_create([
        AtomRun(tenant=tenant, created_by="bench", atom="bench.noop", queue="bench", args={"x": i}, **stamp)
        for i in range(n)
    ])
    return [(str(r.id), r.celery_task_id) for r in rows]


def _one_round(tenant: Any, n: int) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from atomfleet_orchestrator.runs import transitions

    runs = _runs(tenant, n, published=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    def commits() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()") if _HAS_FLUSH else None
            cursor.execute("SELECT xact_commit FROM pg_stat_get_db_xact_commit((SELECT oid FROM pg_database "
                           "WHERE datname = current_database())) AS xact_commit")
            return int(cursor.fetchone()[0])

    def one(run_id: str, task_id: str) -> None:
        claimed = transitions.claim(run_id, task_id, "bench@probe:1", *_QUEUE_HINT)
        assert isinstance(claimed, transitions.Claimed), claimed
        assert transitions.succeed(claimed.execution, result={"n": 1}, result_artifact="", artifacts=[])

    # Statements: the first few runs, captured (the capture itself costs CPU: not timed).
    sample = runs[:20]
    with CaptureQueriesContext(connection) as queries:
        for run_id, task_id in sample[:-1]:
            one(run_id, task_id)
    with CaptureQueriesContext(connection) as last:  # the shapes of one run, the process warmed up
        one(*sample[-1])
    statements = (len(queries.captured_queries) + len(last.captured_queries)) / len(sample)
    shapes = [q["sql"].split()[0] for q in last.captured_queries]

    rest = runs[len(sample):]
    before_commits = commits()
    cpu0, backend0, wall0 = time.process_time(), _backend_cpu(backend), time.perf_counter()
    for run_id, task_id in rest:
        one(run_id, task_id)
    cpu1, backend1, wall1 = time.process_time(), _backend_cpu(backend), time.perf_counter()
    xacts = (commits() - before_commits - 1) / len(rest)
    return {
        "statements": statements, "transactions": xacts, "shapes": " ".join(shapes),  # type: ignore[dict-item]
        "cpu_ms": (cpu1 - cpu0) * 1000 / len(rest), "pg_ms": (backend1 - backend0) * 1000 / len(rest),
        "wall_ms": (wall1 - wall0) * 1000 / len(rest),
    }


_HAS_FLUSH = False
# The queue the pool child names with its claim (the atom's), where the code before issue 20 took none.
_QUEUE_HINT: tuple[str, ...] = ()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="runs per round")
    parser.add_argument("-r", type=int, default=3, help="rounds per case")
    parser.add_argument("--database", default="atomfleet_bench_worker_path")
    args = parser.parse_args()
    with throwaway_database(args.database) as url:
        _setup(url)
        from django.db import connection

        from atomfleet_orchestrator.runs.models import AtomRun
        from atomfleet_orchestrator.tenancy.models import Tenant

        global _HAS_FLUSH, _QUEUE_HINT
        _HAS_FLUSH = connection.pg_version >= 150000
        import inspect

        from atomfleet_orchestrator.runs import transitions

        _QUEUE_HINT = ("bench",) if "queue" in inspect.signature(transitions.claim).parameters else ()
        tenant = Tenant.objects.create(slug="bench", name="Bench")
        for case, backlog in (("nothing waits for a turn", 0), ("a backlog waits for a turn", 50)):
            AtomRun.objects.all().delete()
            _runs(tenant, backlog, published=False)
            results = [_one_round(tenant, args.n) for _ in range(args.r)]
            first = results[0]
            print(f"{case}: {first['statements']:.2f} statements/run ({first['shapes']}), "
                  f"{first['transactions']:.2f} transactions/run")
            for key in ("cpu_ms", "pg_ms", "wall_ms"):
                values = [r[key] for r in results]
                print(f"  {key:8} median {statistics.median(values):.3f} ms/run [{min(values):.3f}-{max(values):.3f}]")
        connection.close()


if __name__ == "__main__":
    main()
