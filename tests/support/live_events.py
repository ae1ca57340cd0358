"""``atomfleet events`` (uvicorn, the production settings) on a free port, beside ``live_api``:
same database and SECRET_KEY (it checks the API's stream tokens)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_api import ApiServer, free_port

#: Short, so tests see keep-alives and expiry in seconds.
KEEPALIVE_SECONDS = 0.5
STREAM_TOKEN_SECONDS = 5


class EventsServer:
    def __init__(self, workdir: Path, api: ApiServer, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "events.log"
        self.env = api.env | {
            "ATOMFLEET_EVENTS_HOST": "127.0.0.1",
            "ATOMFLEET_EVENTS_PORT": str(self.port),
            "ATOMFLEET_METRICS_PORT": str(free_port()),
            "ATOMFLEET_EVENTS_KEEPALIVE_SECONDS": str(KEEPALIVE_SECONDS),
            "ATOMFLEET_EVENTS_POLL_SECONDS": "1",
            "ATOMFLEET_STREAM_TOKEN_SECONDS": str(STREAM_TOKEN_SECONDS),
        } | env
        self.metrics_url = f"http://127.0.0.1:{self.env['ATOMFLEET_METRICS_PORT']}/metrics"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "atomfleet_orchestrator.cli.main", "events"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the events process exited:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"the events process did not get ready in {timeout:g}s:\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop it; its exit status (-9 when it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return -9

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def live_events(live_api: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsServer]:
    server = EventsServer(tmp_path_factory.mktemp("live-events"), live_api)
    server.start()
    try:
        yield server
    finally:
        server.stop()


__all__ = ["EventsServer", "live_events"]

