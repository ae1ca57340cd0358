"""Helpers of the observability tests: the project's real processes, and a real Prometheus that
scrapes them with the labels the chart's monitors give them.

Every process is the product's own command: ``celery -A atomfleet_orchestrator worker|beat|flower``
and ``atomfleet api`` (gunicorn), against the test database and a Redis DB of these tests.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import random
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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BROKER_DB = 12
NAMESPACE = "atomfleet"


def redis_base() -> str:
    return os.environ.get("ATOMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")


def free_port() -> int:
    """A free TCP port below Linux's ephemeral range (32768+), so that no outgoing connection of
    the busy machine takes it between this check and the process binding it."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def http_get(url: str, timeout: float = 5.0, headers: Mapping[str, str] | None = None) -> str:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return str(response.read().decode())


def answers_metrics(url: str) -> bool:
    try:
        return "# TYPE" in http_get(url, timeout=2)
    except OSError:
        return False


def fleet_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment of every fleet process: test settings, test DB, this module's Redis DBs."""
    env = dict(os.environ)
    for name in ("PROMETHEUS_MULTIPROC_DIR", "ATOMFLEET_METRICS_BASE_DIR"):
        env.pop(name, None)
    env.update({
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "ATOMFLEET_BROKER_URL": f"{redis_base()}/{BROKER_DB}",
        "ATOMFLEET_QUEUES": json.dumps(["default", "io_bound", "ml_training"]),
        "ATOMFLEET_LOG_FORMAT": "console",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    })
    env.update(extra)
    return env


