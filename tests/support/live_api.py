"""The real API process for tests that talk HTTP: ``atomfleet api`` (gunicorn, the production
settings module) on a free port, against the test database, the test Redis DB and the test storage.

Fixtures (imported by ``tests/conftest.py``):

- ``live_api`` (session): the running server; ``live_api.url``.
- ``live_tenant`` (per test, transactional): a committed tenant and its raw token, so the server
  process sees them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from django.conf import settings

from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant
from tests.support.atoms import register_shipped_atoms

#: Short enough that the revocation test waits little, long enough to be a real cache.
TOKEN_CACHE_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class ApiServer:
    """``atomfleet api`` as the chart runs it (2 gunicorn workers), in its own process group."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The gunicorn master's metrics server: a free port, never the fixed 9808 of a pod.
        self.metrics_port = free_port()
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.log = workdir / "api.log"
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("ATOMFLEET_", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE",
                                          "PROMETHEUS_MULTIPROC_DIR"))}
        (workdir / "metrics").mkdir(exist_ok=True)
        self.env = inherited | {
            "DJANGO_SETTINGS_MODULE": "atomfleet_orchestrator.settings",
            "ATOMFLEET_SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": database_url(),
            "ATOMFLEET_BROKER_URL": settings.CELERY_BROKER_URL,
            "ATOMFLEET_STORAGE_LOCAL_ROOT": settings.ATOMFLEET_STORAGE["local_root"],
            "ATOMFLEET_API_HOST": "127.0.0.1",
            "ATOMFLEET_API_PORT": str(self.port),
            "ATOMFLEET_METRICS_PORT": str(self.metrics_port),
            "ATOMFLEET_API_WORKERS": "2",
            "ATOMFLEET_API_TMP": str(workdir),
            "ATOMFLEET_TOKEN_CACHE_SECONDS": str(TOKEN_CACHE_SECONDS),
            "ATOMFLEET_LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            "PYTHONUNBUFFERED": "1",
        } | env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60, ready_path: str = "/readyz") -> None:
        """Start and wait until ``ready_path`` answers 200 (``/healthz``: a server not ready)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "atomfleet_orchestrator.cli.main", "api"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API exited:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}{ready_path}", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"the API did not get ready in {timeout:g}s:\n{self.tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the master)."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def server_errors(self) -> list[str]:
        """Log lines of 5xx answers and tracebacks: a test that fuzzes the API expects none."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if '" 5' in line or "Traceback" in line]


@pytest.fixture(scope="session")
def live_api(
    django_db_setup: None, django_db_blocker: Any, broker_redis: redis.Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    # Webhook endpoints on this machine are admitted, as `atomfleet dev` admits them (loopback only).
    server = ApiServer(tmp_path_factory.mktemp("live-api"), ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class LiveTenant:
    tenant: Tenant
    token: str
    token_name: str


@pytest.fixture
def live_tenant(transactional_db: None) -> LiveTenant:
    register_shipped_atoms()
    tenant = Tenant.objects.create(slug=f"live-{secrets.token_hex(3)}")
    name = "service"
    _, raw = ApiToken.issue(tenant, name)
    return LiveTenant(tenant, raw, name)


@contextlib.contextmanager
def scratch_database(suffix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database beside the test database (dropped afterwards); its URL."""
    import psycopg

    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_{suffix}"
    admin = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db.get("PASSWORD") or None,
                            dbname="postgres", autocommit=True)
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str) -> str:
    """``atomfleet manage ...`` in a subprocess with ``env``; its stdout."""
    done = subprocess.run([sys.executable, "-m", "atomfleet_orchestrator.cli.main", "manage", *args],
                          env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"atomfleet manage {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout
