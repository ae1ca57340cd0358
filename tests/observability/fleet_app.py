"""A small Celery app shaped like the orchestrator's, for the observability tests and bench.

Same broker and worker settings as the real app (JSON only, Redis with kombu's priority lists,
sent/task events on), tasks named ``atomfleet.atom.<atom>``; each task reports its run like the core
does (``record_run_finished``). ``OBS_METRICS=0`` builds it without metrics (bench baseline).
"""

from __future__ import annotations

import os
import time

from celery import Celery
from celery.worker.control import control_command
from kombu import Exchange, Queue

from atomfleet.probes import install_worker_probes

QUEUES = ("default", "io_bound", "ml_training")
BROKER_URL = os.environ.get("OBS_BROKER_URL", "redis://127.0.0.1:6379/12")
METRICS = os.environ.get("OBS_METRICS", "1") == "1"

app = Celery("atomfleet", broker=BROKER_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_queues=[Queue(q, Exchange(q, type="direct"), routing_key=q) for q in QUEUES],
    task_default_queue="default",
    task_acks_late=os.environ.get("OBS_ACKS_LATE", "1") == "1",
    task_send_sent_event=True,
    worker_send_task_events=True,
    broker_transport_options={"visibility_timeout": 3600},
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

if METRICS:
    from atomfleet.metrics import install_worker_metrics, record_run_finished

    install_worker_metrics(app)
else:  # pragma: no cover - bench baseline

    def record_run_finished(atom: str, queue: str, outcome: str, duration_s: float | None) -> None:
        return None


install_worker_probes(app)


def _run(task, outcome: str, started: float) -> None:
    queue = (task.request.delivery_info or {}).get("routing_key", "unknown")
    record_run_finished(task.name.removeprefix("atomfleet.atom."), queue, outcome, time.monotonic() - started)


@app.task(bind=True, name="atomfleet.atom.test.ok")
def ok(self, i: int = 0) -> int:
    started = time.monotonic()
    _run(self, "succeeded", started)
    return i


@app.task(bind=True, name="atomfleet.atom.test.fail")
def fail(self, i: int = 0) -> None:
    started = time.monotonic()
    _run(self, "failed", started)
    raise ValueError(f"planned failure {i}")


@app.task(bind=True, name="atomfleet.atom.test.hold")
def hold(self, release_key: str, timeout: float = 60.0) -> None:
    """Run until ``release_key`` is pushed to (keeps a pool slot busy on demand)."""
    import redis

    started = time.monotonic()
    client = redis.Redis.from_url(BROKER_URL, socket_timeout=timeout + 10)
    client.blpop([release_key], timeout=int(timeout))
    _run(self, "succeeded", started)


@app.task(bind=True, name="atomfleet.atom.test.sleep", time_limit=1)
def sleep(self, seconds: float = 5.0) -> None:
    time.sleep(seconds)  # killed by the 1 s hard time limit


@app.task(bind=True, name="atomfleet.atom.test.retry", max_retries=1)
def retry(self) -> None:
    started = time.monotonic()
    if self.request.retries == 0:
        _run(self, "retrying", started)
        raise self.retry(countdown=0)
    _run(self, "succeeded", started)


@app.task(name="atomfleet.maintenance.noop")
def noop() -> None:
    return None


@control_command()
def obs_block_loop(state, seconds: float = 5.0):  # type: ignore[no-untyped-def]
    """Remote control command that blocks the worker's consumer loop (probe tests)."""
    time.sleep(float(seconds))
    return {"ok": "blocked"}


@app.task(bind=True, name="atomfleet.atom.bench.incr")
def bench_incr(self, key: str) -> None:
    """Benchmark task: one Redis INCR (so completion is observable with metrics off too)."""
    import redis

    started = time.monotonic()
    global _bench_client
    if _bench_client is None:
        _bench_client = redis.Redis.from_url(BROKER_URL)
    _bench_client.incr(key)
    _run(self, "succeeded", started)


_bench_client = None
