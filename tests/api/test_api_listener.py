"""How the real API server (``atomfleet api``) takes connections: every gunicorn worker listens on
the port itself (SO_REUSEPORT), so a client's keep-alive pool is spread over the workers instead of
landing on whichever one woke first; and a port already in use stops the server with its name."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_api import ApiServer, free_port

CONNECTIONS = 16  # all on one of 2 workers by chance: 2 in 65,536


@pytest.fixture(scope="module")
def api(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(tmp_path_factory.mktemp("listener"))  # 2 workers, as the chart runs it
    server.start()
    try:
        yield server
    finally:
        server.stop()


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


def test_each_worker_listens_and_a_keep_alive_pool_reaches_every_worker(api: ApiServer) -> None:
    workers = api.worker_pids()
    assert len(workers) == 2, api.tail()
    listening = _tcp_inodes(api.port, "0A")
    assert [_owned(pid, listening) for pid in workers] == [1, 1], "each worker holds a listening socket of its own"
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
        server = ApiServer(tmp_path, ATOMFLEET_API_PORT=str(port))
        message = f"cannot listen on 127.0.0.1:{port} (ATOMFLEET_API_HOST, ATOMFLEET_API_PORT)"
        with pytest.raises(RuntimeError, match=re.escape(message)):
            server.start()
