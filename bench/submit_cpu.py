"""The API's own CPU per submit, in-process: the Django WSGI application called directly.

No HTTP server, no client, no worker: ``--n`` ``POST /api/v1/atoms/text.stats/runs`` (and
``--batches`` batch POSTs of ``--batch-size`` runs) go to ``atomfleet_orchestrator.wsgi.application``
in this process, with the settings the chart gives the API (bench/_fleet.py's environment) on a
throwaway database and a Redis DB of the bench's own (the broker: every run gets its turn and is
published, as with a worker consuming). CPU per request is ``time.process_time()`` around the
WSGI call only; between calls, untimed, the run is marked succeeded (its slot freed, so the next
run gets its turn and is published, as in steady use) and the broker's list is emptied now and then.

Then the same requests once more under cProfile: self time by component and the time under the
calls of the submit path (``--top`` heaviest functions too). Figures only: nothing is asserted.

    .venv/bin/python -m bench.submit_cpu --n 2000
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench._common import (
    env_int,
    machine,
    percentile,
    redis_url,
    stop_on_sigterm,
    throwaway_database,
)
from bench._fleet import Fleet


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=env_int("BENCH_N", 2000), help="single POSTs timed")
    p.add_argument("--warmup", type=int, default=200, help="untimed POSTs first")
    p.add_argument("--batches", type=int, default=20, help="batch POSTs timed")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--profile-n", type=int, default=1000, help="single POSTs under cProfile (0: none)")
    p.add_argument("--top", type=int, default=30, help="heaviest functions printed (cumulative)")
    p.add_argument("--redis-db", type=int, default=12, help="Redis DB of the broker (emptied)")
    p.add_argument("--database", default="atomfleet_bench_submit", help="PostgreSQL database (dropped and created)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra API setting")
    return p


_COMPONENTS = (
    ("atomfleet_orchestrator/runs/api", "atomfleet: runs API views/serializers"),
    ("atomfleet_orchestrator/", "atomfleet: orchestrator (other)"), ("/atomfleet/", "atomfleet: SDK"),
    ("psycopg", "psycopg"), ("redis/", "redis-py"), ("kombu/", "kombu"), ("celery/", "celery"),
    ("django/db/", "Django ORM"), ("django/", "Django (other)"), ("rest_framework/", "DRF"),
    ("jsonschema", "jsonschema"), ("referencing", "jsonschema"), ("prometheus_client/", "prometheus_client"),
    ("logging/", "logging"), ("json/", "json"), ("uuid", "uuid"), ("copy", "copy"),
)
# The calls of the submit path whose inclusive time is printed (function name, file fragment).
_PATH = (
    ("__call__", "django/core/handlers/wsgi.py", "WSGI handler (everything)"),
    ("authenticate", "tenancy/authentication.py", "authentication (cached token)"),
    ("submit", "runs/api/views.py", "the DRF submit view"),
    ("submit", "runs/api/lean.py", "the lean submit view"),
    ("submit_run", "runs/submission.py", "submit_run (validate, admit, insert, turns)"),
    ("validate", "atoms/registry.py", "args against the atom's schema"),
    ("admit", "tenancy/admission.py", "admission: quota count + rate bucket"),
    ("settle", "tenancy/admission.py", "admission: exact quota under the lock"),
    ("create_run", "runs/submission.py", "create_run (INSERT + event)"),
    ("emit_run", "events/log.py", "the accepted event's INSERT"),
    ("give_turns", "runs/fairness.py", "fairness.give_turns"),
    ("__exit__", "django/db/transaction.py", "Atomic.__exit__ (commit + on-commit publish)"),
    ("publish_from_api", "runs/dispatch.py", "publish on commit (send_task + kombu)"),
    ("data", "rest_framework/serializers.py", "RunSerializer(...).data"),
    ("run_answer", "runs/api/answers.py", "the lean answer"),
    ("is_valid", "rest_framework/serializers.py", "request serializer is_valid"),
)


def _setup_django(fleet: Fleet, extra: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(fleet.env(DJANGO_SETTINGS_MODULE="atomfleet_orchestrator.settings", **extra))
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)  # a log line per request is gunicorn's, not the view stack's


class _Client:
    """WSGI environ in, (status, headers, body) out: what gunicorn hands Django, minus the socket."""

    def __init__(self, token: str) -> None:
        from atomfleet_orchestrator.wsgi import application

        self.app = application
        self.auth = f"Bearer {token}"

    def environ(self, path: str, body: bytes) -> dict[str, Any]:
        return {
            "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:8000", "HTTP_AUTHORIZATION": self.auth,
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True,
            "wsgi.run_once": False, "wsgi.version": (1, 0),
        }

    def post(self, path: str, body: bytes) -> tuple[str, bytes]:
        status: list[str] = []

        def start_response(s: str, headers: Any, exc_info: Any = None) -> None:
            status.append(s)

        result = self.app(self.environ(path, body), start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return status[0], content


def _finish(run_ids: list[str]) -> None:
    """Untimed: the runs end (their slots free up, as a worker would make them)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE runs_atomrun SET status = 'succeeded', finished_at = now() WHERE id = ANY(%s::uuid[])",
                       [run_ids])


def _drain(broker: Any) -> None:
    broker.flushdb()


