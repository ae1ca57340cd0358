"""End to end through real workers: one run per queue, results, artifacts, logs, retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fleet, pytest.mark.usefixtures("worker_fleet")]

Wait = Callable[..., dict[str, Any]]
CSV = b"id,score\n1,0.5\n2,1.5\nx,0.1\n"


def _submit(api: APIClient, atom: str, args: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"/api/v1/atoms/{atom}/runs", {"args": args}, format="json")
    assert response.status_code == 202, response.content
    return dict(response.json())


def test_one_run_per_queue_completes_on_its_queue(api: APIClient, wait_for: Wait) -> None:
    key = api.post("/api/v1/files", {"file": SimpleUploadedFile("s.csv", CSV)}, format="multipart").json()["key"]
    submitted = {
        "default": _submit(api, "text.stats", {"text": "to be or not to be"}),
        "io_bound": _submit(api, "data.validate_csv", {
            "file": key, "columns": [{"name": "id", "type": "integer"}, {"name": "score", "type": "number", "max": 1}],
        }),
        "ml_training": _submit(api, "forecast.autoregressive", {"series": [float(i % 7) for i in range(60)], "order": 7, "horizon": 3}),
    }
    for queue, run in submitted.items():
        done = wait_for(run["id"])
        assert done["status"] == "succeeded", done
        assert done["queue"] == queue and done["worker"].startswith(f"{queue}@test:")
        assert done["progress"]["fraction"] == 1.0 and done["attempts"] == 1

    stats = api.get(f"/api/v1/runs/{submitted['default']['id']}/result").json()["result"]
    assert stats["words"] == 6 and stats["top_words"][0] == {"word": "be", "count": 2}

    report = api.get(f"/api/v1/runs/{submitted['io_bound']['id']}/result").json()
    assert report["result"]["invalid_rows"] == 2 and report["result"]["error_count"] == 2
    (artifact,) = report["artifacts"]
    body = b"".join(api.get(artifact["url"]).streaming_content)
    assert json.loads(body)["errors"][0] == {"row": 2, "column": "score", "problem": "'1.5' is above the maximum 1"}

    forecast = api.get(f"/api/v1/runs/{submitted['ml_training']['id']}/result").json()
    assert forecast["result"]["forecast"] == pytest.approx([4.0, 5.0, 6.0], abs=1e-6)
    assert [a["name"] for a in forecast["artifacts"]] == ["model.json"]


def test_large_result_is_stored_by_reference(api: APIClient, wait_for: Wait) -> None:
    run = _submit(api, "forecast.autoregressive", {"series": [1.0, 2.0, 3.0, 5.0, 4.0, 6.0], "order": 1, "horizon": 2000})
    assert wait_for(run["id"])["status"] == "succeeded"
    result = api.get(f"/api/v1/runs/{run['id']}/result").json()
    assert result["result"] is None and result["result_artifact"] == "result.json"
    url = next(a["url"] for a in result["artifacts"] if a["name"] == "result.json")
    assert len(json.loads(b"".join(api.get(url).streaming_content))["forecast"]) == 2000


def test_transient_failures_are_retried_then_succeed(api: APIClient, wait_for: Wait) -> None:
    run = _submit(api, "diagnostics.sleep", {"seconds": 0.1, "steps": 1, "fail_attempts": 2})
    done = wait_for(run["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 3
    assert api.get(f"/api/v1/runs/{run['id']}/result").json()["result"]["attempt"] == 3


def test_progress_is_visible_while_running(api: APIClient, wait_for: Wait) -> None:
    run = _submit(api, "diagnostics.sleep", {"seconds": 3, "steps": 6})
    midway = wait_for(run["id"], lambda r: 0 < r["progress"]["fraction"] < 1)
    assert midway["status"] == "running" and midway["progress"]["message"].startswith("step ")
    assert midway["heartbeat_at"]
    assert wait_for(run["id"])["status"] == "succeeded"


def test_worker_log_lines_are_json_tagged_with_the_run(api: APIClient, wait_for: Wait, worker_logs: Callable[[str], str]) -> None:
    run = _submit(api, "text.stats", {"text": "log me"})
    done = wait_for(run["id"])
    tagged = [
        line for line in (json.loads(raw) for raw in worker_logs("default").splitlines() if raw.startswith("{"))
        if line.get("run_id") == run["id"]
    ]
    assert any(line["message"].startswith("run succeeded") for line in tagged)
    for line in tagged:
        assert line["tenant"] == "acme" and line["atom"] == "text.stats"
        assert line["task_id"] == done["celery_task_id"]
