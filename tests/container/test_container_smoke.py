"""Container smoke test: the image runs every role under the chart's security context.

Builds the image from the repository's Dockerfile (on a locally made Debian base where no registry
can be pulled, see hack/container-test-images.sh), then starts on one Docker network: Redis and
PostgreSQL, the migrations, the API, beat and one worker per queue, each container as the chart runs
it (uid 10001, read-only root, all capabilities dropped, no-new-privileges, a tmpfs on /tmp), and
completes one run per queue through the API. Skips with a one-line reason when no Docker engine
answers (`make docker-up` starts one where it can). The chart's own containers are rehearsed in
test_production_rehearsal.py; this test covers the image with plain `docker run` commands.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.container.conftest import IMAGE_VERSION, docker

QUEUES = ("default", "io_bound", "ml_training")
# The chart's container securityContext, as `docker run` flags; /tmp is the chart's emptyDir.
SECURITY = [
    "--user", "10001:10001",
    "--read-only",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--tmpfs", "/tmp:rw,nosuid,nodev,size=512m,mode=1777",
]

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]


class Fleet:
    """Containers of one smoke-test fleet, all on a private network; removed at the end."""

    def __init__(self, image: str, services_image: str) -> None:
        self.image, self.services_image = image, services_image
        self.prefix = f"af-smoke-{uuid.uuid4().hex[:8]}"
        self.network = self.prefix
        self.containers: list[str] = []
        self.storage = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-storage-"))
        self.storage.chmod(0o777)  # the shared local storage volume, written by uid 10001
        self.env = {
            "ATOMFLEET_SECRET_KEY": "smoke-test-" + uuid.uuid4().hex,
            "ATOMFLEET_ALLOWED_HOSTS": "*",
            "DATABASE_URL": "postgres://postgres@postgres:5432/atomfleet",
            "REDIS_URL": "redis://redis:6379",
            "ATOMFLEET_STORAGE_BACKEND": "local",
            "ATOMFLEET_STORAGE_LOCAL_ROOT": "/data/storage",
            "ATOMFLEET_LOG_FORMAT": "json",
            "ATOMFLEET_DISPATCH_INTERVAL": "2",
            "ATOMFLEET_RECONCILE_INTERVAL": "5",
            "ATOMFLEET_API_WORKERS": "1",
        }

    # -- plumbing ------------------------------------------------------------------------------
    def _env_flags(self) -> list[str]:
        return [flag for k, v in self.env.items() for flag in ("-e", f"{k}={v}")]

    def _fleet_flags(self) -> list[str]:
        return [*SECURITY, "--network", self.network, *self._env_flags(), "-v", f"{self.storage}:/data/storage"]

    def start(self, name: str, *args: str, alias: str | None = None) -> str:
        cname = f"{self.prefix}-{name}"
        flags = ["--network-alias", alias] if alias else []
        docker("run", "-d", "--name", cname, *flags, *args)
        self.containers.append(cname)
        return cname

    def run_once(self, *command: str) -> str:
        """A one-shot fleet container (migrations, management commands); its stdout."""
        proc = docker("run", "--rm", *self._fleet_flags(), self.image, *command, check=False, timeout=300)
        assert proc.returncode == 0, f"{' '.join(command)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def logs(self) -> str:
        out = []
        for c in self.containers:
            proc = docker("logs", "--tail", "60", c, check=False)
            state = docker("inspect", "-f", "{{.State.Status}} exit={{.State.ExitCode}}", c, check=False).stdout.strip()
            out.append(f"===== {c} ({state})\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
        return "\n".join(out)

    def teardown(self) -> None:
        if self.containers:
            docker("rm", "-f", "-v", *self.containers, check=False)
        docker("network", "rm", self.network, check=False)
        # Files under the storage folder belong to uid 10001; we are root or own the folder.
        shutil.rmtree(self.storage, ignore_errors=True)

    # -- roles ---------------------------------------------------------------------------------
    def up_backing_services(self) -> None:
        docker("network", "create", self.network)
        self.start("redis", "--network", self.network, self.services_image,
                   "redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no",
                   alias="redis")
        pg = self.start("postgres", "--network", self.network, "--user", "postgres", self.services_image,
                        "start-postgres", alias="postgres")
        wait_for(lambda: docker("exec", pg, "psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "atomfleet",
                                "-tAc", "select 1", check=False).returncode == 0, 60, "PostgreSQL to accept connections")

    def up_fleet(self) -> int:
        """Start API, beat and one worker per queue; returns the API's port on 127.0.0.1."""
        api = self.start("api", *self._fleet_flags(), "-p", "127.0.0.1::8000", self.image, "atomfleet", "api")
        self.start("beat", *self._fleet_flags(), self.image,
                   "celery", "-A", "atomfleet_orchestrator", "beat", "--schedule=/tmp/celerybeat-schedule", "--loglevel=INFO")
        for queue in QUEUES:
            self.start(f"worker-{queue}", *self._fleet_flags(), self.image,
                       "celery", "-A", "atomfleet_orchestrator", "worker", f"--queues={queue}",
                       f"--hostname={queue}@%h", "--concurrency=2", "--prefetch-multiplier=1",
                       "--without-mingle", "--without-gossip", "--loglevel=INFO")
        port = docker("port", api, "8000/tcp").stdout.strip().splitlines()[0].rsplit(":", 1)[1]
        return int(port)


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class RunningFleet:
    fleet: Fleet
    base_url: str
    token: str


