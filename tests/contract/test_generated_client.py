"""The contract seen from outside: a client generated from the served schema by a real generator
(openapi-python-client) runs an atom through the live fleet (gunicorn API, celery workers, beat),
and real answers of every operation validate against the schema."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import schemathesis

from tests.support.live_api import ApiServer, LiveTenant

pytestmark = [pytest.mark.fleet, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

BIN = Path(sys.executable).parent
TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="module")
def generated(live_api: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    import subprocess

    out = tmp_path_factory.mktemp("generated")
    schema = out / "openapi.json"
    schema.write_bytes(httpx.get(f"{live_api.url}/api/v1/schema", params={"format": "json"}).content)
    done = subprocess.run(
        [str(BIN / "openapi-python-client"), "generate", "--path", str(schema),
         "--output-path", str(out / "atomfleet_api_client"), "--meta", "none"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The generator understood every operation and response: nothing was left out of the client.
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(out))
    try:
        import atomfleet_api_client

        yield atomfleet_api_client
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == "atomfleet_api_client"]:
            del sys.modules[name]


def test_a_generated_client_submits_polls_and_fetches_a_result_through_the_fleet(
    generated: ModuleType, live_api: ApiServer, live_tenant: LiveTenant, worker_fleet: Any
) -> None:
    from atomfleet_api_client import AuthenticatedClient  # type: ignore[import-not-found]
    from atomfleet_api_client.api.runs import (  # type: ignore[import-not-found]
        runs_result,
        runs_retrieve,
        runs_submit,
    )
    from atomfleet_api_client.models import (  # type: ignore[import-not-found]
        ErrorBody,
        Run,
        RunResult,
        SubmitRun,
        SubmitRunArgs,
    )

    client = AuthenticatedClient(base_url=live_api.url, token=live_tenant.token)  # sends "Bearer <token>"
    body = SubmitRun(args=SubmitRunArgs.from_dict({"text": "to be or not to be"}), idempotency_key="generated-1")
    submitted = runs_submit.sync_detailed(name="text.stats", client=client, body=body)
    assert submitted.status_code == 202 and isinstance(submitted.parsed, Run), submitted.content
    run_id = submitted.parsed.id

    deadline = time.monotonic() + 120
    run = submitted.parsed
    while run.status.value not in TERMINAL:
        assert time.monotonic() < deadline, f"run {run_id} still {run.status.value}"
        time.sleep(0.2)
        run = runs_retrieve.sync(run_id=run_id, client=client)
        assert isinstance(run, Run)
    assert run.status.value == "succeeded" and run.finished_at is not None

    result = runs_result.sync(run_id=run_id, client=client)
    assert isinstance(result, RunResult)
    assert result.result["words"] == 6 and result.result["top_words"][0] == {"word": "be", "count": 2}

    # Errors arrive typed, in the shared body.
    # (Without the key: a used key answers for its run before the atom is looked up.)
    unknown = runs_submit.sync(name="no.such.atom", client=client, body=SubmitRun(args=body.args))
    assert isinstance(unknown, ErrorBody) and unknown.error.code == "unknown_atom"
    anonymous = AuthenticatedClient(base_url=live_api.url, token="af_not-a-token")
    refused = runs_retrieve.sync_detailed(run_id=run_id, client=anonymous)
    assert refused.status_code == 401 and refused.parsed.error.code == "unauthenticated"


def test_real_answers_of_every_operation_match_the_schema(
    live_api: ApiServer, live_tenant: LiveTenant, worker_fleet: Any
) -> None:
    """The fuzzer mostly meets 404s for runs it does not know: here each operation answers about
    real runs (with an artifact), and each answer is validated against the served schema."""
    schema = schemathesis.openapi.from_url(f"{live_api.url}/api/v1/schema?format=json")
    seen: list[str] = []

    def check(path: str, method: str, response: httpx.Response) -> httpx.Response:
        schema[path][method].validate_response(response)  # raises with every mismatch
        seen.append(f"{method} {path} {response.status_code}")
        return response

    headers = {"Authorization": f"Bearer {live_tenant.token}"}
    with httpx.Client(base_url=live_api.url, headers=headers, timeout=30) as http:
        check("/api/v1/atoms", "GET", http.get("/api/v1/atoms"))
        request = http.build_request("POST", "/api/v1/files", files={"file": ("s.csv", b"a\n1\n")})
        request.read()  # the validator reads the request body too
        upload = check("/api/v1/files", "POST", http.send(request))
        assert upload.status_code == 201
        args = {"series": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "order": 1, "horizon": 2}
        run = check("/api/v1/atoms/{name}/runs", "POST",
                    http.post("/api/v1/atoms/forecast.autoregressive/runs", json={"args": args})).json()
        batch = check("/api/v1/atoms/{name}/runs/batch", "POST", http.post(
            "/api/v1/atoms/text.stats/runs/batch",
            json={"items": [{"args": {"text": "a"}, "idempotency_key": f"b-{uuid.uuid4()}"}, {"args": {"text": "b"}}]},
        ))
        assert batch.status_code == 202
        refused = check("/api/v1/atoms/{name}/runs/batch", "POST", http.post(
            "/api/v1/atoms/text.stats/runs/batch", json={"items": [{"args": {"txt": "a"}}]}))
        assert refused.json()["error"]["code"] == "invalid_batch"

        deadline = time.monotonic() + 120
        while (detail := http.get(f"/api/v1/runs/{run['id']}")).json()["status"] not in TERMINAL:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        check("/api/v1/runs/{run_id}", "GET", detail)
        result = check("/api/v1/runs/{run_id}/result", "GET", http.get(f"/api/v1/runs/{run['id']}/result")).json()
        (artifact,) = result["artifacts"]
        download = check("/api/v1/runs/{run_id}/artifacts/{name}", "GET", http.get(artifact["url"]))
        assert download.status_code == 200 and download.json()["order"] == 1
        check("/api/v1/runs/{run_id}/cancel", "POST", http.post(f"/api/v1/runs/{run['id']}/cancel"))
        page = check("/api/v1/runs", "GET", http.get("/api/v1/runs", params={"limit": 2})).json()
        check("/api/v1/runs", "GET", http.get(page["next"]))
        check("/api/v1/runs/{run_id}/result", "GET", http.get(f"/api/v1/runs/{batch.json()['results'][1]['run']['id']}/result"))

        steps = [{"name": "count", "atom": "text.stats", "args": {"text": "to be or not"}},
                 {"name": "again", "atom": "text.stats", "after": ["count"],
                  "args": {"text": {"$from": "count", "pointer": "/top_words/0/word"}}}]
        flow = check("/api/v1/workflows", "POST", http.post("/api/v1/workflows", json={"steps": steps})).json()
        deadline = time.monotonic() + 120
        while (shown := http.get(f"/api/v1/workflows/{flow['id']}")).json()["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert check("/api/v1/workflows/{workflow_id}", "GET", shown).json()["status"] == "succeeded"
        check("/api/v1/workflows", "GET", http.get("/api/v1/workflows", params={"limit": 1, "status": "succeeded"}))
        check("/api/v1/workflows/{workflow_id}/cancel", "POST", http.post(f"/api/v1/workflows/{flow['id']}/cancel"))
        check("/api/v1/workflows/{workflow_id}/retry", "POST", http.post(f"/api/v1/workflows/{flow['id']}/retry"))

        check("/api/v1/runs/{run_id}/events", "GET", http.get(f"/api/v1/runs/{run['id']}/events"))
        events = check("/api/v1/events", "GET", http.get("/api/v1/events", params={"run": run["id"]})).json()
        assert events["results"], events
        check("/api/v1/workflows/{workflow_id}/events", "GET", http.get(f"/api/v1/workflows/{flow['id']}/events"))
        check("/api/v1/events/stream-token", "POST", http.post("/api/v1/events/stream-token", json={"run": run["id"]}))
        # A webhook to a closed port of this machine: its deliveries fail and stay in the log.
        hook = check("/api/v1/webhooks", "POST", http.post(
            "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["run.*"]})).json()
        check("/api/v1/webhooks", "GET", http.get("/api/v1/webhooks"))
        check("/api/v1/webhooks/{endpoint_id}", "GET", http.get(f"/api/v1/webhooks/{hook['id']}"))
        check("/api/v1/webhooks/{endpoint_id}", "PATCH", http.patch(
            f"/api/v1/webhooks/{hook['id']}", json={"description": "contract test"}))
        check("/api/v1/webhooks/{endpoint_id}/rotate-secret", "POST", http.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret"))
        since = events["results"][0]["created_at"]
        replayed = check("/api/v1/webhooks/{endpoint_id}/replay", "POST", http.post(
            f"/api/v1/webhooks/{hook['id']}/replay", json={"since": since}))
        assert replayed.status_code == 202 and replayed.json()["deliveries"] >= 1, replayed.text
        deliveries = check("/api/v1/webhooks/{endpoint_id}/deliveries", "GET",
                           http.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()
        check("/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry", "POST", http.post(
            f"/api/v1/webhooks/{hook['id']}/deliveries/{deliveries['results'][0]['id']}/retry"))
        check("/api/v1/webhooks/{endpoint_id}", "DELETE", http.delete(f"/api/v1/webhooks/{hook['id']}"))
    operations = {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items() for method in item}
    assert {s.rsplit(" ", 1)[0] for s in seen} == operations  # every operation, with real data
