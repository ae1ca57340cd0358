"""``POST /api/v1/atoms/{name}/runs/batch``: all or nothing, per-item errors and idempotency."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = pytest.mark.django_db

URL = "/api/v1/atoms/text.stats/runs/batch"


def _items(*texts: str, key: str | None = None) -> list[dict[str, Any]]:
    return [{"args": {"text": t}, **({"idempotency_key": f"{key}-{i}"} if key else {})} for i, t in enumerate(texts)]


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return dict(body["error"])


def test_batch_creates_every_run_in_order_and_publishes_them_after_commit(
    api: APIClient, tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(URL, {"items": _items("a", "b", "c")}, format="json")
    assert response.status_code == 202, response.content
    results = response.json()["results"]
    assert [r["created"] for r in results] == [True, True, True]
    assert [r["run"]["args"]["text"] for r in results] == ["a", "b", "c"]
    assert AtomRun.objects.filter(tenant=tenant).count() == 3
    assert len(callbacks) >= 3  # one publish per run (plus the submission counters)


def test_one_bad_item_rejects_the_whole_batch_naming_every_bad_item(api: APIClient) -> None:
    items = [{"args": {"text": "ok"}}, {"args": {"txt": "x"}}, {"args": {"text": "ok too"}}, {"args": {"text": 5}}]
    error = _error(api.post(URL, {"items": items}, format="json"), 400, "invalid_batch")
    refused = error["details"]["errors"]
    assert [e["index"] for e in refused] == [1, 3]
    assert {e["code"] for e in refused} == {"invalid_args"}
    assert refused[0]["details"]["problems"]
    assert AtomRun.objects.count() == 0  # nothing of the batch exists


def test_item_shape_errors_are_400_by_index(api: APIClient) -> None:
    error = _error(api.post(URL, {"items": [{"args": {"text": "a"}}, {"args": None}, {"arg": {}}]}, format="json"),
                   400, "invalid_request")
    assert set(error["details"]["items"]) == {"1", "2"}
    assert AtomRun.objects.count() == 0


@pytest.mark.parametrize("body", [{}, {"items": []}, {"items": {"args": {}}}, [], {"items": [], "extra": 1}])
def test_batch_envelope_errors_are_400(api: APIClient, body: Any) -> None:
    _error(api.post(URL, body, format="json"), 400, "invalid_request")


@override_settings(ATOMFLEET_BATCH_MAX_ITEMS=3)
def test_more_items_than_the_limit_is_413_with_the_limit(api: APIClient) -> None:
    error = _error(api.post(URL, {"items": _items("a", "b", "c", "d")}, format="json"), 413, "batch_too_large")
    assert error["details"] == {"limit": 3, "items": 4}
    assert api.post(URL, {"items": _items("a", "b", "c")}, format="json").status_code == 202


def test_unknown_atom_is_404_for_the_whole_batch(api: APIClient) -> None:
    _error(api.post("/api/v1/atoms/no.such/runs/batch", {"items": _items("a")}, format="json"), 404, "unknown_atom")


def test_a_repeated_batch_with_keys_returns_the_same_runs(api: APIClient, django_capture_on_commit_callbacks: Any) -> None:
    body = {"items": _items("a", "b", key="job")}
    first = api.post(URL, body, format="json")
    again = api.post(URL, body, format="json")
    assert first.status_code == 202 and again.status_code == 200
    assert [r["created"] for r in again.json()["results"]] == [False, False]
    assert [r["run"]["id"] for r in again.json()["results"]] == [r["run"]["id"] for r in first.json()["results"]]
    assert AtomRun.objects.count() == 2


def test_keys_are_per_item_new_items_are_created_beside_replays(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    single = api.post("/api/v1/atoms/text.stats/runs", {"args": {"text": "a"}, "idempotency_key": "k1"}, format="json")
    response = api.post(URL, {"items": [
        {"args": {"text": "a"}, "idempotency_key": "k1"},
        {"args": {"text": "b"}, "idempotency_key": "k2"},
        {"args": {"text": "c"}},
    ]}, format="json")
    assert response.status_code == 202
    results = response.json()["results"]
    assert [r["created"] for r in results] == [False, True, True]
    assert results[0]["run"]["id"] == single.json()["id"]


def test_the_same_key_twice_in_one_batch_is_one_run(api: APIClient, django_capture_on_commit_callbacks: Any) -> None:
    item = {"args": {"text": "a"}, "idempotency_key": "dup"}
    results = api.post(URL, {"items": [item, item]}, format="json").json()["results"]
    assert [r["created"] for r in results] == [True, False]
    assert results[0]["run"]["id"] == results[1]["run"]["id"]
    assert AtomRun.objects.count() == 1


def test_a_key_reused_with_other_args_refuses_the_batch(api: APIClient, django_capture_on_commit_callbacks: Any) -> None:
    api.post("/api/v1/atoms/text.stats/runs", {"args": {"text": "a"}, "idempotency_key": "k"}, format="json")
    error = _error(api.post(URL, {"items": [
        {"args": {"text": "new"}},
        {"args": {"text": "other"}, "idempotency_key": "k"},
    ]}, format="json"), 400, "invalid_batch")
    assert error["details"]["errors"] == [{
        "index": 1, "code": "idempotency_conflict", "message": error["details"]["errors"][0]["message"],
        "details": {"run_id": str(AtomRun.objects.get(idempotency_key="k").id)},
    }]
    assert AtomRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_sharing_keys_create_each_run_once(tenant_and_token: tuple[Tenant, str]) -> None:
    """Two requests race with overlapping keys: both succeed and agree on every run."""
    _, raw = tenant_and_token
    body = {"items": _items(*"abcdefgh", key="race")}
    answers: list[Any] = []

    def post() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        try:
            answers.append(client.post(URL, body, format="json"))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The loser waits on the first key's unique index, then finds every run committed.
    assert sorted(a.status_code for a in answers) == [200, 202]
    ids = [[r["run"]["id"] for r in a.json()["results"]] for a in answers]
    assert ids[0] == ids[1]
    assert AtomRun.objects.count() == 8


@pytest.mark.django_db(transaction=True)
def test_batches_sharing_keys_in_opposite_orders_do_not_deadlock(tenant_and_token: tuple[Tenant, str]) -> None:
    """Each batch inserts its keys in one canonical order, whatever the request's order: the two
    wait on each other's first shared key instead of each holding one the other needs."""
    _, raw = tenant_and_token
    items = _items(*(f"t{i}" for i in range(60)), key="swap")
    bodies = [{"items": items}, {"items": list(reversed(items))}]
    answers: list[Any] = [None, None]
    start = threading.Barrier(2)

    def post(which: int, body: dict[str, Any]) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        try:
            client.get("/api/v1/atoms")  # authenticate and warm up before the race
            start.wait(10)
            answers[which] = client.post(URL, body, format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=pair) for pair in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 202], [a.content[:300] for a in answers]
    by_text = [{r["run"]["args"]["text"]: r["run"]["id"] for r in a.json()["results"]} for a in answers]
    assert by_text[0] == by_text[1] and len(by_text[0]) == 60
    # Each answer lists its runs in its own request's order
    for answer, body in zip(answers, bodies, strict=True):
        assert [r["run"]["args"]["text"] for r in answer.json()["results"]] == [i["args"]["text"] for i in body["items"]]
    assert AtomRun.objects.count() == 60
