"""Run list/filter/detail latency as the runs table grows: ~0, 200k runs of one tenant, 1M in the table.

The API runs as the chart starts it (``atomfleet api``: gunicorn, 2 workers of 4 threads) on a database of
its own. Rows are seeded with SQL (bench/_seed.py), then ``VACUUM ANALYZE``d; at each stage one
client times every endpoint in turn, ``--reps`` rounds after two warm-up rounds. Stages: an empty
table (one run, so the detail request has something to read), ``--base-rows`` runs (every page
full: the baseline of the growth ratios, since an empty page costs no serialization), then
``--tenant-rows`` runs of the measured tenant, then other tenants' runs up to ``--table-rows``.
Pages are cursor pages (the API's only page shape): the deep page is the one starting half way
through the tenant's runs (100000 at 200k), the last page the one holding its oldest runs; their
cursors are built the way the API builds a ``next`` link. At the last stage the SQL
each endpoint runs (captured in-process through Django's test client, the same view code) is shown
with ``EXPLAIN (ANALYZE, BUFFERS)``. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

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
)
from bench._fleet import Fleet

TABLE = "runs_atomrun"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tenant-rows", type=int, default=200_000, help="runs of the measured tenant at the second stage")
    p.add_argument("--table-rows", type=int, default=1_000_000, help="runs in the whole table at the last stage")
    p.add_argument("--other-tenants", type=int, default=8, help="tenants sharing the rest of the table")
    p.add_argument("--reps", type=int, default=env_int("BENCH_TABLE_REPS", 15), help="timed rounds per stage")
    p.add_argument("--base-rows", type=int, default=1000, help="runs of the baseline stage (enough to fill every page)")
    p.add_argument("--redis-db", type=int, default=13, help="Redis DB named as the broker (nothing is published)")
    p.add_argument("--database", default="atomfleet_bench_tables", help="PostgreSQL database (dropped and created)")
    p.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN plans")
    return p


def _k(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n / 1000:g}k" if n >= 1000 else str(n)


def _setup_django(fleet: Fleet) -> None:
    """This process reads the same database with the same settings as the API it started."""
    os.environ.clear()
    os.environ.update(fleet.env(DJANGO_SETTINGS_MODULE="atomfleet_orchestrator.settings"))
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Django's root handler would print every request


def _sql(query: str, *params: Any) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return list(cursor.fetchall()) if cursor.description else []


def _endpoints(tenant_id: int) -> list[tuple[str, str]]:
    from bench._seed import atom_mix

    # Filters on a common atom (~30 % of runs) and a rarer queue (~15 %).
    mix = sorted(atom_mix(), key=lambda m: -m[2])
    atom = mix[min(1, len(mix) - 1)][0]
    queue = next((q for _, q, _ in mix[2:] if q != "default"), mix[-1][1])
    count = int(_sql(f"SELECT count(*) FROM {TABLE} WHERE tenant_id = %s", tenant_id)[0][0])
    middle_id, middle_at = _sql(
        f"SELECT id, created_at FROM {TABLE} WHERE tenant_id = %s ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
        tenant_id, count // 2)[0]
    last_id, last_at = _sql(
        f"SELECT id, created_at FROM {TABLE} WHERE tenant_id = %s ORDER BY created_at ASC, id ASC OFFSET %s LIMIT 1",
        tenant_id, min(50, max(0, count - 1)))[0]
    return [
        ("GET /api/v1/runs", "/api/v1/runs"),
        ("?status=failed", "/api/v1/runs?status=failed"),
        (f"?atom={atom}", f"/api/v1/runs?atom={atom}"),
        (f"?queue={queue}", f"/api/v1/runs?queue={queue}"),
        ("deep page (cursor at count/2)", f"/api/v1/runs?limit=50&cursor={_cursor(middle_at, middle_id)}"),
        ("last page (cursor at count-50)", f"/api/v1/runs?limit=50&cursor={_cursor(last_at, last_id)}"),
        ("GET /api/v1/runs/<id>", f"/api/v1/runs/{middle_id}"),
    ]


def _cursor(created_at: Any, run_id: Any) -> str:
    """A ``next``-link cursor starting after the run ``(created_at, run_id)``: the API's keyset
    position ``created_at|id`` in DRF's cursor encoding (runs/api/pagination.py)."""
    import base64
    from urllib.parse import quote, urlencode

    position = f"{created_at.isoformat()}|{run_id}"
    return quote(base64.b64encode(urlencode({"p": position}).encode()).decode())


def _time(api_url: str, token: str, endpoints: Sequence[tuple[str, str]], reps: int) -> dict[str, Figure]:
    """Milliseconds per request, one request at a time, endpoints interleaved round by round."""
    timings = {label: Figure("ms") for label, _ in endpoints}
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        for round_ in range(reps + 2):
            for label, path in endpoints:
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path}: HTTP {response.status_code} {response.text[:300]}")
                if round_ >= 2:  # two warm-up rounds: caches and connections, as in steady use
                    timings[label].add(elapsed)
    return timings


