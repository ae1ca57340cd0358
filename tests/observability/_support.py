"""Helpers of the observability tests: free ports, polling, worker and Prometheus processes."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BROKER_DB = 12


def redis_base() -> str:
    return os.environ.get("ATOMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


class Worker:
    """A ``celery worker`` of ``tests.observability.fleet_app`` in its own process group."""

    def __init__(self, broker_url: str, queue: str, workdir: Path, *, concurrency: int = 2,
                 prefetch: int = 4, max_tasks_per_child: int | None = 1,
                 extra_env: dict[str, str] | None = None, app: str = "tests.observability.fleet_app",
                 name: str | None = None) -> None:
        self.queue = queue
        self.port = free_port()
        self.name = name or queue
        self.metrics_dir = workdir / f"metrics-{self.name}"
        self.probe_dir = workdir / f"probes-{self.name}"
        self.log_path = workdir / f"worker-{self.name}.log"
        self.hostname = f"{queue}@{self.name}-obs"
        cmd = [sys.executable, "-m", "celery", "-A", app, "worker", f"--queues={queue}",
               f"--hostname={self.hostname}", f"--concurrency={concurrency}",
               f"--prefetch-multiplier={prefetch}", "--pool=prefork", "--without-mingle",
               "--without-gossip", "--loglevel=INFO"]
        if max_tasks_per_child:
            cmd.append(f"--max-tasks-per-child={max_tasks_per_child}")
        env = dict(os.environ)
        env.update({
            "OBS_BROKER_URL": broker_url,
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "ATOMFLEET_METRICS_PORT": str(self.port),
            "ATOMFLEET_PROBE_DIR": str(self.probe_dir),
            "ATOMFLEET_QUEUES": json.dumps(["default", "io_bound", "ml_training"]),
            "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        })
        env.update(extra_env or {})
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def metrics(self) -> str:
        return http_get(self.metrics_url)

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log_text()}")
            return (self.probe_dir / "readiness").exists()

        wait_for(ready, timeout, f"worker {self.hostname} readiness")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


class StaticExporter:
    """Serves a fixed exposition text: stands in for kube-state-metrics in tests."""

    def __init__(self, text: str) -> None:
        body = text.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Prometheus:
    """A real Prometheus scraping the given targets every second."""

    def __init__(self, workdir: Path, targets: dict[str, list[str]], namespace: str = "atomfleet",
                 rule_files: list[str] | None = None) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.skip("prometheus is not installed (apt-get install -y prometheus; `make test` does it)")
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rule_files or [],
            "scrape_configs": [
                {"job_name": job, "scrape_interval": "1s",
                 "static_configs": [{"targets": hosts, "labels": {"namespace": namespace}}]}
                for job, hosts in targets.items()
            ],
        }
        self.dir = workdir / f"prometheus-{self.port}"
        self.dir.mkdir()
        (self.dir / "prometheus.yml").write_text(json.dumps(config))
        self.log = open(self.dir / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--web.enable-lifecycle"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._ready, 30, "prometheus ready")

    def _ready(self) -> bool:
        try:
            return "Ready" in http_get(f"http://127.0.0.1:{self.port}/-/ready", timeout=1)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            return json.loads(http_get(url))
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read().decode())

    def query(self, expr: str) -> list[dict]:
        reply = self.api("query", query=expr)
        assert reply["status"] == "success", f"{expr}: {reply}"
        return reply["data"]["result"]

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, f"{expr}: expected one series, got {result}"
        return float(result[0]["value"][1])

    def wait_value(self, expr: str, expected: float, timeout: float = 30.0) -> None:
        seen: list[float | None] = []

        def check() -> bool:
            seen.append(self.scalar(expr))
            return seen[-1] == expected

        try:
            wait_for(check, timeout, f"{expr} == {expected}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last value {seen[-1] if seen else None}; "
                                 f"series: {self.query(expr.split('(', 1)[-1].rsplit(')', 1)[0])}") from None

    def targets_up(self) -> bool:
        active = self.api("targets")["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Api:
    """The test Django site (``api_site``) under gunicorn with the observability hooks."""

    def __init__(self, broker_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.metrics_dir = workdir / "api-metrics"
        env = dict(os.environ, OBS_BROKER_URL=broker_url, OBS_API_PORT=str(self.port),
                   DJANGO_SETTINGS_MODULE="tests.observability.api_site",
                   PROMETHEUS_MULTIPROC_DIR=str(self.metrics_dir),
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("ATOMFLEET_METRICS_BASE_DIR", None)
        self.log_path = workdir / "api.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "tests/observability/gunicorn_test_conf.py",
                 "django.core.wsgi:get_wsgi_application()"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._up, 30, "test API up")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(self.log_path.read_text())
        try:
            return "# TYPE" in http_get(self.url + "/metrics", timeout=2)
        except OSError:
            return False

    def request(self, method: str, path: str) -> int:
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
