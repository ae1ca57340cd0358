"""Database faults: PostgreSQL stopped, or frozen whole (every process stopped: the kernel accepts
connections and acknowledges queries, nothing answers), for 10 seconds under load."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.db import OperationalError, connections

from atomfleet_orchestrator.db.postgresql.base import DatabaseWrapper
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


def test_postgres_frozen_for_ten_seconds_costs_requests_seconds_not_minutes(
    deployment: Deployment, client: httpx.Client
) -> None:
    # Given a long non-idempotent run executing and short runs waiting behind it
    long_run = deployment.submit(client, "diagnostics.sleep_once", {"seconds": 14, "steps": 28})
    wait_until(lambda: deployment.rows([long_run])[long_run]["status"] == "running", 30, "the long run")
    short_runs = [deployment.submit(client, "diagnostics.sleep", {"seconds": 0.2, "steps": 2}) for _ in range(8)]
    probe = short_runs[0]
    requests = [
        ("GET", f"/api/v1/runs/{probe}", None),
        ("GET", "/api/v1/runs", None),
        ("POST", "/api/v1/atoms/text.stats/runs", {"args": {"text": "db frozen"}}),
        ("POST", f"/api/v1/runs/{probe}/cancel", None),
        ("GET", "/readyz", None),
    ]

    def timed(method: str, path: str, body: object) -> tuple[httpx.Response | None, float]:
        """The answer (None: none within 20 s) and the seconds it took."""
        with deployment.client(timeout=20) as api_client:
            started = time.monotonic()
            try:
                response: httpx.Response | None = api_client.request(method, path, json=body)
            except httpx.TimeoutException:
                response = None
            return response, time.monotonic() - started

    # And the API's threads hold open database connections (reads only: nothing is submitted)
    with ThreadPoolExecutor(16) as pool:
        warm = list(pool.map(lambda _: timed("GET", f"/api/v1/runs/{probe}", None), range(32)))
    assert all(response is not None and response.status_code == 200 for response, _ in warm)

    # When the whole PostgreSQL server freezes (every process stopped, as `docker pause` or a
    # storage stall does: the kernel still acknowledges what clients send, nothing answers)
    deployment.postgres.freeze()
    frozen_at = time.monotonic()
    try:
        # Then each request answers 503 with Retry-After within seconds, both on a connection the
        # API held (a query already sent) and, the next time, on a new one (before: held until
        # gunicorn's 120 s timeout). Twice: the first round closed the held connections.
        for round_ in (1, 2):
            with ThreadPoolExecutor(len(requests)) as pool:
                answers = list(pool.map(lambda r: timed(*r), requests))
            seconds = {path: round(took, 2) for (_, took), (_, path, _) in zip(answers, requests, strict=True)}
            print(f"round {round_}: seconds to answer with PostgreSQL frozen: {seconds}")
            for (response, took), (_, path, _) in zip(answers, requests, strict=True):
                assert response is not None, (round_, path, "no answer within 20 s", seconds)
                assert response.status_code == 503, (path, response.text)
                assert took < 10, (round_, seconds)  # seconds, not the 20 s+ of a hung request
            replies = [response for response, _ in answers if response is not None]
            for response in replies[:4]:
                assert response.json()["error"]["code"] == "database_unavailable"
                assert int(response.headers["Retry-After"]) > 0
            assert "database" in replies[4].json()["checks"]["database"]
        time.sleep(max(0.0, 10 - (time.monotonic() - frozen_at)))
    finally:
        deployment.postgres.thaw()

    # And once it answers again, every run ends exactly once: the long run in its first attempt
    rows = deployment.wait_terminal([long_run, *short_runs], timeout=90)
    assert all(rows[r]["status"] == "succeeded" for r in short_runs), [rows[r] for r in short_runs]
    assert (rows[long_run]["status"], rows[long_run]["attempts"]) == ("succeeded", 1), rows[long_run]
    assert len(deployment.executions(long_run)) == 1
    assert not any(overlapping(deployment.executions(r)) for r in [long_run, *short_runs])
    # And the API serves again on the connections it opens anew
    assert client.get(f"/api/v1/runs/{probe}").status_code == 200


def test_a_query_sent_to_a_frozen_postgres_ends_at_the_client_deadline(
    deployment: Deployment, django_db_blocker: Any
) -> None:
    # Given the orchestrator's database backend connected to the deployment's PostgreSQL, with
    # a 2 s deadline per operation, inside a transaction (as a worker's write is)
    settings_dict = {
        **connections["default"].settings_dict,
        "NAME": "postgres", "USER": "postgres", "PASSWORD": "", "HOST": "127.0.0.1",
        "PORT": str(deployment.postgres.port),
        "OPTIONS": {**connections["default"].settings_dict["OPTIONS"], "query_timeout": 2},
    }
    wrapper = DatabaseWrapper(settings_dict, alias="frozen")
    with django_db_blocker.unblock():
        try:
            wrapper.set_autocommit(False)
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT 1")
            # When the whole server freezes after the connection was checked
            deployment.postgres.freeze()
            try:
                started = time.monotonic()
                # Then the next statement fails at the deadline as Django's OperationalError (the
                # API's 503), instead of waiting for as long as the server is frozen
                with pytest.raises(OperationalError, match="did not answer within 2s"), wrapper.cursor() as cursor:
                    cursor.execute("SELECT 1")
                took = time.monotonic() - started
                assert 2 <= took < 3, took
                # And the connection is closed, not left with a statement half answered
                assert wrapper.connection.closed
                assert not wrapper.is_usable()
            finally:
                deployment.postgres.thaw()
            # And once the server answers, a new connection works
            wrapper.close()
            wrapper.set_autocommit(True)
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT 1")
                assert cursor.fetchone() == (1,)
        finally:
            wrapper.close()