def _explain(api_url: str, token: str, endpoints: Sequence[tuple[str, str]]) -> str:
    """The SQL each endpoint runs against the runs table, with its plan and actual times."""
    from urllib.parse import urlsplit

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    # The Host the timed requests send: the chart's ALLOWED_HOSTS (bench/_fleet.py) refuses
    # Django's default "testserver" with 400 before any query runs.
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST=urlsplit(api_url).netloc)
    out: list[str] = []
    for label, path in endpoints:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        if response.status_code != 200:  # a refused request runs no SQL: never print an empty plan
            raise RuntimeError(f"in-process GET {path}: HTTP {response.status_code} {response.content[:300]!r}")
        out.append(f"\n--- {label}  (GET {path})")
        for query in captured.captured_queries:
            sql = query["sql"]
            if TABLE not in sql:
                continue  # the token lookup: a unique-index probe
            shown = re.sub(r"^SELECT .+? FROM", "SELECT <columns> FROM", sql) if len(sql) > 300 else sql
            out.append(f"SQL ({query['time']} s in Django): {shown}")
            plan = _sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            out.extend(f"    {row[0]}" for row in plan)
    return "\n".join(out)


def _table_size() -> str:
    size = _sql(f"SELECT pg_size_pretty(pg_total_relation_size('{TABLE}'))")[0][0]
    return str(size)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="atomfleet-bench-tables-"))
    print(f"table growth benchmark: tenant {args.tenant_rows} runs, table {args.table_rows} runs "
          f"({args.other_tenants} other tenants), {args.reps} rounds per stage, one client", flush=True)
    print(f"machine: {machine()}", flush=True)
    stages: list[tuple[str, dict[str, Figure]]] = []
    with throwaway_database(args.database) as db_url, contextlib.ExitStack() as stack:
        fleet = Fleet(db_url, redis_url(args.redis_db), workdir=workdir)
        stack.callback(fleet.stop)
        fleet.prepare()
        fleet.start_api()
        _setup_django(fleet)
        from atomfleet_orchestrator.tenancy.models import Tenant
        from bench._seed import analyze, seed_runs

        tenant = Tenant.objects.get(slug="bench")
        others = [Tenant.objects.create(slug=f"other-{i}", name=f"Other {i}") for i in range(args.other_tenants)]
        plan = [("empty (1 run)", 1, 1), (f"~0 ({_k(args.base_rows)} runs)", args.base_rows, args.base_rows),
                (f"tenant {_k(args.tenant_rows)}", args.tenant_rows, args.tenant_rows)]
        if args.table_rows > args.tenant_rows and others:
            plan.append((f"table {_k(args.table_rows)}", args.tenant_rows, args.table_rows))
        seeded_tenant = seeded_table = 0
        endpoints: list[tuple[str, str]] = []
        for label, tenant_rows, table_rows in plan:
            started = time.perf_counter()
            seed_runs(tenant.id, tenant_rows - seeded_tenant)
            rest = table_rows - tenant_rows - (seeded_table - seeded_tenant)
            for i, other in enumerate(others):
                seed_runs(other.id, rest // len(others) + (1 if i < rest % len(others) else 0))
            analyze()
            seeded_tenant, seeded_table = tenant_rows, table_rows
            print(f"stage {label}: tenant {tenant_rows} runs, table {table_rows} runs ({_table_size()}), "
                  f"seeded and analyzed in {time.perf_counter() - started:.1f}s", flush=True)
            endpoints = _endpoints(tenant.id)
            stages.append((label, _time(fleet.api_url, fleet.token, endpoints, args.reps)))

        base_label, base = stages[1]
        header = ["endpoint", *(label for label, _ in stages), *(f"× {label}" for label, _ in stages[2:])]
        rows = []
        for name, _path in endpoints:
            cells = [stage[name].cell() for _, stage in stages]
            growth = [ratio(stage[name].median, base[name].median, 2, "×") for _, stage in stages[2:]]
            rows.append([name, *cells, *growth])
        print(f"\nmilliseconds per request, medians [min–max] of {args.reps} rounds; × = growth against "
              f"{base_label} (full pages; the empty table serializes nothing, so it is no baseline for growth)")
        print(markdown_table(header, rows), flush=True)
        print(f"load average at end: {load_average()} (1, 5, 15 min; {os.cpu_count()} CPUs)", flush=True)
        if not args.no_explain:
            print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the runs-table SQL each endpoint runs, at stage {stages[-1][0]}:")
            print(_explain(fleet.api_url, fleet.token, endpoints), flush=True)
        from django.db import connections

        connections.close_all()  # before the database is dropped
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run_main(main)
