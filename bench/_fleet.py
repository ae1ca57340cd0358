"""The full atomfleet path, started the way the Helm chart starts it, on PostgreSQL and Redis.

Commands are the chart's (``charts/atomfleet/templates/{api,beat,worker}/*-deployment.yaml`` and
``_worker.tpl``): ``atomfleet api`` (gunicorn, ``atomfleet_orchestrator.gunicorn_conf``),
``celery -A atomfleet_orchestrator beat``, and one worker of the measured queue with the chart's
worker flags at issue 12's concurrency. The environment is :data:`FLEET_ENV`: the chart's ConfigMap
at the values defaults, plus what a pod gets from Secrets; :data:`DIFFERENT_FROM_CHART` says which
keys this machine needs set otherwise, and why. Change them here when settings change
(tests/bench/test_bench_fleet_matches_chart.py renders the chart and compares).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench._common import VENV_BIN, Process, free_port, wait_for

__all__ = ["DIFFERENT_FROM_CHART", "FLEET_ENV", "Fleet", "api_argv", "beat_argv", "worker_argv"]

# The chart's ConfigMap (templates/config/_config.tpl) at the defaults of values.yaml. Keys the
# bench must place on this machine (ports, folders, URLs) are filled in by Fleet.env().
FLEET_ENV: dict[str, str] = {
    "ATOMFLEET_DEBUG": "false",  # config.debug
    # config.allowedHosts "" (the default): the Service's names and loopback; the bench calls 127.0.0.1.
    "ATOMFLEET_ALLOWED_HOSTS": "atomfleet-api,atomfleet-api.atomfleet,atomfleet-api.atomfleet.svc,"
                               "atomfleet-api.atomfleet.svc.cluster.local,localhost,127.0.0.1,[::1]",
    "ATOMFLEET_LOG_FORMAT": "json",  # config.logFormat
    "ATOMFLEET_LOG_LEVEL": "INFO",  # config.logLevel (also --loglevel of beat and workers)
    "ATOMFLEET_QUEUES": json.dumps(["default", "io_bound", "ml_training"], separators=(",", ":")),  # workers.queues
    "ATOMFLEET_VISIBILITY_TIMEOUT": "43200",
    "ATOMFLEET_HEARTBEAT_SECONDS": "10",
    "ATOMFLEET_STALE_AFTER_SECONDS": "90",
    "ATOMFLEET_DISPATCH_INTERVAL": "5",
    "ATOMFLEET_RECONCILE_INTERVAL": "15",
    "ATOMFLEET_DISPATCH_TIMEOUT_SECONDS": "120",
    "ATOMFLEET_MAX_REDISPATCHES": "5",
    "ATOMFLEET_TASK_EVENTS": "false",  # flower.enabled
    "ATOMFLEET_FORWARDED_ALLOW_IPS": "127.0.0.1",  # api.forwardedAllowIps
    "ATOMFLEET_INLINE_RESULT_MAX_BYTES": "65536",
    "ATOMFLEET_MAX_REQUEST_BYTES": "1048576",
    "ATOMFLEET_MAX_UPLOAD_BYTES": "104857600",
    "ATOMFLEET_WORKFLOW_MAX_STEPS": "1000",  # config.workflowMaxSteps
    "ATOMFLEET_METRICS_TENANT_LABELS": "50",  # config.metricsTenantLabels
    "ATOMFLEET_TENANT_WEIGHT": "1",  # config.tenantWeight
    "ATOMFLEET_TENANT_MAX_RUNNING": "2000",  # config.tenantMaxRunning
    "ATOMFLEET_TENANT_MAX_RUNNING_PER_QUEUE": "1000",  # config.tenantMaxRunningPerQueue
    "ATOMFLEET_QUEUE_READY": "2",  # config.queueReady
    "ATOMFLEET_FAIR_DISPATCH": "true",  # config.fairDispatch (bench/fairness.py also runs it off)
    # See DIFFERENT_FROM_CHART: one bench tenant submits faster than a tenant's default allows.
    "ATOMFLEET_TENANT_QUOTA_RUNS": "10000000",
    "ATOMFLEET_TENANT_SUBMIT_RATE": "1000000",
    "ATOMFLEET_TENANT_SUBMIT_BURST": "1000000",
    "ATOMFLEET_LIVENESS_MAX_AGE": "60",
    "ATOMFLEET_API_WORKERS": "2",  # api.gunicornWorkers
    "ATOMFLEET_STORAGE_BACKEND": "local",  # see DIFFERENT_FROM_CHART
    # From Secrets in a pod; fixed here (the bench database is thrown away).
    "ATOMFLEET_SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
    "PYTHONUNBUFFERED": "1",
}
# ConfigMap keys set otherwise here. Fixed ports and /tmp folders would collide with other fleets
# on a shared machine, so each run places its own (Fleet.env); the values do not change the path.
DIFFERENT_FROM_CHART: dict[str, str] = {
    "ATOMFLEET_API_PORT": "a free port, bound on 127.0.0.1 (ATOMFLEET_API_HOST; the chart binds 0.0.0.0:8000)",
    "ATOMFLEET_METRICS_PORT": "a free port (chart: 9808)",
    "PROMETHEUS_MULTIPROC_DIR": "a folder of the run (chart: /tmp/atomfleet-metrics)",
    "ATOMFLEET_PROBE_DIR": "a folder of the run (chart: /tmp/atomfleet-probes)",
    "HOME": "left as it is (chart: /tmp, for a read-only root filesystem)",
    "ATOMFLEET_STORAGE_BACKEND": "local (chart: s3 on its MinIO); text.stats reads and writes no object",
    "ATOMFLEET_STORAGE_LOCAL_ROOT": "a folder of the run",
    "ATOMFLEET_S3_BUCKET": "s3 backend only",
    "ATOMFLEET_S3_REGION": "s3 backend only",
    "ATOMFLEET_S3_ENDPOINT_URL": "s3 backend only",
    "ATOMFLEET_EVENTS_PORT": "the events process is not part of the throughput path (chart: 8001)",
    "ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS": "left unset like the chart's default (empty): no webhook is registered",
    "ATOMFLEET_TENANT_QUOTA_RUNS": "10,000,000 (chart: 50,000): the bench measures the fleet, not one tenant's quota",
    "ATOMFLEET_TENANT_SUBMIT_RATE": "1,000,000 runs/s (chart: 50): the bench submits thousands of runs/s as one tenant",
    "ATOMFLEET_TENANT_SUBMIT_BURST": "1,000,000 (chart: 1,000)",
}

# Issue 12 measures one default worker at concurrency 2 (the chart's default queue ships 4);
# every other flag is the chart's, as _worker.tpl renders workers.defaults (timeLimit,
# softTimeLimit and maxTasksPerChild are null by default, so their flags are absent).
WORKER_CONCURRENCY = 2


def api_argv() -> list[str]:
    return [str(VENV_BIN / "atomfleet"), "api"]


def beat_argv(schedule: Path) -> list[str]:
    return [str(VENV_BIN / "celery"), "-A", "atomfleet_orchestrator", "beat", f"--schedule={schedule}",
            "--loglevel=INFO"]


def worker_argv(queue: str, hostname: str, concurrency: int = WORKER_CONCURRENCY) -> list[str]:
    return [str(VENV_BIN / "celery"), "-A", "atomfleet_orchestrator", "worker", f"--queues={queue}",
            f"--hostname={hostname}", f"--concurrency={concurrency}", "--prefetch-multiplier=1",
            "--pool=prefork", "--without-mingle", "--without-gossip", "--loglevel=INFO"]


@dataclass
class Fleet:
    """API + beat + one worker of ``queue``; ``start()`` migrates and issues a tenant token first."""

    database_url: str
    broker_url: str
    queue: str = "default"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="atomfleet-bench-fleet-")))
    extra_env: dict[str, str] = field(default_factory=dict)
    concurrency: int = WORKER_CONCURRENCY  # of the one worker (bench/fairness.py runs sleeping atoms)
    api_port: int = field(default_factory=free_port)
    api: Process | None = field(default=None, init=False)
    beat: Process | None = field(default=None, init=False)
    worker: Process | None = field(default=None, init=False)
    token: str = field(default="", init=False)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ATOMFLEET_", "DJANGO_"))}
        env.update(FLEET_ENV)
        env.update({
            "DATABASE_URL": self.database_url,
            "ATOMFLEET_BROKER_URL": self.broker_url,
            "ATOMFLEET_STORAGE_LOCAL_ROOT": str(self.workdir / "storage"),
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "metrics"),
            "ATOMFLEET_PROBE_DIR": str(self.workdir / "probes"),
            "POD_NAME": "bench",
        })
        env.update(self.extra_env)
        env.update(extra)
        return env

    def manage(self, *args: str) -> str:
        done = subprocess.run([str(VENV_BIN / "atomfleet"), *args], env=self.env(), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"atomfleet {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def processes(self) -> list[Process]:
        return [p for p in (self.worker, self.beat, self.api) if p is not None]

    def check_alive(self) -> None:
        for proc in self.processes():
            proc.check_alive()

    def prepare(self, tenant: str = "bench") -> None:
        """Migrations and atom registration (the chart's hook Jobs), a tenant and its token."""
        self.manage("migrate")
        self.manage("manage", "register_atoms")
        self.manage("manage", "create_tenant", tenant, "--name", "Benchmark")
        self.token = self.manage("manage", "create_token", tenant, "bench", "--rotate").strip().splitlines()[-1]

    def start_api(self) -> None:
        self.api = Process("api", api_argv(),
                           self.env(ATOMFLEET_API_HOST="127.0.0.1", ATOMFLEET_API_PORT=str(self.api_port),
                                    ATOMFLEET_METRICS_PORT=str(free_port())),
                           self.workdir / "api.log").start()

        def ready() -> bool:
            try:
                return httpx.get(f"{self.api_url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, 60, "the API's /readyz", interval=0.2, alive=self.api.check_alive)

    def start_beat(self) -> None:
        self.beat = Process("beat", beat_argv(self.workdir / "celerybeat-schedule"), self.env(),
                            self.workdir / "beat.log").start()

    def start_worker(self) -> None:
        probes = self.workdir / "probes"
        for name in ("readiness", "liveness"):
            (probes / name).unlink(missing_ok=True)
        self.worker = Process(
            f"worker-{self.queue}",
            worker_argv(self.queue, f"{self.queue}@bench", self.concurrency),
            self.env(ATOMFLEET_METRICS_PORT=str(free_port())), self.workdir / f"worker-{self.queue}.log",
        ).start()
        worker = self.worker

        def consuming() -> bool:  # the chart's readiness probe
            probe = [str(VENV_BIN / "atomfleet-probe"), "readiness", f"--dir={probes}"]
            return subprocess.run(probe, capture_output=True).returncode == 0

        wait_for(consuming, 90, "the worker's readiness probe", interval=0.25, alive=worker.check_alive)

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def start(self) -> None:
        self.prepare()
        self.start_api()
        self.start_beat()
        self.start_worker()

    def stop(self) -> None:
        # Workers first (warm shutdown), then beat, then the API: the chart's drain order.
        for proc in self.processes():
            proc.stop()
        self.api = self.beat = self.worker = None
