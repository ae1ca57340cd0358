"""The real API process — ``atomfleet api`` (gunicorn, the image's command) — for tests that need
what only a server shows: the metrics port of the gunicorn master, proxy-header trust by peer
address, a worker's memory while it streams an upload.

It reads the pytest-django test database (tests mark themselves ``django_db(transaction=True)`` so
what they write is committed), a Redis database of its own, and S3 on a moto server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveApi:
    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def log(self) -> Path:
        return self.workdir / "api.log"

    def start(self) -> LiveApi:
        env = {
            **self.env,
            # Every address of the loopback network may connect (see the proxy tests).
            "ATOMFLEET_API_HOST": "0.0.0.0",
            "ATOMFLEET_API_PORT": str(self.port),
            "ATOMFLEET_METRICS_PORT": str(self.metrics_port),
            "ATOMFLEET_API_WORKERS": str(self.workers),
            "ATOMFLEET_API_TMP": str(self.workdir),
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "metrics"),
            "TMPDIR": str(self.workdir),
            "PYTHONUNBUFFERED": "1",
        }
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([str(BIN / "atomfleet"), "api"], env=env, cwd=self.workdir,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the API exited:\n{self.logs()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        raise AssertionError(f"the API did not answer /healthz within 60 s:\n{self.logs()}")

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the highest resident set size the process ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for pid {pid}")
