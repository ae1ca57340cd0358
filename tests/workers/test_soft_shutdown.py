"""Soft shutdown (chart ``shutdown.mode: soft``): SIGTERM ends an idle worker at once, and a busy one
as soon as its runs finish, never the whole window later.

The worker is started as the chart starts ml_training's (its rendered command line and shutdown
environment: ``REMAP_SIGTERM=SIGQUIT``, a 3600 s window, a 3900 s grace period) and gets SIGTERM on
its main process only, as the kubelet sends it to PID 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from atomfleet.catalog import task_name_for
from atomfleet.probes.check import check
from atomfleet_orchestrator.celery import app
from atomfleet_orchestrator.runs.dispatch import PUBLISHED_AT_HEADER
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import Tenant
from tests.support.live_api import database_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "k8s-tests"))

from chartlib import container, one, render  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fleet, pytest.mark.timeout(180)]

QUEUE = "ml_training"


def _chart_worker() -> tuple[list[str], dict[str, str]]:
    """ml_training's worker command line and its literal environment, from the default render."""
    c = container(one(render(), "Deployment", "atomfleet-worker-ml-training"))
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e and e["name"] != "ATOMFLEET_BROKER_URL"}
    args = [a.replace("$(POD_NAME)", "soft-test") for a in c["args"]]
    assert c["command"] == ["celery"]
    return [sys.executable, "-m", "celery", *args], env


class _Worker:
    def __init__(self, tmp_path: Path, **overrides: str) -> None:
        argv, chart_env = _chart_worker()
        assert chart_env["REMAP_SIGTERM"] == "SIGQUIT" and chart_env["ATOMFLEET_SOFT_SHUTDOWN_TIMEOUT"] == "3600"
        chart_env |= overrides
        self.probes = tmp_path / "probes"
        self.log = tmp_path / "worker.log"
        env = {
            **os.environ, **chart_env,
            "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "ATOMFLEET_METRICS_PORT": "0",
            "ATOMFLEET_PROBE_DIR": str(self.probes), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
            "ATOMFLEET_LIVENESS_MAX_AGE": "3",
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd=tmp_path)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "ready." not in self.text():
            assert self.proc.poll() is None, self.text()[-3000:]
            assert time.monotonic() < deadline, self.text()[-3000:]
            time.sleep(0.1)

    def sigterm(self) -> float:
        os.kill(self.proc.pid, signal.SIGTERM)  # the main process only, as the kubelet does
        return time.monotonic()

    def wait_exit(self, timeout: float) -> float:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)
        return time.monotonic()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def worker(tmp_path: Path, broker_redis: redis.Redis) -> Any:
    w = _Worker(tmp_path)
    try:
        w.wait_ready()
        yield w
    finally:
        w.kill()


def _start_run(tenant: Tenant, seconds: float, worker: _Worker) -> AtomRun:
    run = AtomRun.objects.create(tenant=tenant, created_by="t", atom="diagnostics.sleep_ml", queue=QUEUE,
                                 args={"seconds": seconds, "steps": 8})
    app.send_task(task_name_for(run.atom), args=[str(run.id)], task_id=run.celery_task_id, queue=QUEUE,
                  headers={PUBLISHED_AT_HEADER: time.time()})
    deadline = time.monotonic() + 30
    while AtomRun.objects.get(id=run.id).status != "running":
        assert time.monotonic() < deadline, worker.text()[-3000:]
        time.sleep(0.1)
    return run


def test_an_idle_soft_mode_worker_exits_at_once_on_sigterm(worker: _Worker) -> None:
    sent = worker.sigterm()
    exited = worker.wait_exit(timeout=30)
    assert worker.proc.poll() is not None, f"idle worker still running 30s after SIGTERM:\n{worker.text()[-2000:]}"
    assert exited - sent < 5, f"idle worker took {exited - sent:.1f}s to exit"
    assert worker.proc.returncode == 0, worker.text()[-2000:]


def test_a_busy_soft_mode_worker_exits_right_after_its_run_succeeds(
    worker: _Worker, registered_atoms: None, tenant: Tenant
) -> None:
    run = _start_run(tenant, 4, worker)
    sent = worker.sigterm()
    # While the run finishes, the event loop keeps running: the pod is alive and not ready.
    time.sleep(1.5)
    assert worker.proc.poll() is None, "the worker left its run behind"
    alive, why = check("liveness", str(worker.probes), max_age=3)
    assert alive, why
    assert not check("readiness", str(worker.probes), max_age=3)[0]
    worker.wait_exit(timeout=60)
    exited_at = time.time()
    assert worker.proc.poll() is not None, f"busy worker still running 60s after SIGTERM:\n{worker.text()[-2000:]}"
    done = AtomRun.objects.get(id=run.id)
    assert done.status == "succeeded", (done.status, worker.text()[-3000:])
    assert done.finished_at is not None
    # The worker exits right after its run, not at the end of the 3600 s window. The bound is
    # Celery's own warm shutdown of an idle prefork worker (2.8-3.1 s on a loaded 2-core machine:
    # billiard sleeps 0.8 s in its supervisor and 1 s in each exiting child) plus the drain's tick.
    lag = exited_at - done.finished_at.timestamp()
    assert lag < 5, f"worker exited {lag:.1f}s after its run finished ({time.monotonic() - sent:.1f}s after SIGTERM)"
    assert worker.proc.returncode == 0, worker.text()[-2000:]


def test_a_run_longer_than_the_window_is_requeued_when_it_elapses(
    tmp_path: Path, broker_redis: redis.Redis, registered_atoms: None, tenant: Tenant
) -> None:
    worker = _Worker(tmp_path, ATOMFLEET_SOFT_SHUTDOWN_TIMEOUT="3", ATOMFLEET_TERMINATION_GRACE_SECONDS="30")
    try:
        worker.wait_ready()
        run = _start_run(tenant, 60, worker)
        sent = worker.sigterm()
        exited = worker.wait_exit(timeout=30)
        assert worker.proc.poll() is not None, worker.text()[-3000:]
        assert 3 <= exited - sent < 3 + 5, f"exited {exited - sent:.1f}s after SIGTERM (window 3s)"
        assert "window elapsed with 1 task(s) running; requeueing them" in worker.text()
        # The message is back in Redis for another worker; the run is not finished.
        assert broker_redis.llen(QUEUE) == 1, worker.text()[-3000:]
        assert AtomRun.objects.get(id=run.id).status not in ("succeeded", "failed")
    finally:
        worker.kill()
        broker_redis.delete(QUEUE)  # the requeued message belongs to this test's (deleted) run
