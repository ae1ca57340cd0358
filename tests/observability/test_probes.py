"""Probes: liveness follows the main process, readiness follows consumption (real workers of the
project's app)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from atomfleet.probes import _files
from atomfleet.probes.check import check
from tests.observability._support import REPO, Worker, celery, free_port, wait_for

MAX_AGE = "2"


def probe(kind: str, probe_dir: Path) -> int:
    script = shutil.which("atomfleet-probe", path=os.path.dirname(sys.executable))
    cmd = [script] if script else [sys.executable, "-m", "atomfleet.probes.check"]
    env = dict(os.environ, ATOMFLEET_PROBE_DIR=str(probe_dir), ATOMFLEET_LIVENESS_MAX_AGE=MAX_AGE)
    return subprocess.run([*cmd, kind], env=env, cwd=REPO, capture_output=True).returncode


def test_probe_command_imports_neither_celery_nor_django(tmp_path):
    code = (
        "import sys; from atomfleet.probes.check import main; rc = main(['liveness', '--dir', sys.argv[1]]);"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'celery', 'django', 'kombu', 'redis', 'prometheus_client'});"
        "print(bad); sys.exit(3 if bad else rc)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1, result  # no liveness file: unhealthy, and nothing heavy imported


def test_check_reads_file_ages(tmp_path):
    d = str(tmp_path)
    assert check("liveness", d, 5)[0] is False  # never started
    _files.touch(_files.liveness_path(d))
    assert check("liveness", d, 5)[0] is True
    assert check("readiness", d, 5)[0] is False  # alive but not consuming
    _files.touch(_files.readiness_path(d))
    assert check("readiness", d, 5)[0] is True
    old = time.time() - 10
    os.utime(_files.liveness_path(d), (old, old))
    assert check("liveness", d, 5) == (False, check("liveness", d, 5)[1])
    assert check("readiness", d, 5)[0] is False  # a stuck loop is not ready either


@pytest.mark.fleet
def test_liveness_fails_while_the_main_process_is_stopped(start_worker):
    # Given a ready worker of the project's app whose liveness limit is 2 s
    worker = start_worker("default", ATOMFLEET_LIVENESS_MAX_AGE=MAX_AGE)
    wait_for(worker.ready, 90, "worker ready")
    assert probe("liveness", worker.probe_dir) == 0
    assert probe("readiness", worker.probe_dir) == 0

    # When its main process (consumer loop and every thread of it) stops for a while; the pool
    # children keep running, as they would beside a hung main process
    os.kill(worker.proc.pid, signal.SIGSTOP)
    try:
        # Then liveness (and readiness) fail while it is stopped
        wait_for(lambda: probe("liveness", worker.probe_dir) == 1, 10, "liveness failing")
        assert probe("readiness", worker.probe_dir) == 1
    finally:
        os.kill(worker.proc.pid, signal.SIGCONT)
    # And recover once it runs again
    wait_for(lambda: probe("liveness", worker.probe_dir) == 0, 15, "liveness recovering")
    wait_for(lambda: probe("readiness", worker.probe_dir) == 0, 5, "readiness recovering")


@pytest.mark.fleet
def test_readiness_follows_consumption_and_liveness_survives_a_broker_outage(tmp_path, start_worker):
    # Given a worker on a Redis of its own (so that it can be stopped)
    port = free_port()
    redis_cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(tmp_path)]
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server binary not installed")
    server = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: _pings(url), 10, "private redis")
        worker = start_worker("default", ATOMFLEET_LIVENESS_MAX_AGE=MAX_AGE, ATOMFLEET_BROKER_URL=url)
        wait_for(worker.ready, 90, "worker ready")

        # When an operator stops it consuming its queue, it is not ready (but alive); consuming
        # again: ready
        _control(worker, "cancel_consumer", "default")
        wait_for(lambda: probe("readiness", worker.probe_dir) == 1, 10, "not ready after cancel")
        assert probe("liveness", worker.probe_dir) == 0
        _control(worker, "add_consumer", "default")
        wait_for(lambda: probe("readiness", worker.probe_dir) == 0, 10, "ready after add_consumer")

        # When Redis goes away: not ready, but alive for well over the liveness limit
        server.terminate()
        server.wait(10)
        wait_for(lambda: probe("readiness", worker.probe_dir) == 1, 15, "not ready without broker")
        for _ in range(8):
            assert probe("liveness", worker.probe_dir) == 0, worker.log_text()
            time.sleep(1)

        # When Redis is back, the worker reconnects and is ready again
        server = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
        wait_for(lambda: probe("readiness", worker.probe_dir) == 0, 60, "ready after reconnect")
        assert probe("liveness", worker.probe_dir) == 0
    finally:
        server.terminate()
        server.wait(10)


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.ConnectionError:
        return False


def _control(worker: Worker, command: str, *args: str) -> None:
    """``celery -A atomfleet_orchestrator control …`` against this worker, as an operator runs it.

    (The product's app object in this test process is bound to the suite's broker: Celery
    publishes broadcasts through the app's own producer pool, whatever connection is passed.)
    """
    done = subprocess.run([*celery("control", command, *args, f"--destination={worker.hostname}"),
                          "--timeout=5"], cwd=REPO, env=worker.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "->" in done.stdout, (done.stdout, done.stderr)
