"""Outcomes that must end a run truthfully: results JSON cannot carry, atoms that left the
catalog, failures and cancellations as Celery sees them, artifacts lost from storage."""

from __future__ import annotations

import time
import uuid

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.deployment import Deployment, wait_until

pytestmark = pytest.mark.fault


def test_a_result_that_overflows_to_infinity_fails_invalid_result(deployment: Deployment, client: httpx.Client) -> None:
    # An explosive series: the AR(1) forecast grows by 10x per step and overflows to Infinity
    run_id = deployment.submit(client, "forecast.autoregressive", {
        "series": [1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0, 1e6, 1e7], "order": 1, "horizon": 400,
    })
    row = deployment.wait_terminal([run_id], timeout=60)[run_id]
    assert (row["status"], row["error_code"], row["attempts"]) == ("failed", "invalid_result", 1), row
    assert "NaN or Infinity" in row["error_message"]
    body = client.get(f"/api/v1/runs/{run_id}").json()
    assert body["error"]["code"] == "invalid_result"


def test_a_run_of_an_atom_removed_from_the_catalog_fails_alone(deployment: Deployment, client: httpx.Client) -> None:
    # Given a run the previous release accepted for an atom this release no longer has
    retired = _accepted_by_an_older_release(deployment, atom="reports.retired")
    # When runs keep coming after it
    runs = [deployment.submit(client, "text.stats", {"text": f"after {i}"}) for i in range(3)]
    # Then it ends failed with its own code, and it blocks nothing
    rows = deployment.wait_terminal([retired, *runs], timeout=60)
    assert (rows[retired]["status"], rows[retired]["error_code"]) == ("failed", "unknown_atom"), rows[retired]
    assert all(rows[r]["status"] == "succeeded" for r in runs)


def _accepted_by_an_older_release(deployment: Deployment, atom: str) -> str:
    run_id = str(uuid.uuid4())
    with psycopg.connect(deployment.postgres.url) as conn:
        conn.execute(
            """INSERT INTO runs_atomrun (id, tenant_id, created_by, atom, queue, args, status, progress,
                   progress_message, result_artifact, artifacts, error_code, error_message, attempts,
                   max_attempts, dispatch_count, celery_task_id, cancel_requested, worker, created_at)
               SELECT %s, id, 'drill', %s, 'default', '{}', 'queued', 0, '', '', '[]', '', '', 0, 4, 0,
                   %s, false, '', now() - interval '10 seconds'
               FROM tenancy_tenant WHERE slug = 'drill'""",
            (run_id, atom, str(uuid.uuid4())),
        )
    return run_id


