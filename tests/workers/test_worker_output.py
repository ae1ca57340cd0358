"""With ``ATOMFLEET_LOG_FORMAT=json`` (the chart's default ``config.logFormat``) every line a worker
writes is JSON: Celery's start-up banner and its shutdown messages included, not only log records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.support.live_api import database_url

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fleet, pytest.mark.timeout(120)]


@pytest.mark.parametrize("soft", [False, True], ids=["warm", "soft"])
def test_every_line_a_json_worker_writes_is_json(tmp_path: Path, broker_redis: redis.Redis, soft: bool) -> None:
    env = {
        **os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "ATOMFLEET_LOG_FORMAT": "json",
        "ATOMFLEET_METRICS_PORT": "0", "ATOMFLEET_PROBE_DIR": str(tmp_path / "probes"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    if soft:
        env |= {"REMAP_SIGTERM": "SIGQUIT", "ATOMFLEET_SOFT_SHUTDOWN_TIMEOUT": "60"}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:  # stdout and stderr, as a container runtime collects them
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "atomfleet_orchestrator", "worker", "--queues=io_bound",
             "--hostname=io_bound@json", "--concurrency=1", "--prefetch-multiplier=1", "--pool=prefork",
             "--without-mingle", "--without-gossip", "--loglevel=INFO"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    messages = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
        assert {"ts", "level", "logger", "message"} <= entry.keys(), line
        messages.append(entry["message"])
    # The banner's facts are still there, as one record.
    assert any("io_bound" in m and "atomfleet.atom.data.validate_csv" in m for m in messages), messages[:5]


def test_every_line_a_json_beat_writes_is_json(tmp_path: Path, broker_redis: redis.Redis) -> None:
    env = {
        **os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "ATOMFLEET_LOG_FORMAT": "json",
        "ATOMFLEET_METRICS_PORT": "0", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    log = tmp_path / "beat.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "atomfleet_orchestrator", "beat", "--loglevel=INFO",
             f"--schedule={tmp_path / 'schedule'}"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 60
        while "beat: Starting..." not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    messages = []
    for line in (line for line in log.read_text().splitlines() if line.strip()):
        try:
            messages.append(json.loads(line)["message"])
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert any("celery beat v" in m and "is starting" in m for m in messages), messages[:5]
