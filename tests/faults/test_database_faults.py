"""Database faults: PostgreSQL stopped, or paused (SIGSTOP: it accepts connections and never
answers), for 10 seconds under load."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

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


def test_postgres_paused_for_ten_seconds_costs_requests_seconds_not_minutes(
    deployment: Deployment, client: httpx.Client
) -> None:
    # Given a long non-idempotent run executing and short runs waiting behind it
    long_run = deployment.submit(client, "diagnostics.sleep_once", {"seconds": 14, "steps": 28})
    wait_until(lambda: deployment.rows([long_run])[long_run]["status"] == "running", 30, "the long run")
    short_runs = [deployment.submit(client, "diagnostics.sleep", {"seconds": 0.2, "steps": 2}) for _ in range(8)]
    probe = short_runs[0]
    # And an API pod just restarted: its threads hold no database connection yet
    api = deployment.processes["api"]
    api.stop()
    api.start()
    wait_until(lambda: httpx.get(f"{deployment.api_url}/healthz", timeout=2).status_code == 200, 60, "the API")

    # When PostgreSQL is paused (SIGSTOP: connections are accepted by the kernel, never answered)
    deployment.postgres.pause()
    paused_at = time.monotonic()
    try:
        requests = [
            ("GET", f"/api/v1/runs/{probe}", None),
            ("GET", "/api/v1/runs", None),
            ("POST", "/api/v1/atoms/text.stats/runs", {"args": {"text": "db paused"}}),
            ("POST", f"/api/v1/runs/{probe}/cancel", None),
            ("GET", "/readyz", None),
        ]

        def timed(method: str, path: str, body: object) -> tuple[httpx.Response, float]:
            with deployment.client(timeout=20) as api_client:
                started = time.monotonic()
                response = api_client.request(method, path, json=body)
                return response, time.monotonic() - started

        with ThreadPoolExecutor(len(requests)) as pool:
            answers = list(pool.map(lambda r: timed(*r), requests))
        # Then each answers 503 with Retry-After within seconds (before: held until gunicorn's 120 s)
        for (response, seconds), (_, path, _) in zip(answers, requests, strict=True):
            assert response.status_code == 503, (path, response.text)
            assert seconds < 6, (path, seconds)
        for response, _ in answers[:4]:
            assert response.json()["error"]["code"] == "database_unavailable"
            assert int(response.headers["Retry-After"]) > 0
        assert "database" in answers[4][0].json()["checks"]["database"]
        time.sleep(max(0.0, 10 - (time.monotonic() - paused_at)))
    finally:
        deployment.postgres.resume()

    # And once it answers again, every run ends exactly once: the long run in its first attempt
    rows = deployment.wait_terminal([long_run, *short_runs], timeout=90)
    assert all(rows[r]["status"] == "succeeded" for r in short_runs), [rows[r] for r in short_runs]
    assert (rows[long_run]["status"], rows[long_run]["attempts"]) == ("succeeded", 1), rows[long_run]
    assert len(deployment.executions(long_run)) == 1
    assert not any(overlapping(deployment.executions(r)) for r in [long_run, *short_runs])
