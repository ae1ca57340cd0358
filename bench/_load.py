"""HTTP load for the req/s figures: ``wrk`` when installed, else a threaded ``httpx`` generator.

``wrk`` (C, one event-loop thread) costs a fraction of a core, so on a 2-core machine the server,
not the client, is what saturates; the Python generator competes for the same cores and reads
lower. Which one ran is printed beside the figure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["LoadResult", "load_tool", "run_load"]


@dataclass(frozen=True)
class LoadResult:
    ok_per_s: float  # 2xx/3xx responses per second
    requests: int
    errors: int  # non-2xx responses plus socket errors
    tool: str


def load_tool(choice: str = "auto") -> str:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "httpx"
    if choice == "wrk" and not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    return choice


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrk(url: str, method: str, body: str | None, headers: dict[str, str], seconds: float,
         connections: int) -> LoadResult:
    lines = [f"wrk.method = {_lua_string(method)}"]
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(body)}")
    lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
             "-s", script.name, url],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    requests = int(total.group(1))
    elapsed = float(total.group(2)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}.get(total.group(3), 1.0)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    # A server may close a keep-alive connection after a response (gunicorn's sync worker always
    # does); wrk may count that as a read error although the response was whole, so only
    # connect/write/timeout are failures.
    broken = sum(int(socket.group(i)) for i in (1, 3, 4)) if socket else 0
    return LoadResult((requests - bad) / elapsed, requests, bad + broken, "wrk")


def _httpx(url: str, method: str, body: str | None, headers: dict[str, str], seconds: float,
           connections: int) -> LoadResult:
    counts = [[0, 0] for _ in range(connections)]  # [ok, errors] per thread
    deadline = time.perf_counter() + seconds

    def loop(slot: list[int]) -> None:
        with httpx.Client(headers=headers, timeout=10) as client:
            while time.perf_counter() < deadline:
                try:
                    response = client.request(method, url, content=body)
                    slot[0 if response.status_code < 400 else 1] += 1
                except httpx.HTTPError:
                    slot[1] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(slot,)) for slot in counts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ok = sum(c[0] for c in counts)
    errors = sum(c[1] for c in counts)
    return LoadResult(ok / elapsed, ok + errors, errors, "httpx")


def run_load(url: str, *, method: str = "GET", body: str | None = None, headers: dict[str, str],
             seconds: float, connections: int, tool: str = "auto") -> LoadResult:
    """Closed-loop load: ``connections`` clients each send the next request when one is answered."""
    runner = _wrk if load_tool(tool) == "wrk" else _httpx
    return runner(url, method, body, headers, seconds, connections)