class Process:
    """One product process in its own session (process group), with its log in ``workdir``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.log_text()}")

    def log_text(self, tail: int = 6000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-tail:]

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signum)

    def stop(self, timeout: float = 30.0) -> None:
        if self.alive():
            self.signal_group(signal.SIGCONT)  # a paused process cannot handle SIGTERM
            self.signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()


def celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "atomfleet_orchestrator", *args]


class Worker(Process):
    """``celery -A atomfleet_orchestrator worker`` of one queue, as the chart runs it."""

    def __init__(self, queue: str, env: dict[str, str], workdir: Path, *, concurrency: int = 2,
                 max_tasks_per_child: int | None = None, name: str | None = None, **extra_env: str) -> None:
        self.queue = queue
        self.port = free_port()
        self.probe_dir = workdir / f"probes-{name or queue}"
        self.metrics_dir = workdir / f"metrics-{name or queue}"
        self.hostname = f"{queue}@{name or 'obs'}"
        env = dict(env, ATOMFLEET_METRICS_PORT=str(self.port), ATOMFLEET_PROBE_DIR=str(self.probe_dir),
                   PROMETHEUS_MULTIPROC_DIR=str(self.metrics_dir), **extra_env)
        recycle = [f"--max-tasks-per-child={max_tasks_per_child}"] if max_tasks_per_child else []
        super().__init__(f"worker-{name or queue}", celery(
            "worker", f"--queues={queue}", f"--hostname={self.hostname}", f"--concurrency={concurrency}",
            "--prefetch-multiplier=1", "--pool=prefork", *recycle, "--without-mingle", "--without-gossip",
            "--loglevel=INFO"), env, workdir)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def ready(self) -> bool:
        self.check_alive()
        return (self.probe_dir / "readiness").exists() and answers_metrics(self.metrics_url)


class Beat(Process):
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        env = dict(env, ATOMFLEET_METRICS_PORT=str(self.port),
                   PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics-beat"))
        super().__init__("beat", celery("beat", f"--schedule={workdir / 'celerybeat-schedule'}",
                                        "--loglevel=INFO"), env, workdir)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def ready(self) -> bool:
        self.check_alive()
        return answers_metrics(self.metrics_url)


class Api(Process):
    """``atomfleet api`` (gunicorn with the project's config, 2 workers)."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        # Where the API serves /metrics: its own port once the chart gives it one, else the API port.
        self.metrics_port = free_port()
        env = dict(env, ATOMFLEET_API_HOST="127.0.0.1", ATOMFLEET_API_PORT=str(self.port),
                   ATOMFLEET_METRICS_PORT=str(self.metrics_port), ATOMFLEET_API_WORKERS="2",
                   ATOMFLEET_API_TMP=str(workdir), PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics-api"))
        super().__init__("api", [sys.executable, "-m", "atomfleet_orchestrator.cli.main", "api"], env, workdir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        own = f"http://127.0.0.1:{self.metrics_port}/metrics"
        return own if answers_metrics(own) else f"{self.url}/metrics"

    def ready(self) -> bool:
        self.check_alive()
        try:
            return "ok" in http_get(self.url + "/readyz", timeout=2) and answers_metrics(self.metrics_url)
        except OSError:
            return False


class Flower(Process):
    """``celery -A atomfleet_orchestrator flower`` behind basic auth, as the chart runs it."""

    AUTH = ("obs", "obs-flower")

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        env = dict(env, FLOWER_BASIC_AUTH=":".join(self.AUTH),
                   PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics-flower"))
        super().__init__("flower", celery("flower", f"--port={self.port}", "--address=127.0.0.1"),
                         env, workdir)

    def api(self, path: str) -> Any:
        import base64

        token = base64.b64encode(":".join(self.AUTH).encode()).decode()
        return json.loads(http_get(f"http://127.0.0.1:{self.port}{path}",
                                   headers={"Authorization": f"Basic {token}"}))

    def ready(self) -> bool:
        self.check_alive()
        try:
            self.api("/api/workers?refresh=false")
            return True
        except OSError:
            return False


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


# ---------------------------------------------------------------------------- monitors -> config


def _relabel(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A prometheus-operator RelabelConfig as Prometheus' relabel_config."""
    names = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    out = {names.get(key, key): value for key, value in rule.items()}
    if "action" in out:
        out["action"] = str(out["action"]).lower()
    return out


def monitor_scrape_config(monitor: Mapping[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
    """The scrape config prometheus-operator generates for a rendered PodMonitor/ServiceMonitor.

    ``pods``: ``{"address": "127.0.0.1:<port>", "pod": <name>, "container": <name>,
    "labels": <pod labels>, "service": <name, ServiceMonitor only>}``. Kubernetes discovery is
    replaced by static targets carrying the same ``__meta_kubernetes_*`` labels, then the
    operator's own relabelings (namespace, pod, container, job, endpoint) and the monitor's.
    """
    kind, meta, spec = monitor["kind"], monitor["metadata"], monitor["spec"]
    endpoints = spec["podMetricsEndpoints"] if kind == "PodMonitor" else spec["endpoints"]
    (endpoint,) = endpoints
    namespace = meta["namespace"]
    default_job = (f"{namespace}/{meta['name']}" if kind == "PodMonitor" else pods[0]["service"])
    relabelings = [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    if kind == "ServiceMonitor":
        relabelings.append({"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"})
    relabelings += [
        {"target_label": "job", "replacement": default_job},
        {"target_label": "endpoint", "replacement": str(endpoint["port"])},
        *[_relabel(r) for r in endpoint.get("relabelings", [])],
    ]
    groups = []
    for pod in pods:
        labels = {"__meta_kubernetes_namespace": namespace, "__meta_kubernetes_pod_name": pod["pod"],
                  "__meta_kubernetes_pod_container_name": pod["container"]}
        if "service" in pod:
            labels["__meta_kubernetes_service_name"] = pod["service"]
        for key, value in pod["labels"].items():
            safe = "".join(c if c.isalnum() else "_" for c in key)
            labels[f"__meta_kubernetes_pod_label_{safe}"] = value
        groups.append({"targets": [pod["address"]], "labels": labels})
    return {
        "job_name": f"{kind.lower()}/{namespace}/{meta['name']}/0",
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "metrics_path": endpoint.get("path", "/metrics"),
        "static_configs": groups,
        "relabel_configs": relabelings,
    }


def rules_copy(source: Path, target: Path, for_: str) -> Path:
    """A copy of a rule file whose every alert waits ``for_`` (expressions unchanged)."""
    doc = yaml.safe_load(source.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = for_
    target.write_text(yaml.safe_dump(doc, sort_keys=False))
    return target


class Prometheus:
    """A real Prometheus (Debian package) scraping every second and evaluating rules every second."""

    def __init__(self, workdir: Path, scrape_configs: list[dict[str, Any]],
                 rule_files: list[Path] | None = None) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.skip("prometheus is not installed (apt-get install -y prometheus; `make prometheus-install`)")
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files or []],
            "scrape_configs": scrape_configs,
        }
        self.dir = workdir / "prometheus"
        self.dir.mkdir()
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self._log = open(self.dir / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._ready, 30, "prometheus ready")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError((self.dir / "prometheus.log").read_text()[-3000:])
        try:
            return "Ready" in http_get(f"http://127.0.0.1:{self.port}/-/ready", timeout=1)
        except OSError:
            return False

    def api(self, path: str, **params: Any) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            return dict(json.loads(http_get(url, timeout=30)))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read().decode()))

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        reply = self.api("query", **params)
        assert reply["status"] == "success", f"{expr}: {reply}"
        return list(reply["data"]["result"])

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        result = self.query(expr, at)
        if not result:
            return None
        assert len(result) == 1, f"{expr}: expected one series, got {result}"
        return float(result[0]["value"][1])

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets")["data"]["activeTargets"])

    def targets_up(self) -> bool:
        active = self.targets()
        return bool(active) and all(t["health"] == "up" for t in active)

    def alert_states(self, alertname: str, window: str = "30m") -> set[str]:
        """States (pending, firing) the alert was in at any rule evaluation of the last ``window``."""
        series = self.query(f'count by (alertstate) (count_over_time(ALERTS{{alertname="{alertname}"}}[{window}]))')
        return {s["metric"]["alertstate"] for s in series}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()
