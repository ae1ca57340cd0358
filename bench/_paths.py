"""The two things measured side by side: raw Celery and the full atomfleet path.

Each exposes the same measurements (end-to-end throughput, submit→start at light load); the
atomfleet one adds the HTTP figures. Both hold their processes until ``stop()``.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from bench._common import VENV_BIN, Process, wait_for
from bench._fleet import Fleet
from bench._load import LoadResult, run_load

__all__ = ["TEXT", "AtomfleetPath", "RawCelery"]

# The cheapest atom on a tiny text: what is measured is the path, not the work.
TEXT = "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs on!"
TERMINAL = ("succeeded", "failed", "cancelled")
RUNS_TABLE = "runs_atomrun"
POLL_S = 0.005  # light-load sampling: how often a waiting client looks again


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def _in_threads(counts: list[int], submit_one: Any) -> list[Any]:
    """Call ``submit_one()`` ``count`` times in each of ``len(counts)`` threads; return their errors."""
    errors: list[BaseException] = []

    def loop(count: int) -> None:
        try:
            for _ in range(count):
                submit_one()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(c,), name=f"client-{i}") for i, c in enumerate(counts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@dataclass
class RawCelery:
    broker_url: str
    result_url: str
    workdir: Path
    worker: Process | None = field(default=None, init=False)

    def start(self) -> None:
        # The client app reads its URLs at import, in this process too.
        os.environ["BENCH_RAW_BROKER_URL"] = self.broker_url
        os.environ["BENCH_RAW_RESULT_URL"] = self.result_url
        for url in (self.broker_url, self.result_url):
            redis.Redis.from_url(url).flushdb()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log = self.workdir / "raw-worker.log"
        self.worker = Process("raw-worker", [
            str(VENV_BIN / "celery"), "-A", "bench._raw_celery", "worker", "--queues=raw",
            "--hostname=raw@bench", "--concurrency=2", "--prefetch-multiplier=1", "--pool=prefork",
            "--without-mingle", "--without-gossip", "--loglevel=INFO",
        ], env, log).start()
        worker = self.worker
        wait_for(lambda: "raw@bench ready." in worker.tail(100_000), 60, "the raw Celery worker",
                 interval=0.2, alive=worker.check_alive)

    def process_groups(self) -> dict[str, int]:
        return {"worker (main + pool)": self.worker.pid} if self.worker is not None else {}

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        for url in (self.broker_url, self.result_url):
            redis.Redis.from_url(url).flushdb()

    def throughput(self, n: int, threads: int) -> float:
        """Tasks/s from the first submit until ``n`` results are stored."""
        from bench._raw_celery import raw_text_stats

        results = redis.Redis.from_url(self.result_url)
        results.flushdb()
        started = time.perf_counter()
        errors = _in_threads(_split(n, threads), lambda: raw_text_stats.apply_async((TEXT, time.time())))
        if errors:
            raise RuntimeError(f"raw submit failed: {errors[0]!r}")
        assert self.worker is not None
        wait_for(lambda: results.dbsize() >= n, 600, f"{n} raw results", interval=0.01,
                 alive=self.worker.check_alive)
        return n / (time.perf_counter() - started)

    def start_latency(self, samples: int) -> list[float]:
        """ms from just before publish (client clock) to the task body's start (worker clock)."""
        from bench._raw_celery import raw_text_stats

        out = []
        for _ in range(samples):
            result = raw_text_stats.apply_async((TEXT, time.time())).get(timeout=60)
            out.append((result["started_at"] - result["sent_at"]) * 1000)
        return out


