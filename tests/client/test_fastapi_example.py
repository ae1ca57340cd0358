"""docs/client.md's FastAPI example, run as written: uvicorn serves it, it talks to the live fleet."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live_api import ApiServer, LiveTenant, free_port

pytestmark = [pytest.mark.fleet, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def example_source() -> str:
    """The python block right after the ``<!-- example: fastapi_service -->`` marker."""
    found = re.search(r"<!-- example: fastapi_service -->\s*```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert found, "docs/client.md lost its FastAPI example"
    return found.group(1)


@pytest.fixture
def service(live_api: ApiServer, live_tenant: LiveTenant, tmp_path: Path) -> Iterator[str]:
    (tmp_path / "service.py").write_text(example_source())
    port = free_port()
    env = {**os.environ, "ATOMFLEET_URL": live_api.url, "ATOMFLEET_TOKEN": live_tenant.token}
    log = (tmp_path / "uvicorn.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "uvicorn.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, (tmp_path / "uvicorn.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


@pytest.mark.usefixtures("worker_fleet")
def test_the_fastapi_example_submits_a_run_and_answers_with_its_id(service: str) -> None:
    with httpx.Client(base_url=service, timeout=30) as http:
        accepted = http.post("/documents", json={"id": "42", "text": "to be or not to be"})
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        # The document id is the idempotency key: sending it again is the same run.
        assert http.post("/documents", json={"id": "42", "text": "to be or not to be"}).json() == {"run_id": run_id}

        deadline = time.monotonic() + 120
        report: dict[str, Any] = {}
        while report.get("status") != "succeeded":
            assert time.monotonic() < deadline, report
            time.sleep(0.2)
            report = http.get(f"/documents/runs/{run_id}").json()
        assert report["stats"]["words"] == 6 and report["progress"] == 1.0
        assert http.get("/documents/runs/00000000-0000-0000-0000-000000000000").status_code == 404
