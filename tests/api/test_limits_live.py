"""Tenant limits over the real API (gunicorn, 2 workers each): the submit rate holds across two
API processes sharing Redis and PostgreSQL, and the quota comes back as runs end on real workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from atomfleet_orchestrator.tenancy.models import TenantLimits
from tests.support.live_api import ApiServer, LiveTenant
from tests.support.workers import WorkerFleet

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = "/api/v1/atoms/text.stats/runs/batch"
SINGLE = "/api/v1/atoms/text.stats/runs"


def _items(n: int, tag: str) -> dict[str, object]:
    return {"items": [{"args": {"text": f"{tag} {i}"}} for i in range(n)]}


@pytest.fixture
def second_api(live_api: ApiServer, tmp_path: Path) -> Iterator[ApiServer]:
    server = ApiServer(tmp_path)  # same database, same Redis, another port and process tree
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_submit_rate_holds_across_two_api_processes(
    live_api: ApiServer, second_api: ApiServer, live_tenant: LiveTenant
) -> None:
    # 0.2 runs/s: the bucket gains no whole token during the test.
    TenantLimits.objects.create(tenant=live_tenant.tenant, submit_rate=0.2, submit_burst=10)
    headers = {"Authorization": f"Bearer {live_tenant.token}"}
    answers = []
    for server in (live_api, second_api, live_api, second_api):
        answers.append(httpx.post(server.url + BATCH, json=_items(4, server.url), headers=headers, timeout=30))
    assert [a.status_code for a in answers] == [202, 202, 429, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["6", "2", "2", "2"]
    refused = answers[3].json()["error"]
    assert refused["code"] == "rate_limited" and refused["details"]["requested"] == 4
    assert int(answers[3].headers["Retry-After"]) == refused["details"]["retry_after"] >= 5  # 2 tokens at 0.2/s
    assert answers[0].headers["RateLimit-Limit"] == "10" and answers[0].headers["RateLimit-Policy"] == "10;w=50"
    # The two tokens left admit two single runs, one on each process, and then nothing.
    singles = [httpx.post(s.url + SINGLE, json={"args": {"text": "x"}}, headers=headers, timeout=30)
               for s in (live_api, second_api, live_api)]
    assert [s.status_code for s in singles] == [202, 202, 429]
    assert live_tenant.tenant.runs.count() == 10
    # Each process counts its own refusals, under the tenant's label.
    series = f'atomfleet_submissions_rejected_total{{reason="rate_limited",tenant="{live_tenant.tenant.slug}"}}'
    counted = 0.0
    for server in (live_api, second_api):
        for line in httpx.get(server.metrics_url, timeout=10).text.splitlines():
            if line.startswith(series):
                counted += float(line.split()[-1])
    assert counted == 3


def test_the_quota_comes_back_as_runs_end(
    live_api: ApiServer, live_tenant: LiveTenant, worker_fleet: WorkerFleet
) -> None:
    TenantLimits.objects.create(tenant=live_tenant.tenant, quota_runs=3)
    headers = {"Authorization": f"Bearer {live_tenant.token}"}
    sleeps = {"items": [{"args": {"seconds": 2, "steps": 2}}] * 3}
    first = httpx.post(live_api.url + "/api/v1/atoms/diagnostics.sleep/runs/batch", json=sleeps, headers=headers,
                       timeout=30)
    assert first.status_code == 202
    over = httpx.post(live_api.url + SINGLE, json={"args": {"text": "over"}}, headers=headers, timeout=30)
    assert over.status_code == 429 and over.json()["error"]["code"] == "quota_exceeded"
    assert over.json()["error"]["details"]["requested"] == 1
    deadline = time.monotonic() + 60
    while live_tenant.tenant.runs.exclude(status__in=("succeeded", "failed", "cancelled")).exists():
        assert time.monotonic() < deadline, "the runs did not end in 60 s"
        time.sleep(0.2)
    again = httpx.post(live_api.url + BATCH, json=_items(3, "again"), headers=headers, timeout=30)
    assert again.status_code == 202, again.text