def _counters(deployment: Deployment, queue: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(deployment.metrics(queue)):
        for sample in family.samples:
            if sample.name.endswith("_total"):
                values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _total(counters: dict[tuple[str, tuple[tuple[str, str], ...]], float], metric: str, **labels: str) -> float:
    return sum(v for (name, key), v in counters.items()
               if name == metric and all((k, val) in key for k, val in labels.items()))


def test_failures_and_cancellations_are_what_celery_reports(deployment: Deployment, client: httpx.Client) -> None:
    task = "atomfleet.atom.diagnostics.sleep"
    before = _counters(deployment, "default")
    # A success, an atom failure (bad input, not retried), a cancellation while running
    ok = deployment.submit(client, "diagnostics.sleep", {"seconds": 0.2, "steps": 1})
    bad = deployment.submit(client, "diagnostics.sleep", {"seconds": 0.2, "steps": 1, "fail_attempts": 9})
    stop = deployment.submit(client, "diagnostics.sleep", {"seconds": 30, "steps": 60})
    wait_until(lambda: deployment.rows([stop])[stop]["status"] == "running", 30, "the run to cancel")
    assert client.post(f"/api/v1/runs/{stop}/cancel").status_code == 202
    rows = deployment.wait_terminal([ok, bad, stop], timeout=120)
    assert [rows[r]["status"] for r in (ok, bad, stop)] == ["succeeded", "failed", "cancelled"]
    assert rows[bad]["error_code"] == "retries_exhausted" and rows[bad]["attempts"] == 6

    def delta(metric: str, **labels: str) -> float:
        after = _counters(deployment, "default")
        return _total(after, metric, **labels) - _total(before, metric, **labels)

    wait_until(lambda: delta("celery_task_revoked_total", name=task) == 1, 10, "the revoked count")
    assert delta("celery_task_succeeded_total", name=task) == 1
    assert delta("celery_task_failed_total", name=task, exception="TransientAtomError") == 1
    assert delta("celery_task_retried_total", name=task) == 5
    assert delta("atomfleet_runs_total", atom="diagnostics.sleep", outcome="cancelled") == 1


def test_an_artifact_missing_from_storage_is_a_404_not_a_broken_download(
    deployment: Deployment, client: httpx.Client
) -> None:
    key = client.post("/api/v1/files", files={"file": ("in.csv", b"id\n1\n2\n")}).json()["key"]
    run_id = deployment.submit(client, "data.validate_csv", {"file": key, "columns": [{"name": "id", "type": "integer"}]})
    assert deployment.wait_terminal([run_id], timeout=60)[run_id]["status"] == "succeeded"
    (artifact,) = client.get(f"/api/v1/runs/{run_id}/result").json()["artifacts"]
    # When the object disappears from storage (a lifecycle rule, an operator's mistake)
    for path in (deployment.root / "storage").rglob("report.json"):
        if run_id in str(path):
            path.unlink()
    response = client.get(artifact["url"])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "artifact_not_found"


def test_a_result_storage_refuses_ends_the_run_failed_once(deployment: Deployment, client: httpx.Client) -> None:
    # Given an idempotent run whose result is too large to be stored inline...
    run_id = deployment.submit(client, "diagnostics.sleep", {"seconds": 2, "steps": 4, "result_bytes": 200_000})
    wait_until(lambda: deployment.rows([run_id])[run_id]["status"] == "running", 30, "the run to start")
    # ...and a file where storage must create the run's artifact folder (a broken volume)
    tenant_runs = deployment.root / "storage" / "tenants" / "drill" / "runs"
    tenant_runs.mkdir(parents=True, exist_ok=True)
    (tenant_runs / run_id).write_bytes(b"not a folder")
    started = time.monotonic()
    row = deployment.wait_terminal([run_id], timeout=90)[run_id]
    # Then it ends failed/result_not_recorded at once, with the reason, and never executes again
    assert (row["status"], row["error_code"], row["attempts"]) == ("failed", "result_not_recorded", 1), row
    assert "NotADirectoryError" in row["error_message"] or "FileExistsError" in row["error_message"], row
    assert time.monotonic() - started < 15  # not the reconciler, 20 s after the lease lapsed
    time.sleep(3)
    assert len(deployment.executions(run_id)) == 1


@pytest.mark.parametrize(("fail_with", "code", "message"), [
    # A NUL in an exception message: recorded, the NUL written \x00 (PostgreSQL text refuses it)
    ("nul_message", "atom_error", "a NUL here:\\x00 (PostgreSQL"),
    # A code longer than the column: the database refuses the failure; the fallback records it
    ("long_code", "result_not_recorded", "DataError"),
])
def test_an_error_the_database_cannot_store_as_given_ends_the_run_failed_once(
    deployment: Deployment, client: httpx.Client, fail_with: str, code: str, message: str
) -> None:
    run_id = deployment.submit(client, "diagnostics.sleep", {"seconds": 0.5, "steps": 1, "fail_with": fail_with})
    started = time.monotonic()
    row = deployment.wait_terminal([run_id], timeout=90)[run_id]
    assert (row["status"], row["error_code"], row["attempts"]) == ("failed", code, 1), row
    assert message in row["error_message"], row
    assert time.monotonic() - started < 15  # recorded by the execution, not reconciled 20 s later
    time.sleep(3)
    assert len(deployment.executions(run_id)) == 1
