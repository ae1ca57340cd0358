"""`atomfleet dev` and `atomfleet demo` on embedded defaults (SQLite, local storage, embedded Redis)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.fleet, pytest.mark.timeout(300)]


def _clean_env() -> dict[str, str]:
    """The environment of a fresh shell: none of the test suite's database/broker settings."""
    drop = ("ATOMFLEET_", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)} | {"PYTHONUNBUFFERED": "1"}


def _listening_addresses(port: int, wait: float = 0.0) -> set[str]:
    """Local addresses of the TCP sockets listening on ``port`` (IPv4 and IPv6), waiting up to
    ``wait`` seconds for the first one."""
    deadline = time.monotonic() + wait
    while not (found := _listening_now(port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _listening_now(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:  # /proc writes IPv6 as four host-order 32-bit words
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _streamed(events_url: str, run_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The run's events read from the SSE stream until its terminal one."""
    seen: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{events_url}/api/v1/events/stream", params={"run": run_id}, headers=headers,
                      timeout=httpx.Timeout(10, read=60)) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
                if seen[-1]["type"] in ("run.succeeded", "run.failed", "run.cancelled"):
                    return seen
    raise AssertionError(f"the stream ended before the run did: {seen}")


def test_dev_prints_endpoints_serves_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "atomfleet_orchestrator.cli.main", "dev"], cwd=tmp_path, env=_clean_env(),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    lines: dict[str, str] = {}
    metrics: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while "fleet" not in lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            key, _, value = line.strip().partition(" ")
            if key == "metrics":  # metrics <process> <url>
                key, _, value = value.partition(" ")
                metrics[key] = value
            lines.setdefault(key, value)
        assert lines.get("api", "").startswith("http://127.0.0.1:"), lines
        # Every metrics endpoint is printed and listens on loopback only, beat's included.
        assert set(metrics) == {"api", "beat", "default", "io_bound", "ml_training", "webhooks"}, metrics
        for name, url in metrics.items():
            assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics"), (name, url)
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            # A worker prints its URL as it starts: its metrics server may listen a moment later.
            assert _listening_addresses(port, wait=30) == {"127.0.0.1"}, (name, url, _listening_addresses(port))
        assert "atomfleet_queue_demand" in httpx.get(metrics["beat"], timeout=10).text
        atoms = httpx.get(f"{lines['api']}/api/v1/atoms", headers={"Authorization": f"Bearer {lines['token']}"})
        assert atoms.status_code == 200 and len(atoms.json()["results"]) >= 4
        assert (tmp_path / ".atomfleet" / "dev.sqlite3").exists()
        # The events process: its URL printed, on loopback only, streaming a run to its end.
        events = lines.get("events", "")
        assert events.startswith("http://127.0.0.1:") and events != lines["api"], lines
        assert _listening_addresses(int(events.rsplit(":", 1)[1]), wait=30) == {"127.0.0.1"}
        auth = {"Authorization": f"Bearer {lines['token']}"}
        run = httpx.post(f"{lines['api']}/api/v1/atoms/text.stats/runs", json={"args": {"text": "a b a"}},
                         headers=auth, timeout=10).json()
        assert [e["type"] for e in _streamed(events, run["id"], auth)] == ["run.accepted", "run.started", "run.succeeded"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{lines['api']}/healthz", timeout=2)
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path / ".atomfleet")], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "processes of the fleet survived Ctrl-C"


def test_demo_runs_one_atom_per_queue_and_a_diamond_workflow_and_exits_zero(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "atomfleet_orchestrator.cli.main", "demo"], cwd=tmp_path, env=_clean_env(),
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout.split("queue ")[1].split("\nworkflow")[0]
    for queue, atom in [("default", "text.stats"), ("io_bound", "data.validate_csv"), ("ml_training", "forecast.autoregressive")]:
        assert any(row.split()[:3] == [queue, atom, "succeeded"] for row in table.splitlines()), table
    step_table = done.stdout.split("\nstep ")[1].split("\n\n")[0].split("\nfleet stopped")[0]
    steps = {row.split()[0]: row.split()[1:4] for row in step_table.splitlines()[1:] if row.strip()}
    assert steps == {"validate": ["data.validate_csv", "io_bound", "succeeded"],
                     "stats": ["text.stats", "default", "succeeded"],
                     "fit": ["forecast.autoregressive", "ml_training", "succeeded"],
                     "report": ["text.stats", "default", "succeeded"]}, done.stdout
