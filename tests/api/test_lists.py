"""``GET /api/v1/runs``: cursor pages (no count), filters, strict parameters, indexed plans."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.models import AtomRun, RunStatus
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = pytest.mark.django_db


def _run(tenant: Tenant, **fields: Any) -> AtomRun:
    defaults: dict[str, Any] = {"atom": "text.stats", "queue": "default", "args": {"text": "x"}, "created_by": "t"}
    return AtomRun.objects.create(tenant=tenant, **{**defaults, **fields})


def _ids(page: dict[str, Any]) -> list[str]:
    return [run["id"] for run in page["results"]]


def _walk(api: APIClient, url: str, params: dict[str, Any]) -> list[str]:
    """Every run id, following ``next`` links from the first page."""
    seen: list[str] = []
    page = api.get(url, params).json()
    while True:
        seen += _ids(page)
        if not page["next"]:
            return seen
        page = api.get(page["next"]).json()


def test_pages_have_no_count_and_walk_every_run_once_newest_first(api: APIClient, tenant: Tenant) -> None:
    runs = [_run(tenant) for _ in range(5)]
    first = api.get("/api/v1/runs", {"limit": 2}).json()
    assert set(first) == {"next", "previous", "results"}
    assert first["previous"] is None and len(first["results"]) == 2
    assert _walk(api, "/api/v1/runs", {"limit": 2}) == [str(r.id) for r in reversed(runs)]


def test_previous_link_returns_the_page_before(api: APIClient, tenant: Tenant) -> None:
    for _ in range(5):
        _run(tenant)
    first = api.get("/api/v1/runs", {"limit": 2}).json()
    second = api.get(first["next"]).json()
    assert _ids(api.get(second["previous"]).json()) == _ids(first)


def test_runs_created_while_paging_do_not_shift_later_pages(api: APIClient, tenant: Tenant) -> None:
    older = [_run(tenant) for _ in range(4)]
    first = api.get("/api/v1/runs", {"limit": 2}).json()
    _run(tenant)  # newer than everything listed so far
    second = api.get(first["next"]).json()
    assert _ids(first) + _ids(second) == [str(r.id) for r in reversed(older)]
    assert second["next"] is None


def test_runs_with_the_same_creation_time_are_each_listed_once(api: APIClient, tenant: Tenant) -> None:
    runs = [_run(tenant) for _ in range(5)]
    AtomRun.objects.filter(id__in=[r.id for r in runs]).update(created_at=timezone.now())
    seen = _walk(api, "/api/v1/runs", {"limit": 2})
    assert sorted(seen) == sorted(str(r.id) for r in runs)
    assert seen == sorted(seen, reverse=True)  # ties ordered by id, descending


def test_filters_combine_and_keep_their_values_in_the_links(api: APIClient, tenant: Tenant) -> None:
    for _ in range(3):
        _run(tenant)
    failed = [_run(tenant, atom="forecast.autoregressive", queue="ml_training", status=RunStatus.FAILED) for _ in range(3)]
    _run(tenant, atom="forecast.autoregressive", queue="ml_training", status=RunStatus.SUCCEEDED)
    assert len(_walk(api, "/api/v1/runs", {"queue": "ml_training"})) == 4
    assert len(_walk(api, "/api/v1/runs", {"atom": "text.stats"})) == 3
    page = api.get("/api/v1/runs", {"status": "failed", "atom": "forecast.autoregressive", "limit": 2}).json()
    assert parse_qs(urlsplit(page["next"]).query)["status"] == ["failed"]
    assert _walk(api, "/api/v1/runs", {"status": "failed", "limit": 2}) == [str(r.id) for r in reversed(failed)]
    assert api.get("/api/v1/runs", {"queue": "nope"}).json()["results"] == []
    # Found by schemathesis: NUL cannot be stored in PostgreSQL text, so no run has it (not a 500).
    assert api.get("/api/v1/runs", {"atom": "text\x00stats"}).json()["results"] == []


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"status": "done"}, "status"),
        ({"status": ""}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not base64!"}, "cursor"),
        # Well-formed base64 carrying a position that is not a timestamp: refused before SQL.
        ({"cursor": base64.b64encode(b"p=yesterday").decode()}, "cursor"),
        ({"cursor": base64.b64encode(b"o=-1").decode()}, "cursor"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api: APIClient, params: dict[str, str], parameter: str) -> None:
    response = api.get("/api/v1/runs", params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["details"]["parameter"] == parameter


def test_a_page_is_one_query_without_count(api: APIClient, tenant: Tenant) -> None:
    for _ in range(3):
        _run(tenant)
    api.get("/api/v1/runs")  # authenticates once: the token lookup is then cached
    with CaptureQueriesContext(connection) as queries:
        page = api.get("/api/v1/runs", {"limit": 2, "status": "queued"}).json()
        api.get(page["next"])
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 2, sql
    assert not any("COUNT(" in q.upper() for q in sql), sql


_SEED = """
INSERT INTO runs_atomrun (id, tenant_id, created_by, atom, queue, args, status, progress,
    progress_message, result_artifact, artifacts, error_code, error_message, attempts,
    max_attempts, celery_task_id, dispatch_count, cancel_requested, worker, created_at)
