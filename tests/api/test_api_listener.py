"""How the real API server (``atomfleet api``) takes connections: every gunicorn worker listens on
the port itself (SO_REUSEPORT), so a client's keep-alive pool is spread over the workers instead of
landing on whichever one woke first; and a port already in use stops the server with its name."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.api.live_api import BIN, LiveApi, free_port

WORKERS = 2
CONNECTIONS = 16  # all on one of 2 workers by chance: 2 in 65,536


def _env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "atomfleet_orchestrator.settings",
        "ATOMFLEET_DEBUG": "false",
        "ATOMFLEET_SECRET_KEY": "listener-test",
        "DATABASE_URL": f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "ATOMFLEET_BROKER_URL": settings.CELERY_BROKER_URL,
        "ATOMFLEET_LOG_FORMAT": "console",
    }


@pytest.fixture(scope="module")
def api(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    live = LiveApi(_env(), tmp_path_factory.mktemp("listener"), workers=WORKERS).start()
    try:
        yield live
    finally:
        live.stop()


def _tcp_inodes(port: int, state: str) -> set[str]:
    """Socket inodes of local port ``port`` in ``state`` (0A listening, 01 established)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def _owned(pid: int, inodes: set[str]) -> int:
    owned = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        owned += target.startswith("socket:[") and target[8:-1] in inodes
    return owned


def test_each_worker_listens_and_a_keep_alive_pool_reaches_every_worker(api: LiveApi) -> None:
    workers = api.worker_pids()
    assert len(workers) == WORKERS, api.logs()
    listening = _tcp_inodes(api.port, "0A")
    assert [_owned(pid, listening) for pid in workers] == [1] * WORKERS, "each worker holds a listening socket of its own"
    assert _owned(api.proc.pid, listening) == 0, "the master holds none: nothing waits in a queue no worker reads"  # type: ignore[union-attr]

    clients = [httpx.Client(base_url=api.url, timeout=10, limits=httpx.Limits(max_connections=1)) for _ in range(CONNECTIONS)]
    try:
        for client in clients:  # one kept-alive connection each, all open at once
            assert client.get("/healthz").status_code == 200
        established = _tcp_inodes(api.port, "01")
        per_worker = [_owned(pid, established) for pid in workers]
    finally:
        for client in clients:
            client.close()
    assert sum(per_worker) == CONNECTIONS, per_worker
    assert min(per_worker) > 0, f"connections per worker: {per_worker}"


def test_a_port_in_use_stops_the_api_naming_it(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(
            [str(BIN / "atomfleet"), "api"],
            env={**_env(), "ATOMFLEET_API_HOST": "127.0.0.1", "ATOMFLEET_API_PORT": str(port),
                 "ATOMFLEET_METRICS_PORT": "0", "ATOMFLEET_API_TMP": str(tmp_path),
                 "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")},
            capture_output=True, text=True, timeout=60,
        )
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port} (ATOMFLEET_API_HOST, ATOMFLEET_API_PORT)" in done.stderr, done.stderr[-2000:]