@dataclass
class AtomfleetPath:
    fleet: Fleet
    atom: str = "text.stats"
    load_tool: str = "auto"
    queries: int = field(default=0, init=False)  # the bench's own, to take out of the server counters
    _db: psycopg.Connection[Any] | None = field(default=None, init=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.fleet.token}", "Content-Type": "application/json"}

    @property
    def submit_url(self) -> str:
        return f"{self.fleet.api_url}/api/v1/atoms/{self.atom}/runs"

    @property
    def body(self) -> str:
        import json

        return json.dumps({"args": {"text": TEXT}})

    def start(self) -> None:
        self.fleet.start()
        self._db = psycopg.connect(self.fleet.database_url, autocommit=True)

    def process_groups(self) -> dict[str, int]:
        fleet = self.fleet
        named = {"worker (main + pool)": fleet.worker, "API (gunicorn master + workers)": fleet.api, "beat": fleet.beat}
        return {name: proc.pid for name, proc in named.items() if proc is not None}

    def stop(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self.fleet.stop()
        redis.Redis.from_url(self.fleet.broker_url).flushdb()

    def _sql(self, query: str, *params: Any) -> Any:
        assert self._db is not None
        self.queries += 1
        cursor = self._db.execute(query, params)
        return cursor.fetchall() if cursor.description is not None else None

    def reset(self) -> None:
        """An empty runs table before each repetition (the queue is empty: every run finished)."""
        # Workflow steps reference runs: a workflow bench may have left some.
        self._sql(f"TRUNCATE {RUNS_TABLE}, workflows_workflowstep, workflows_workflow")

    def _terminal(self) -> int:
        return int(self._sql(f"SELECT count(*) FROM {RUNS_TABLE} WHERE status = ANY(%s)", list(TERMINAL))[0][0])

    def throughput(self, n: int, threads: int) -> tuple[float, dict[str, int]]:
        """Runs/s from the first POST until ``n`` runs are terminal; also the status counts."""
        self.reset()
        local = threading.local()
        clients: list[httpx.Client] = []
        rejected: list[int] = []

        def submit() -> None:
            client = getattr(local, "client", None)
            if client is None:  # one keep-alive client per thread, as a real bulk caller would use
                client = local.client = httpx.Client(headers=self.headers, timeout=60)
                clients.append(client)
            response = client.post(self.submit_url, content=self.body)
            if response.status_code != 202:
                rejected.append(response.status_code)

        started = time.perf_counter()
        errors = _in_threads(_split(n, threads), submit)
        for client in clients:
            client.close()
        if errors or rejected:
            raise RuntimeError(f"submits failed: {errors[:1]!r}, HTTP {sorted(set(rejected))}")
        wait_for(lambda: self._terminal() >= n, 900, f"{n} terminal runs", interval=0.02,
                 alive=self.fleet.check_alive)
        rate = n / (time.perf_counter() - started)
        counts = dict(self._sql(f"SELECT status, count(*) FROM {RUNS_TABLE} GROUP BY status"))
        return rate, counts

    def throughput_batch(self, n: int, threads: int, batch: int) -> tuple[float, dict[str, int]]:
        """Runs/s as above, submitted ``batch`` at a time (``POST .../runs/batch``): a bulk caller."""
        import json

        self.reset()
        local = threading.local()
        clients: list[httpx.Client] = []
        rejected: list[int] = []
        body = json.dumps({"items": [{"args": {"text": TEXT}}] * batch})

        def submit() -> None:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(headers=self.headers, timeout=120)
                clients.append(client)
            response = client.post(f"{self.submit_url}/batch", content=body)
            if response.status_code != 202:
                rejected.append(response.status_code)

        requests = -(-n // batch)
        started = time.perf_counter()
        errors = _in_threads(_split(requests, threads), submit)
        for client in clients:
            client.close()
        if errors or rejected:
            raise RuntimeError(f"batch submits failed: {errors[:1]!r}, HTTP {sorted(set(rejected))}")
        total = requests * batch
        wait_for(lambda: self._terminal() >= total, 900, f"{total} terminal runs", interval=0.02,
                 alive=self.fleet.check_alive)
        rate = total / (time.perf_counter() - started)
        counts = dict(self._sql(f"SELECT status, count(*) FROM {RUNS_TABLE} GROUP BY status"))
        return rate, counts

    def _wait_terminal(self, run_id: str) -> tuple[Any, Any]:
        def done() -> Any:
            row = self._sql(f"SELECT status, created_at, started_at FROM {RUNS_TABLE} WHERE id = %s", run_id)
            return row[0] if row and row[0][0] in TERMINAL else None

        status, created_at, started_at = wait_for(done, 60, f"run {run_id}", interval=POLL_S,
                                                  alive=self.fleet.check_alive)
        return created_at, started_at

    def start_latency(self, samples: int) -> list[float]:
        """ms from ``created_at`` (API) to ``started_at`` (worker claim), one run at a time."""
        self.reset()
        out = []
        with httpx.Client(headers=self.headers, timeout=60) as client:
            for _ in range(samples):
                response = client.post(self.submit_url, content=self.body)
                response.raise_for_status()
                created_at, started_at = self._wait_terminal(response.json()["id"])
                out.append((started_at - created_at).total_seconds() * 1000)
        return out

    def visible_latency(self, samples: int) -> list[float]:
        """Client wall clock ms from sending the POST until a GET shows the run past ``queued``.

        A GET every ``POLL_S`` s; a tiny run may already have finished, which counts as well.
        """
        self.reset()
        out = []
        with httpx.Client(headers=self.headers, timeout=60) as client:
            for _ in range(samples):
                started = time.perf_counter()
                response = client.post(self.submit_url, content=self.body)
                response.raise_for_status()
                url = response.json()["url"]
                while client.get(url).json()["status"] == "queued":
                    time.sleep(POLL_S)
                out.append((time.perf_counter() - started) * 1000)
                self._wait_terminal(response.json()["id"])
        return out

    def get_one_run(self, seconds: float, connections: int) -> LoadResult:
        run_id = self._sql(f"SELECT id FROM {RUNS_TABLE} ORDER BY created_at DESC LIMIT 1")[0][0]
        return run_load(f"{self.fleet.api_url}/api/v1/runs/{run_id}", headers=self.headers,
                        seconds=seconds, connections=connections, tool=self.load_tool)

    def post_alone(self, seconds: float, connections: int) -> LoadResult:
        """Submit rate with nothing consuming the queue (call with the worker stopped)."""
        self.reset()
        return run_load(self.submit_url, method="POST", body=self.body, headers=self.headers,
                        seconds=seconds, connections=connections, tool=self.load_tool)
