"""Worker metrics benchmark: throughput with metrics off vs on, and scrape latency.

1. Throughput: the same workload (N one-``INCR`` atom tasks on a prefork worker, concurrency C)
   runs on a worker built without metrics and on one with metrics, alternately, ``--rounds``
   times each; the best run of each is compared (the machine is shared, best-of is the least
   noisy). Target: overhead <= 5 %.
2. Scrape latency: a worker recycling its child after every task runs ``--recycled`` tasks, then
   ``/metrics`` is fetched ``--scrapes`` times. Target: < 100 ms. The metrics folder's file count
   is printed too (bounded by pool slots, not by the number of children that ever ran).

Uses Redis DB 12 (``OBS_BROKER_URL`` overrides). Prints results; exits 0 whatever they are.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="atomfleet-bench-mp-"))

from tests.observability._support import Worker, http_get, wait_for  # noqa: E402

TASK = "atomfleet.atom.bench.incr"


def _app(broker_url: str):  # type: ignore[no-untyped-def]
    os.environ["OBS_BROKER_URL"] = broker_url
    from tests.observability.fleet_app import app

    app.conf.broker_url = broker_url
    return app


def throughput(broker_url: str, workdir: Path, metrics: bool, tasks: int, concurrency: int) -> float:
    client = redis.Redis.from_url(broker_url)
    client.flushdb()
    worker = Worker(broker_url, "default", workdir, concurrency=concurrency, prefetch=4,
                    max_tasks_per_child=None, name=f"tp-{'on' if metrics else 'off'}-{time.monotonic_ns()}",
                    extra_env={"OBS_METRICS": "1" if metrics else "0"})
    try:
        worker.wait_ready()
        app = _app(broker_url)
        key = "obs:bench:done"
        with app.producer_or_acquire() as producer:
            # Publish first, then time the drain: publishing speed is not what is measured.
            started = time.perf_counter()
            for _ in range(tasks):
                app.send_task(TASK, (key,), queue="default", producer=producer)
        wait_for(lambda: int(client.get(key) or 0) >= tasks, 600, "workload done", interval=0.01)
        return tasks / (time.perf_counter() - started)
    finally:
        worker.stop()


def scrape_latency(broker_url: str, workdir: Path, recycled: int, scrapes: int, concurrency: int) -> dict[str, float]:
    client = redis.Redis.from_url(broker_url)
    client.flushdb()
    worker = Worker(broker_url, "default", workdir, concurrency=concurrency, prefetch=1,
                    max_tasks_per_child=1, name=f"scrape-{time.monotonic_ns()}")
    try:
        worker.wait_ready()
        app = _app(broker_url)
        key = "obs:bench:recycled"
        for _ in range(recycled):
            app.send_task(TASK, (key,), queue="default")
        wait_for(lambda: int(client.get(key) or 0) >= recycled, 1200, "recycling workload done", interval=0.2)
        http_get(worker.metrics_url)  # warm-up
        timings = []
        for _ in range(scrapes):
            t0 = time.perf_counter()
            body = http_get(worker.metrics_url)
            timings.append((time.perf_counter() - t0) * 1000)
        files = sum(len(list(d.iterdir())) for d in worker.metrics_dir.iterdir())
        started = [
            line for line in body.splitlines()
            if line.startswith("celery_task_started_total") and "bench.incr" in line
        ]
        return {"p50_ms": statistics.median(timings), "p95_ms": sorted(timings)[int(0.95 * (len(timings) - 1))],
                "max_ms": max(timings), "files": files, "bytes": len(body),
                "started": sum(float(line.rsplit(" ", 1)[1]) for line in started)}
    finally:
        worker.stop()


def hot_path_cost(iterations: int = 20000) -> float:
    """Microseconds of metric writes per task in one process (what every task pays, noise-free)."""
    from atomfleet.metrics import definitions as m
    from atomfleet.metrics import record_run_finished
    from atomfleet.metrics._process import set_identifier
    from atomfleet.metrics.install import _child

    set_identifier("bench")
    name, host, queue = TASK, "default@bench", "default"
    started = time.perf_counter()
    for _ in range(iterations):
        _child(m.TASK_RECEIVED, name, host, queue).inc()
        _child(m.TASK_STARTED, name, host, queue).inc()
        _child(m.TASK_QUEUE_WAIT, name, queue).observe(0.01)
        _child(m.TASK_RUNTIME, name, host, queue).observe(0.001)
        _child(m.TASK_SUCCEEDED, name, host, queue).inc()
        record_run_finished("bench.incr", queue, "succeeded", 0.001)
    return (time.perf_counter() - started) / iterations * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--recycled", type=int, default=300)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args(argv)
    base = os.environ.get("ATOMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    broker_url = os.environ.get("OBS_BROKER_URL", f"{base}/12")
    workdir = Path(tempfile.mkdtemp(prefix="atomfleet-bench-"))

    print(f"metrics benchmark: {args.tasks} tasks x {args.rounds} rounds, prefork concurrency "
          f"{args.concurrency}, broker {broker_url}", flush=True)
    results: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(args.rounds):
        for metrics in (False, True):
            rate = throughput(broker_url, workdir, metrics, args.tasks, args.concurrency)
            results[metrics].append(rate)
            print(f"  round {round_ + 1} metrics {'on ' if metrics else 'off'}: {rate:8.1f} tasks/s", flush=True)
    off, on = max(results[False]), max(results[True])
    overhead = (off - on) / off * 100
    print(f"throughput  best off {off:.1f} tasks/s, best on {on:.1f} tasks/s, ratio on/off {on / off:.3f}, "
          f"overhead {overhead:+.1f}% (target <= 5%): {'OK' if overhead <= 5 else 'ABOVE TARGET'}")

    print(f"hot path    {hot_path_cost():.1f} us of metric writes per task in-process (received, started, wait, runtime, succeeded, run + duration)")

    print(f"scrape latency after {args.recycled} recycled children (max-tasks-per-child=1, concurrency "
          f"{args.concurrency + 2}), {args.scrapes} scrapes:", flush=True)
    s = scrape_latency(broker_url, workdir, args.recycled, args.scrapes, args.concurrency + 2)
    print(f"scrape      p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, max {s['max_ms']:.1f} ms "
          f"(target < 100 ms): {'OK' if s['p95_ms'] < 100 else 'ABOVE TARGET'}; {s['files']:.0f} metric files, "
          f"{s['bytes'] / 1024:.0f} KiB, {s['started']:.0f} tasks counted")
    redis.Redis.from_url(broker_url).flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
