"""Per-tenant admission limits (docs/tenancy.md): quota and submit rate, over the API views with
the real PostgreSQL and the real Redis bucket. The live tests (two API processes, runs ending on
real workers) are in test_limits_live.py."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from atomfleet_orchestrator.observability.metrics import SUBMISSIONS_REJECTED
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.limits import limits_for, runs_in_use
from atomfleet_orchestrator.tenancy.models import Tenant, TenantLimits
from tests.support.live_api import free_port

pytestmark = pytest.mark.django_db

URL = "/api/v1/atoms/text.stats/runs"
BATCH = URL + "/batch"
WORKFLOWS = "/api/v1/workflows"
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


def _limit(tenant: Tenant, **values: Any) -> None:
    TenantLimits.objects.update_or_create(tenant=tenant, defaults=values)


def _error(response: Any, code: str) -> dict[str, Any]:
    assert response.status_code == 429, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return dict(body["error"])


def _rejected(tenant: Tenant, reason: str) -> float:
    return SUBMISSIONS_REJECTED.labels(tenant.slug, reason)._value.get()


def _items(n: int, prefix: str | None = None) -> list[dict[str, Any]]:
    return [{"args": {"text": f"t{i}"}, **({"idempotency_key": f"{prefix}-{i}"} if prefix else {})} for i in range(n)]


@pytest.fixture(autouse=True)
def _fresh_buckets(broker_redis: redis.Redis) -> None:
    # Tenant ids are new per test, but a reused test database can hand out an id again.
    for key in broker_redis.scan_iter("atomfleet:ratelimit:*"):
        broker_redis.delete(key)


def test_defaults_apply_until_a_tenant_has_its_own(tenant: Tenant, settings: Any) -> None:
    settings.ATOMFLEET_TENANT_QUOTA_RUNS = 123
    default = limits_for(tenant)
    assert (default.quota_runs, default.submit_burst) == (123, settings.ATOMFLEET_TENANT_SUBMIT_BURST)
    assert set(default.sources.values()) == {"default"}
    _limit(tenant, submit_rate=2.5)
    own = limits_for(tenant)
    assert own.submit_rate == 2.5 and {k for k, v in own.sources.items() if v == "tenant"} == {"submit_rate"}


def test_quota_refuses_a_single_submit_with_429_and_the_figures(api: APIClient, tenant: Tenant,
                                                                 django_capture_on_commit_callbacks: Any) -> None:
    _limit(tenant, quota_runs=2)
    before = _rejected(tenant, "quota_exceeded")
    assert [api.post(URL, {"args": {"text": "a"}}, format="json").status_code for _ in range(2)] == [202, 202]
    error = _error(api.post(URL, {"args": {"text": "a"}}, format="json"), "quota_exceeded")
    assert error["details"] == {"limit": 2, "in_use": 2, "requested": 1}
    assert AtomRun.objects.filter(tenant=tenant).count() == 2
    assert _rejected(tenant, "quota_exceeded") == before + 1


def test_a_batch_counts_its_items_and_is_refused_whole(api: APIClient, tenant: Tenant,
                                                        django_capture_on_commit_callbacks: Any) -> None:
    _limit(tenant, quota_runs=10)
    assert api.post(BATCH, {"items": _items(6)}, format="json").status_code == 202
    error = _error(api.post(BATCH, {"items": _items(5)}, format="json"), "quota_exceeded")
    assert error["details"] == {"limit": 10, "in_use": 6, "requested": 5}
    assert AtomRun.objects.filter(tenant=tenant).count() == 6  # none of the five
    assert api.post(BATCH, {"items": _items(4)}, format="json").status_code == 202


def test_a_replay_is_never_refused_and_counts_nothing(api: APIClient, tenant: Tenant,
                                                       django_capture_on_commit_callbacks: Any) -> None:
    _limit(tenant, quota_runs=3, submit_rate=0.001, submit_burst=3)
    first = api.post(BATCH, {"items": _items(3, "k")}, format="json")
    assert first.status_code == 202
    # Quota full and bucket empty: the same batch and each of its items again still answer.
    again = api.post(BATCH, {"items": _items(3, "k")}, format="json")
    assert again.status_code == 200 and all(not r["created"] for r in again.json()["results"])
    single = api.post(URL, _items(3, "k")[1], format="json")
    assert single.status_code == 200 and single.json()["id"] == first.json()["results"][1]["run"]["id"]
    # A batch mixing replays and one new item asks for one run: over the quota.
    mixed = _error(api.post(BATCH, {"items": _items(4, "k")}, format="json"), "quota_exceeded")
    assert mixed["details"]["requested"] == 1


def test_rate_limit_answers_429_with_retry_after_and_ratelimit_headers(
    api: APIClient, tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    _limit(tenant, submit_rate=0.5, submit_burst=3)
    before = _rejected(tenant, "rate_limited")
    ok = api.post(BATCH, {"items": _items(2)}, format="json")
    assert ok.status_code == 202
    assert (ok["RateLimit-Limit"], ok["RateLimit-Remaining"], ok["RateLimit-Policy"]) == ("3", "1", "3;w=6")
    assert 1 <= int(ok["RateLimit-Reset"]) <= 4  # two tokens at 0.5/s
    refused = api.post(BATCH, {"items": _items(2)}, format="json")
    error = _error(refused, "rate_limited")
    assert error["details"]["requested"] == 2 and error["details"]["burst"] == 3
    assert int(refused["Retry-After"]) == error["details"]["retry_after"] and 1 <= int(refused["Retry-After"]) <= 2
    assert all(h in refused for h in RATE_HEADERS) and refused["RateLimit-Remaining"] == "1"
    assert AtomRun.objects.filter(tenant=tenant).count() == 2
    assert _rejected(tenant, "rate_limited") == before + 1
    # The remaining token admits a single run.
    single = api.post(URL, {"args": {"text": "x"}}, format="json")
    assert single.status_code == 202 and single["RateLimit-Remaining"] == "0"


def test_a_batch_above_the_burst_is_admitted_from_a_full_bucket_then_waits(
    api: APIClient, tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    _limit(tenant, submit_rate=10, submit_burst=5)
    big = api.post(BATCH, {"items": _items(8)}, format="json")
    assert big.status_code == 202 and big["RateLimit-Remaining"] == "0"
    refused = _error(api.post(URL, {"args": {"text": "x"}}, format="json"), "rate_limited")
    assert refused["details"]["retry_after"] == 1  # 3 tokens of debt + 1 at 10/s: 0.4 s
    time.sleep(0.5)
    assert api.post(URL, {"args": {"text": "x"}}, format="json").status_code == 202


def test_a_workflow_counts_its_steps(api: APIClient, tenant: Tenant, django_capture_on_commit_callbacks: Any) -> None:
    _limit(tenant, quota_runs=4)
    steps = [{"name": "a", "atom": "text.stats", "args": {"text": "x"}},
             {"name": "b", "atom": "text.stats", "args": {"text": "y"}, "after": ["a"]},
             {"name": "c", "atom": "text.stats", "args": {"text": "z"}, "after": ["b"]}]
    assert api.post(WORKFLOWS, {"steps": steps}, format="json").status_code == 202
    # One run released (a) and two steps waiting on it: three accepted runs not finished.
    assert runs_in_use(tenant.pk) == 3
    error = _error(api.post(WORKFLOWS, {"steps": steps[:2]}, format="json"), "quota_exceeded")
    assert error["details"] == {"limit": 4, "in_use": 3, "requested": 2}
    assert api.post(WORKFLOWS, {"steps": steps[:1]}, format="json").status_code == 202


def test_rate_limiter_down_admits_submits(api: APIClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
                                          django_capture_on_commit_callbacks: Any) -> None:
    """Redis down (nothing listens at the broker's address): the submit is accepted, its run
    waits in the outbox, without rate headers; the failure is counted; then Redis is skipped."""
    from atomfleet_orchestrator.celery import app
    from atomfleet_orchestrator.observability.metrics import _rate_limiter_errors

    _limit(tenant, submit_rate=0.001, submit_burst=1)
    assert api.post(URL, {"args": {"text": "a"}}, format="json").status_code == 202
    assert _error(api.post(URL, {"args": {"text": "a"}}, format="json"), "rate_limited")
    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/10")
    errors = _rate_limiter_errors()._value.get()
    started = time.monotonic()
    answers = [api.post(URL, {"args": {"text": "b"}}, format="json") for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert not any("RateLimit-Limit" in a for a in answers)
    assert _rate_limiter_errors()._value.get() == errors + 3
    assert time.monotonic() - started < 10
    assert AtomRun.objects.filter(tenant=tenant).count() == 4


_FILL = """
INSERT INTO runs_atomrun (id, tenant_id, created_by, atom, queue, args, status, progress, progress_message,
  result_artifact, artifacts, error_code, error_message, attempts, max_attempts, celery_task_id, dispatch_count,
  cancel_requested, worker)
SELECT gen_random_uuid(), %s, 'fill', 'text.stats', 'default', '{}', %s, 0, '', '', '[]', '', '', 0, 1,
  gen_random_uuid()::text, 0, false, ''
FROM generate_series(1, %s)
"""


def test_the_quota_count_at_50k_active_runs_is_an_index_range(tenant: Tenant) -> None:
    """50,000 active runs and 50,000 finished ones of the tenant: the count reads only the active
    entries of the partial index ``run_tenant_active`` (printed: its time)."""
    with connection.cursor() as cursor:
        for status, count in (("queued", 40_000), ("running", 10_000), ("succeeded", 50_000)):
            cursor.execute(_FILL, [tenant.pk, status, count])
        cursor.execute("ANALYZE runs_atomrun")
        cursor.execute("EXPLAIN SELECT count(*) FROM runs_atomrun WHERE tenant_id = %s "
                       "AND status IN ('queued', 'running', 'retrying')", [tenant.pk])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "run_tenant_active" in plan and "Seq Scan" not in plan, plan
    with CaptureQueriesContext(connection) as queries:
        assert runs_in_use(tenant.pk) == 50_000
    assert len(queries) == 1
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        runs_in_use(tenant.pk)
        timings.append(time.perf_counter() - started)
    median = sorted(timings)[2]
    print(f"runs_in_use at 50,000 active runs: median {median * 1000:.1f} ms of 5")
    assert median < 0.5  # a bound for a shared CI machine; typically a few ms


def test_manage_commands_set_and_show_the_limits(tenant: Tenant, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("set_tenant_limits", tenant.slug, "--quota", "7", "--rate", "2.5")
    out = capsys.readouterr().out
    assert "quota      7 accepted runs not yet finished (tenant)" in out
    assert "rate       2.5 runs/s (tenant)" in out and "(default)" in out
    call_command("set_tenant_limits", tenant.slug, "--reset", "--burst", "9", "--weight", "3", "--max-running-per-queue", "4")
    assert limits_for(tenant).sources == {"quota_runs": "default", "submit_rate": "default", "submit_burst": "tenant",
                                          "weight": "tenant", "max_running": "default", "max_running_per_queue": "tenant"}
    capsys.readouterr()
    call_command("show_tenant", tenant.slug)
    shown = capsys.readouterr().out
    assert f"tenant     {tenant.slug}" in shown and "burst      9 runs (tenant)" in shown and "in use     0 of" in shown
    assert "weight     3 (tenant)" in shown and "running    at most 2000 (default), 4 per queue (tenant)" in shown
    with pytest.raises(CommandError, match="--max-running-per-queue"):
        call_command("set_tenant_limits", tenant.slug)
    call_command("set_tenant_limits", tenant.slug, "--reset")
    assert not TenantLimits.objects.filter(tenant=tenant).exists()