def _single(client: _Client, n: int, broker: Any, timed: bool = True,
            profiler: cProfile.Profile | None = None) -> tuple[list[float], list[float]]:
    cpu, wall = [], []
    for i in range(n):
        body = json.dumps({"args": {"text": f"hello world {i}"}}).encode()
        if profiler is not None:
            profiler.enable()
        c0, w0 = time.process_time(), time.perf_counter()
        status, content = client.post("/api/v1/atoms/text.stats/runs", body)
        c1, w1 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.disable()
        if not status.startswith("202"):
            raise RuntimeError(f"POST: {status} {content[:300]!r}")
        if timed:
            cpu.append((c1 - c0) * 1000)
            wall.append((w1 - w0) * 1000)
        _finish([json.loads(content)["id"]])
        if i % 200 == 199:
            _drain(broker)
    return cpu, wall


def _statements(client: _Client, broker: Any) -> int:
    """The statements one more POST sends (``execute_wrapper`` counts each)."""
    from django.db import connection

    seen: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        _single(client, 1, broker, timed=False)
    return len(seen) - 1  # _finish's UPDATE


def _batch(client: _Client, batches: int, size: int, broker: Any) -> list[float]:
    cpu = []
    for b in range(batches):
        body = json.dumps({"items": [{"args": {"text": f"batch {b} item {i}"}} for i in range(size)]}).encode()
        c0 = time.process_time()
        status, content = client.post("/api/v1/atoms/text.stats/runs/batch", body)
        c1 = time.process_time()
        if not status.startswith("202"):
            raise RuntimeError(f"POST batch: {status} {content[:300]!r}")
        cpu.append((c1 - c0) * 1000 / size)
        _finish([r["run"]["id"] for r in json.loads(content)["results"]])
        _drain(broker)
    return cpu


_SITE = re.compile(r".*/(site-packages|lib/python3\.\d+)/")


def _component(filename: str) -> str:
    return next((name for marker, name in _COMPONENTS if marker in filename),
                "other (stdlib, C, builtins)")


def _profile(run: Callable[[cProfile.Profile], Any], n: int, top: int) -> str:
    profiler = cProfile.Profile(time.process_time)  # CPU, not wall: waits on replies are not the API's
    run(profiler)
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    by_component: Counter[str] = Counter()
    for (filename, _, _), (_, _, tt, _, _) in raw.items():
        by_component[_component(filename)] += tt
    out = [f"cProfile of {n} single POSTs: {total / n * 1000:.3f} ms per POST under the profiler "
           "(CPU; the profiler inflates calls: shares are what to read)",
           "  self time by component:"]
    out += [f"    {t / total:6.1%}  {t / n * 1000:6.3f} ms  {k}" for k, t in by_component.most_common()]
    out.append("  inclusive time of the submit path's calls (per POST):")
    for func, fragment, label in _PATH:
        ct = sum(v[3] for (f, _, name), v in raw.items() if name == func and f.endswith(fragment))
        calls = sum(v[1] for (f, _, name), v in raw.items() if name == func and f.endswith(fragment))
        if calls:
            out.append(f"    {ct / total:6.1%}  {ct / n * 1000:6.3f} ms  {label} ({calls / n:g} calls per POST)")
    rows = sorted(raw.items(), key=lambda kv: -kv[1][3])
    out.append(f"  heaviest functions (inclusive, top {top}):")
    for (filename, line, name), (_, nc, _, ct, _) in rows[:top]:
        out.append(f"    {ct / total:6.1%}  {ct / n * 1000:6.3f} ms  {nc / n:5.1f}×  "
                   f"{name} ({_SITE.sub('', filename)}:{line})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop_on_sigterm()
    extra = dict(kv.split("=", 1) for kv in args.env)
    print(f"machine: {machine()}", flush=True)
    with throwaway_database(args.database) as db_url:
        fleet = Fleet(db_url, redis_url(args.redis_db), extra_env=extra)
        fleet.prepare()
        _setup_django(fleet, extra)
        import redis

        broker = redis.Redis.from_url(redis_url(args.redis_db))
        broker.flushdb()
        client = _Client(fleet.token)
        _single(client, args.warmup, broker, timed=False)
        cpu, wall = _single(client, args.n, broker)
        mean = sum(cpu) / len(cpu)
        print(f"\nsingle POST, {args.n} timed after {args.warmup} warm-up: CPU {mean:.3f} ms per POST "
              f"(p50 {percentile(cpu, 50):.3f}, p90 {percentile(cpu, 90):.3f}); wall p50 "
              f"{percentile(wall, 50):.3f} ms (waits on PostgreSQL and Redis included)", flush=True)
        print(f"SQL statements per single POST through Django's cursor: {_statements(client, broker)} "
              "(plus the connection's health check and the commit)", flush=True)
        if args.batches:
            per_run = _batch(client, args.batches, args.batch_size, broker)
            print(f"batch POST of {args.batch_size}, {args.batches} timed: CPU {sum(per_run) / len(per_run):.3f} ms "
                  f"per run (p50 {percentile(per_run, 50):.3f})", flush=True)
        if args.profile_n:
            print("\n" + _profile(lambda p: _single(client, args.profile_n, broker, timed=False, profiler=p),
                                  args.profile_n, args.top), flush=True)
        broker.flushdb()
        from django.db import connections

        connections.close_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
