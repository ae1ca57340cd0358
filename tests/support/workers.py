"""Real ``celery worker`` processes, one per queue, and beat, as the chart runs them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis


class WorkerFleet:
    """One worker process group per queue, and beat, against the test database and Redis DB."""

    def __init__(self, queues: tuple[str, ...], env: dict[str, str], log_dir: Path) -> None:
        self.queues, self.env, self.log_dir = queues, env, log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start_beat(self) -> None:
        """Beat publishes the outbox and enforces the lifecycle deadlines (tests/settings.py)."""
        log = (self.log_dir / "beat.log").open("ab")
        self.procs["beat"] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "atomfleet_orchestrator", "beat", "--loglevel=INFO",
             f"--schedule={self.log_dir / 'beat-schedule'}", f"--pidfile={self.log_dir / 'beat.pid'}"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def start(self, queue: str, concurrency: int = 2) -> None:
        log = (self.log_dir / f"worker-{queue}.log").open("ab")
        self.procs[queue] = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "atomfleet_orchestrator", "worker",
                f"--queues={queue}", f"--hostname={queue}@test", f"--concurrency={concurrency}",
                "--prefetch-multiplier=1", "--without-mingle", "--without-gossip", "--loglevel=INFO",
            ],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_consuming(self, queue: str, timeout: float = 60) -> None:
        """Wait until the worker has registered as a consumer of its queue in Redis."""
        log = self.log_dir / f"worker-{queue}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[queue].poll() is not None:
                raise RuntimeError(f"worker for {queue} exited:\n{log.read_text()[-3000:]}")
            if log.exists() and f"{queue}@test ready." in log.read_text():
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker for {queue} not ready:\n{log.read_text()[-3000:]}")

    def kill(self, queue: str) -> None:
        """SIGKILL the whole worker (main process and pool children): a lost pod."""
        proc = self.procs[queue]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def restart(self, queue: str, concurrency: int = 2) -> None:
        self.stop(queue)
        self.start(queue, concurrency)
        self.wait_consuming(queue)

    def stop(self, queue: str) -> None:
        proc = self.procs.get(queue)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill(queue)

    def stop_all(self) -> None:
        for queue in list(self.procs):
            self.stop(queue)


def queue_is_drained(client: redis.Redis, queue: str) -> bool:
    """No message of ``queue`` waits in Redis (any priority list)."""
    lists = [queue] + [f"{queue}\x06\x16{p}" for p in (3, 6, 9)]
    return not any(client.llen(name) for name in lists)