@pytest.fixture(scope="module")
def running(image: str, helper_images: tuple[str, str]) -> Iterator[RunningFleet]:
    """Redis, PostgreSQL, migrations, a tenant and token, API, beat, one worker per queue."""
    fleet = Fleet(image, helper_images[1])
    try:
        fleet.up_backing_services()
        fleet.run_once("atomfleet", "migrate")
        fleet.run_once("atomfleet", "manage", "create_tenant", "smoke")
        token = fleet.run_once("atomfleet", "manage", "create_token", "smoke", "smoke-test").strip().splitlines()[-1]
        port = fleet.up_fleet()
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, 120, "the API's /readyz")
        for queue in QUEUES:
            worker = f"{fleet.prefix}-worker-{queue}"
            wait_for(lambda w=worker: "ready." in _output(docker("logs", w, check=False)), 120, f"{queue} worker to be ready")
    except BaseException:
        print(fleet.logs())
        fleet.teardown()
        raise
    try:
        yield RunningFleet(fleet, base, token)
    finally:
        fleet.teardown()


def test_image_is_non_root_with_labels(image: str) -> None:
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Labels"]["org.opencontainers.image.title"] == "atomfleet"
    assert config["Labels"]["org.opencontainers.image.version"] == IMAGE_VERSION
    assert "HOME=/tmp" in config["Env"]
    # Nothing of the build stage (pip, the proxy CA) reaches the runtime image.
    proc = docker("run", "--rm", *SECURITY, image, "sh", "-c",
                  "id -u; test ! -e /opt/atomfleet/bin/pip && test ! -e /tmp/build-ca && echo clean")
    assert proc.stdout.split() == ["10001", "clean"]


def test_fleet_completes_one_run_per_queue_under_the_chart_security_context(running: RunningFleet) -> None:
    try:
        with httpx.Client(base_url=running.base_url, headers={"Authorization": f"Bearer {running.token}"},
                          timeout=30) as api:
            catalog = {a["name"]: a["queue"] for a in api.get("/api/v1/atoms").raise_for_status().json()["results"]}
            upload = api.post("/api/v1/files", files={"file": ("smoke.csv", b"id,score\n1,0.5\n2,0.75\n")})
            key = upload.raise_for_status().json()["key"]
            submissions = {
                "text.stats": {"text": "the fleet runs the fleet"},
                "data.validate_csv": {"file": key, "columns": [{"name": "id", "type": "integer"},
                                                                {"name": "score", "type": "number"}]},
                "forecast.autoregressive": {"series": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "order": 2, "horizon": 3},
            }
            assert {catalog[a] for a in submissions} == set(QUEUES)
            runs = {}
            for atom, args in submissions.items():
                response = api.post(f"/api/v1/atoms/{atom}/runs", json={"args": args})
                assert response.status_code == 202, response.text
                runs[atom] = response.json()["id"]
            finished: dict[str, dict[str, Any]] = {}

            def all_finished() -> bool:
                for atom, run_id in runs.items():
                    run = api.get(f"/api/v1/runs/{run_id}").raise_for_status().json()
                    if run["status"] in ("succeeded", "failed", "cancelled"):
                        finished[atom] = run
                return len(finished) == len(runs)

            wait_for(all_finished, 240, "one run per queue to finish", interval=2)
            assert {a: r["status"] for a, r in finished.items()} == dict.fromkeys(runs, "succeeded"), finished
    except BaseException:
        print(running.fleet.logs())
        raise


def test_worker_probes_pass_on_a_read_only_root(running: RunningFleet) -> None:
    for queue in QUEUES:
        worker = f"{running.fleet.prefix}-worker-{queue}"
        for probe in ("readiness", "liveness"):
            wait_for(lambda w=worker, p=probe: docker("exec", w, "atomfleet-probe", p, check=False).returncode == 0,
                     60, f"{queue} worker {probe} probe")


def test_every_worker_serves_metrics_on_9808(running: RunningFleet) -> None:
    fetch = "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9808/metrics').read().decode())"
    for queue in QUEUES:
        worker = f"{running.fleet.prefix}-worker-{queue}"
        wait_for(lambda w=worker: "# TYPE" in docker("exec", w, "python3", "-c", fetch, check=False).stdout,
                 60, f"{queue} worker /metrics on 9808")
