"""Following a run live against the real fleet: `atomfleet watch` and docs/events.md's page in
headless Chromium (API, events process, workers, beat: all real processes)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.live_api import ApiServer, LiveTenant, free_port
from tests.support.live_events import EventsServer

pytestmark = [pytest.mark.fleet, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120),
              pytest.mark.usefixtures("worker_fleet")]

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def _submit(api: ApiServer, tenant: LiveTenant, atom: str, args: dict[str, object]) -> str:
    answer = httpx.post(f"{api.url}/api/v1/atoms/{atom}/runs", json={"args": args},
                        headers={"Authorization": f"Bearer {tenant.token}"})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def _watch(api: ApiServer, events: EventsServer, tenant: LiveTenant, target: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ATOMFLEET_URL": api.url, "ATOMFLEET_TOKEN": tenant.token, "ATOMFLEET_EVENTS_URL": events.url}
    return subprocess.run([sys.executable, "-m", "atomfleet_orchestrator.cli.main", "watch", target],
                          env=env, capture_output=True, text=True, timeout=90)


def test_watch_follows_a_run_to_its_end_and_exits_by_outcome(
    live_api: ApiServer, live_events: EventsServer, live_tenant: LiveTenant
) -> None:
    ok = _submit(live_api, live_tenant, "diagnostics.sleep", {"seconds": 1, "steps": 4})
    done = _watch(live_api, live_events, live_tenant, ok)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    assert "100%" in done.stderr and "succeeded" in done.stderr  # the bar, drawn from the events
    failing = _submit(live_api, live_tenant, "diagnostics.sleep", {"seconds": 0.1, "steps": 1, "fail_attempts": 9})
    done = _watch(live_api, live_events, live_tenant, failing)
    assert done.returncode == 1 and json.loads(done.stdout)["status"] == "failed", done.stderr


def _submit_workflow(api: ApiServer, tenant: LiveTenant, steps: list[dict[str, object]]) -> str:
    answer = httpx.post(f"{api.url}/api/v1/workflows", json={"steps": steps},
                        headers={"Authorization": f"Bearer {tenant.token}"})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def test_watch_follows_a_workflow_step_by_step(
    live_api: ApiServer, live_events: EventsServer, live_tenant: LiveTenant
) -> None:
    sleep = {"seconds": 0.5, "steps": 2}
    ok = _submit_workflow(live_api, live_tenant, [
        {"name": "first", "atom": "diagnostics.sleep", "args": sleep},
        {"name": "second", "atom": "text.stats", "after": ["first"], "args": {"text": "a b"}},
    ])
    done = _watch(live_api, live_events, live_tenant, ok)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    # Not a terminal: one line per change of a step's status, in the order the stream told them.
    changes = done.stderr.splitlines()
    assert changes.index("first succeeded") < changes.index("second running") < changes.index("second succeeded")
    failing = _submit_workflow(live_api, live_tenant, [
        {"name": "breaks", "atom": "diagnostics.sleep", "args": {"seconds": 0.1, "steps": 1, "fail_attempts": 9}},
        {"name": "never", "atom": "text.stats", "after": ["breaks"], "args": {"text": "x"}},
    ])
    done = _watch(live_api, live_events, live_tenant, failing)
    assert done.returncode == 1 and json.loads(done.stdout)["status"] == "failed", done.stderr
    assert "breaks failed" in done.stderr.splitlines() and "never skipped" in done.stderr.splitlines()
    # Watching it again after its end draws the final state and exits the same way.
    again = _watch(live_api, live_events, live_tenant, failing)
    assert again.returncode == 1 and json.loads(again.stdout)["id"] == failing
    unknown = _watch(live_api, live_events, live_tenant, "00000000-0000-4000-8000-000000000000")
    assert unknown.returncode == 1
    assert "no run or workflow 00000000-0000-4000-8000-000000000000" in unknown.stderr


def _page_from_docs() -> str:
    text = DOC.read_text()
    found = re.search(r"<!-- events-page:.*?-->\n```html\n(.*?)```", text, re.S)
    assert found, "docs/events.md lost its page"
    return found.group(1)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium (make chromium-install)")
def test_the_docs_page_shows_a_run_finish_in_headless_chromium(
    live_api: ApiServer, live_events: EventsServer, live_tenant: LiveTenant, tmp_path: Path
) -> None:
    run_id = _submit(live_api, live_tenant, "diagnostics.sleep", {"seconds": 2, "steps": 4})
    token = httpx.post(f"{live_api.url}/api/v1/events/stream-token", json={"run": run_id},
                       headers={"Authorization": f"Bearer {live_tenant.token}"}).json()["token"]
    page = tmp_path / "run.html"
    page.write_text(_page_from_docs())
    url = f"{page.as_uri()}?{httpx.QueryParams({'events': live_events.url, 'token': token})}"
    port = free_port()
    browser = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", f"--remote-debugging-port={port}", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    titles: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                tabs = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
            except httpx.HTTPError:
                tabs = []
            titles = [t.get("title", "") for t in tabs if t.get("type") == "page"]
            if "run succeeded" in titles:
                break
            time.sleep(0.2)
    finally:
        browser.terminate()
        browser.wait(10)
    assert "run succeeded" in titles, titles  # the page saw run.succeeded arrive on its EventSource
