"""Side by side: raw Celery and the full atomfleet path, same atom body, same machine, one run.

Raw Celery: a plain app (JSON, acks_late, prefetch 1, prefork 2, Redis broker and results) whose
task runs ``text.stats``'s function on a tiny text. atomfleet: ``atomfleet api`` (gunicorn, 2
workers), beat and one ``default`` worker as the chart starts them (bench/_fleet.py), on PostgreSQL
and Redis, runs of ``text.stats`` POSTed over HTTP with a tenant token.

Per repetition (raw first, then atomfleet, so drift on a shared machine hits both):
- end-to-end: N submits from T client threads, time until all N finished (raw: results stored;
  atomfleet: run rows terminal);
- submit→start at light load, one at a time, from server timestamps (raw: client clock just before
  publish → task body start; atomfleet: ``created_at`` → ``started_at`` of the run row);
- atomfleet only: POST → run visible past ``queued`` through GET (client wall clock), and GET one
  run req/s.
After the repetitions the worker is stopped and POST submit alone is measured R times.

Prints medians and [min–max] over the repetitions and the ratios of issue 12. Nothing is asserted.
Uses Redis DBs ``--redis-db`` … +3 and the PostgreSQL database ``--database`` (created, dropped).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from importlib import metadata
from pathlib import Path

import psycopg
import redis

from bench._common import (
    Figure,
    database_url,
    env_int,
    load_average,
    machine,
    markdown_table,
    percentile,
    ratio,
    redis_url,
    run_main,
    stop_on_sigterm,
    throwaway_database,
)
from bench._counters import Snapshot, per_item, snapshot, wait_for_pg_flush
from bench._fleet import Fleet
from bench._load import load_tool
from bench._paths import AtomfleetPath, RawCelery


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--tasks", type=int, default=env_int("BENCH_N", 2000), help="end-to-end submits per repetition (env BENCH_N)")
    p.add_argument("-r", "--reps", type=int, default=env_int("BENCH_R", 3), help="repetitions (env BENCH_R)")
    p.add_argument("-t", "--threads", type=int, default=env_int("BENCH_THREADS", 4), help="client threads (env BENCH_THREADS)")
    p.add_argument("--batch", type=int, default=env_int("BENCH_BATCH", 100),
                   help="runs per request of the batch end-to-end figure (env BENCH_BATCH; 0: skip it)")
    p.add_argument("--latency-samples", type=int, default=env_int("BENCH_LATENCY_SAMPLES", 200),
                   help="one-at-a-time runs per repetition for the light-load latencies")
    p.add_argument("--http-seconds", type=float, default=10.0, help="duration of each req/s load")
    p.add_argument("--http-connections", type=int, default=8,
                   help="concurrent connections of the req/s load (2 gunicorn workers × 4 threads)")
    p.add_argument("--load-tool", choices=("auto", "wrk", "httpx"), default="auto",
                   help="req/s load generator (auto: wrk when installed)")
    p.add_argument("--redis-db", type=int, default=2, help="first of the 3 Redis DBs used (raw broker, raw results, atomfleet broker)")
    p.add_argument("--database", default="atomfleet_bench_throughput", help="PostgreSQL database (dropped and created)")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="after the measured repetitions, one more atomfleet end-to-end run under py-spy; stacks and a summary go to DIR")
    p.add_argument("--keep-logs", action="store_true", help="print the folder of the process logs and leave it")
    return p


def _versions() -> str:
    names = ("celery", "kombu", "redis", "Django", "djangorestframework", "gunicorn", "psycopg")
    return ", ".join(f"{n} {metadata.version(n)}" for n in names)


def _server_versions(db_url: str, redis_db_url: str) -> str:
    with psycopg.connect(db_url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    info = redis.Redis.from_url(redis_db_url).info("server")
    return f"PostgreSQL {pg}, Redis {info['redis_version']}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="atomfleet-bench-throughput-"))
    db = args.redis_db
    tool = load_tool(args.load_tool)
    print(f"throughput benchmark: N={args.tasks} by {args.threads} client threads, R={args.reps}, "
          f"{args.latency_samples} light-load samples, req/s by {tool} with {args.http_connections} "
          f"connections for {args.http_seconds:g}s", flush=True)
    print(f"machine: {machine()}")
    print(f"versions: {_versions()}, {_server_versions(database_url('postgres'), redis_url(db))}", flush=True)

    raw = RawCelery(redis_url(db), redis_url(db + 1), workdir)
    figures = {k: Figure(u) for k, u in (
        ("raw_tp", "tasks/s"), ("af_tp", "runs/s"), ("af_batch_tp", "runs/s"), ("raw_p50", "ms"), ("raw_p99", "ms"),
        ("af_p50", "ms"), ("af_p99", "ms"), ("af_visible", "ms"), ("af_post", "req/s"), ("af_get", "req/s"))}
    with throwaway_database(args.database) as db_url, contextlib.ExitStack() as stack:
        af = AtomfleetPath(Fleet(db_url, redis_url(db + 2), workdir=workdir), load_tool=tool)
        stack.callback(af.stop)
        stack.callback(raw.stop)
        raw.start()
        af.start()
        print(f"started: raw Celery worker, atomfleet API {af.fleet.api_url} + beat + worker "
              f"(logs in {workdir})", flush=True)
        costs: dict[str, dict[str, str]] = {}
        for rep in range(1, args.reps + 1):
            groups = raw.process_groups()
            before = snapshot(redis_url(db), groups=groups)
            rate = figures["raw_tp"].add(raw.throughput(args.tasks, args.threads))
            if rep == 1:
                costs["raw"] = per_item(snapshot(redis_url(db), groups=groups) - before, args.tasks)
            lat = raw.start_latency(args.latency_samples)
            p50, p99 = figures["raw_p50"].add(percentile(lat, 50)), figures["raw_p99"].add(percentile(lat, 99))
            print(f"  rep {rep} raw Celery: {rate:7.1f} tasks/s; submit→start p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)

            groups = af.process_groups()
            before, queries = snapshot(redis_url(db), db_url, groups), af.queries
            rate, counts = af.throughput(args.tasks, args.threads)
            figures["af_tp"].add(rate)
            if rep == 1:
                after = snapshot(redis_url(db), db_url, groups)  # CPU now, before the idle wait
                costs["af"] = _af_costs(before, after, af.queries - queries, redis_url(db), db_url, args.tasks)
            if args.batch:
                batch_rate, _ = af.throughput_batch(args.tasks, args.threads, args.batch)
                figures["af_batch_tp"].add(batch_rate)
                print(f"  rep {rep} atomfleet:  {batch_rate:7.1f} runs/s submitted {args.batch} per request", flush=True)
            lat = af.start_latency(args.latency_samples)
            p50, p99 = figures["af_p50"].add(percentile(lat, 50)), figures["af_p99"].add(percentile(lat, 99))
            visible = figures["af_visible"].add(percentile(af.visible_latency(args.latency_samples), 50))
            get = af.get_one_run(args.http_seconds, args.http_connections)
            figures["af_get"].add(get.ok_per_s)
            print(f"  rep {rep} atomfleet:  {rate:7.1f} runs/s ({_counts(counts)}); submit→start p50 {p50:.1f} ms, "
                  f"p99 {p99:.1f} ms; POST→visible p50 {visible:.1f} ms; GET one run {get.ok_per_s:.1f} req/s"
                  f"{_errors(get.errors)}", flush=True)

        if args.profile is not None:
            from bench._profile import profile_throughput

            profile_throughput(af, args.tasks, args.threads, args.profile)

        af.fleet.stop_worker()
        for rep in range(1, args.reps + 1):
            post = af.post_alone(args.http_seconds, args.http_connections)
            figures["af_post"].add(post.ok_per_s)
            print(f"  rep {rep} atomfleet, worker stopped: POST submit {post.ok_per_s:.1f} req/s{_errors(post.errors)}", flush=True)

    f = figures
    rows = [
        (f"end-to-end, N={args.tasks} submitted by {args.threads} client threads, all finished",
         f["raw_tp"].cell(), f["af_tp"].cell(), ratio(f["af_tp"].median, f["raw_tp"].median)),
        *([(f"end-to-end, the same submitted {args.batch} per request (POST .../runs/batch)",
            f["raw_tp"].cell(), f["af_batch_tp"].cell(), ratio(f["af_batch_tp"].median, f["raw_tp"].median))]
          if args.batch else []),
        ("submit→start at light load, p50 (server timestamps)",
         f["raw_p50"].cell(), f["af_p50"].cell(), ratio(f["af_p50"].median, f["raw_p50"].median, 1, "×")),
        ("submit→start at light load, p99 (server timestamps)",
         f["raw_p99"].cell(), f["af_p99"].cell(), ratio(f["af_p99"].median, f["raw_p99"].median, 1, "×")),
        ("POST → run visible as running (wall clock), p50", "—", f["af_visible"].cell(), "—"),
        (f"POST submit alone ({tool}, worker stopped)", "—", f["af_post"].cell(), "—"),
        (f"GET one run ({tool})", "—", f["af_get"].cell(), "—"),
    ]
    print(f"\nmedians [min–max] of {args.reps} repetition(s); ratio = atomfleet / raw Celery")
    print(markdown_table(("figure", "raw Celery", "atomfleet", "ratio"), rows), flush=True)
    raw_c, af_c = costs.get("raw", {}), costs.get("af", {})
    cpu_names = list(dict.fromkeys(k for c in (raw_c, af_c) for k in c if k.startswith("cpu:")))
    cost_rows = [
        *((f"CPU ms: {k.removeprefix('cpu:')}", raw_c.get(k, "—"), af_c.get(k, "—")) for k in cpu_names),
        ("Redis commands (server-wide)", raw_c.get("redis", "—"), af_c.get("redis", "—")),
        ("  most used", raw_c.get("redis_top", "—"), af_c.get("redis_top", "—")),
        ("PostgreSQL transactions", "—", af_c.get("pg_xact", "—")),
        ("PostgreSQL connections opened", "—", af_c.get("pg_sessions", "—")),
        ("rows inserted / updated / deleted", "—", af_c.get("pg_rows", "—")),
    ]
    print(f"\nwork per task / per run in the first end-to-end repetition (server counters, N={args.tasks}; "
          "the bench's own polling is taken out)")
    print(markdown_table(("counter", "raw Celery", "atomfleet"), cost_rows), flush=True)
    print(f"load average at end: {load_average()} (1, 5, 15 min; {os.cpu_count()} CPUs)", flush=True)
    if args.keep_logs:
        print(f"logs kept in {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _af_costs(before: Snapshot, after: Snapshot, bench_queries: int, redis: str, db_url: str,
              n: int) -> dict[str, str]:
    wait_for_pg_flush()  # idle backends (the API's persistent connections) report late
    delta = after - before
    delta.pg.update((snapshot(redis, db_url) - before).pg)
    delta.pg["xact_commit"] -= bench_queries
    return per_item(delta, n)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


def _errors(n: int) -> str:
    return f" ({n} errors)" if n else ""


if __name__ == "__main__":
    run_main(main)