SELECT gen_random_uuid(), %s, 'seed',
    (ARRAY['text.stats', 'data.validate_csv', 'forecast.autoregressive'])[1 + i %% 3],
    (ARRAY['default', 'io_bound', 'ml_training'])[1 + i %% 3],
    '{}'::jsonb,
    (ARRAY['succeeded', 'succeeded', 'succeeded', 'succeeded', 'failed', 'cancelled', 'queued'])[1 + i %% 7],
    0, '', '', '[]'::jsonb, '', '', 1, 1, gen_random_uuid()::text, 0, false, '',
    now() - make_interval(secs => i)
FROM generate_series(1, %s) AS i
"""


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _plan_nodes(child))]


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({}, "run_tenant_created_id"),
        ({"status": "failed"}, "run_tenant_status_created"),
        ({"atom": "data.validate_csv"}, "run_tenant_atom_created"),
        ({"queue": "ml_training"}, "run_tenant_queue_created"),
    ],
)
def test_every_list_query_is_an_index_range_scan_without_sort(
    api: APIClient, tenant: Tenant, other_api: APIClient, params: dict[str, str], index: str
) -> None:
    """The query plan, not a timing: with the table seeded, each page (first and next) reads its
    composite index in order, with no sort, no count and no scan of the other tenants' rows."""
    other = Tenant.objects.get(slug="globex")
    with connection.cursor() as cursor:
        cursor.execute(_SEED, [tenant.id, 20_000])
        cursor.execute(_SEED, [other.id, 20_000])
        cursor.execute("ANALYZE runs_atomrun")
    first = api.get("/api/v1/runs", {**params, "limit": 50}).json()
    with CaptureQueriesContext(connection) as queries:
        api.get(first["next"])
    (select,) = [q["sql"] for q in queries.captured_queries if "runs_atomrun" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {select}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes = _plan_nodes(plan[0]["Plan"])
    kinds = [node["Node Type"] for node in nodes]
    assert "Sort" not in kinds and "Aggregate" not in kinds and "Seq Scan" not in kinds, kinds
    assert any(node.get("Index Name") == index for node in nodes), nodes


def test_runs_of_the_past_day_list_in_order(api: APIClient, tenant: Tenant) -> None:
    """Older rows (created_at set in the past) interleave by time, not by insertion order."""
    late = _run(tenant)
    early = _run(tenant)
    AtomRun.objects.filter(id=early.id).update(created_at=timezone.now() - timedelta(days=1))
    assert _ids(api.get("/api/v1/runs").json()) == [str(late.id), str(early.id)]


def _walk_back(api: APIClient, page: dict[str, Any]) -> list[str]:
    """Every run id from ``page`` back to the first page, following ``previous`` links."""
    seen = _ids(page)
    while page["previous"]:
        page = api.get(page["previous"]).json()
        seen = _ids(page) + seen
    return seen


def _same_instant(tenant: Tenant, count: int) -> list[str]:
    """``count`` runs sharing one ``created_at`` (a batch, a bulk import), newest-first order."""
    runs = AtomRun.objects.bulk_create(
        AtomRun(tenant=tenant, atom="text.stats", queue="default", args={"text": "x"}, created_by="t")
        for _ in range(count)
    )
    AtomRun.objects.filter(tenant=tenant).update(created_at=timezone.now())
    return sorted((str(r.id) for r in runs), key=uuid.UUID, reverse=True)


def test_previous_links_walk_back_every_run_sharing_a_timestamp(api: APIClient, tenant: Tenant) -> None:
    expected = _same_instant(tenant, 130)
    forward = _walk(api, "/api/v1/runs", {"limit": 20})
    assert forward == expected
    last = api.get("/api/v1/runs", {"limit": 20}).json()
    while last["next"]:
        last = api.get(last["next"]).json()
    backward = _walk_back(api, last)
    assert len(backward) == 130 and backward == expected


def test_more_than_a_thousand_runs_sharing_a_timestamp_page_forward(api: APIClient, tenant: Tenant) -> None:
    expected = _same_instant(tenant, 1600)
    pages = []
    page = api.get("/api/v1/runs", {"limit": 500})
    while True:
        assert page.status_code == 200, page.content
        body = page.json()
        pages.append(_ids(body))
        if not body["next"] or len(pages) > 4:  # DRF's capped offset repeated one page forever
            break
        page = api.get(body["next"])
    assert [len(p) for p in pages] == [500, 500, 500, 100]
    assert [i for p in pages for i in p] == expected
