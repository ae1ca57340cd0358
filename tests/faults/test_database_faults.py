"""Database faults: PostgreSQL stopped for 10 seconds under load."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.deployment import Deployment, overlapping, wait_until

pytestmark = pytest.mark.fault


def test_postgres_stopped_for_ten_seconds(deployment: Deployment, client: httpx.Client) -> None:
    # Given 2 long non-idempotent runs executing and 22 short runs waiting
    long_runs = [deployment.submit(client, "diagnostics.sleep_once", {"seconds": 16, "steps": 32}) for _ in range(2)]
    wait_until(lambda: all(r["status"] == "running" for r in deployment.rows(long_runs).values()), 30, "long runs")
    short_runs = [deployment.submit(client, "diagnostics.sleep", {"seconds": 0.2, "steps": 2}) for _ in range(22)]
    probe = short_runs[0]

    # When PostgreSQL stops for 10 s
    deployment.postgres.stop()
    try:
        # Then every API endpoint answers 503 with Retry-After and the error body, never 500
        answers = [
            client.get(f"/api/v1/runs/{probe}"),
            client.get("/api/v1/runs"),
            client.post("/api/v1/atoms/text.stats/runs", json={"args": {"text": "db down"}}),
            client.post(f"/api/v1/runs/{probe}/cancel"),
            httpx.get(f"{deployment.api_url}/readyz", timeout=10),
        ]
        for response in answers:
            assert response.status_code == 503, (response.request.url, response.text)
        for response in answers[:4]:
            assert response.json()["error"]["code"] == "database_unavailable"
            assert int(response.headers["Retry-After"]) > 0
        time.sleep(10)
    finally:
        deployment.postgres.start()

    # And once it is back, every run ends: the waiting ones ran (their messages were not acked as
    # if they had run), and the long ones finished in their first attempt: no worker was lost
    rows = deployment.wait_terminal(long_runs + short_runs, timeout=90)
    assert all(rows[r]["status"] == "succeeded" for r in short_runs), [rows[r] for r in short_runs]
    for run_id in long_runs:
        assert (rows[run_id]["status"], rows[run_id]["attempts"]) == ("succeeded", 1), rows[run_id]
    assert not any(overlapping(deployment.executions(r)) for r in long_runs + short_runs)
