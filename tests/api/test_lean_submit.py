"""The lean submit path (runs/api/lean.py): the same answers as the DRF view, with less of the stack.

Well-formed submits are answered by the plain Django view; everything else by the DRF view, so
its errors are DRF's by construction. The answer's body is ``answers.run_answer``, which must
equal ``RunSerializer``'s output for any run.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any
from unittest import mock

import pytest
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.api import lean
from atomfleet_orchestrator.runs.api.answers import render, run_answer
from atomfleet_orchestrator.runs.api.serializers import RunSerializer
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = pytest.mark.django_db

URL = "/api/v1/atoms/text.stats/runs"


def _serialized(run: AtomRun) -> dict[str, Any]:
    request = RequestFactory().get("/", HTTP_HOST="testserver")
    return json.loads(json.dumps(RunSerializer(run, context={"request": request}).data))


def _lean(run: AtomRun) -> dict[str, Any]:
    request = RequestFactory().get("/", HTTP_HOST="testserver")
    return json.loads(render(run_answer(run, request)))


def _no_drf() -> Any:
    """The DRF view must not answer (the lean path took the request)."""
    return mock.patch.object(lean.views, "submit", side_effect=AssertionError("the DRF view answered"))


def test_a_lean_answer_is_the_serializers_for_a_new_run(api: APIClient) -> None:
    with _no_drf():
        response = api.post(URL, {"args": {"text": "a b a"}, "idempotency_key": "k-1", "priority": 7}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    run = AtomRun.objects.get(id=body["id"])
    assert body == _serialized(run)
    assert list(body) == list(RunSerializer.Meta.fields)  # the same order too
    assert response["Location"] == body["url"] and response["Content-Type"] == "application/json"
    assert response["Vary"] == "Accept" and response["Allow"] == "POST, OPTIONS"


def test_a_lean_answer_is_the_serializers_for_runs_in_every_state(api: APIClient, tenant: Tenant) -> None:
    body = api.post(URL, {"args": {"text": "x \u2028 é"}}, format="json").json()
    run = AtomRun.objects.get(id=body["id"])
    assert _lean(run) == _serialized(run)
    now = timezone.now()
    AtomRun.objects.filter(id=run.id).update(
        status="failed", attempts=2, max_attempts=3, error_code="atom_error", error_message="boom",
        progress=0.5, progress_message="half", worker="w@h", cancel_requested=True,
        next_attempt_at=now + datetime.timedelta(seconds=30), started_at=now, finished_at=now,
        heartbeat_at=now.astimezone(datetime.timezone(datetime.timedelta(hours=2))), step="s1",
    )
    run.refresh_from_db()
    assert _lean(run) == _serialized(run)
    run.workflow_id = uuid.uuid4()  # not saved: only the answer's format is compared
    run.idempotency_key = None
    assert _lean(run) == _serialized(run)


def test_a_replay_is_answered_200_by_the_lean_path(api: APIClient) -> None:
    with _no_drf():
        first = api.post(URL, {"args": {"text": "r"}, "idempotency_key": "same"}, format="json")
        again = api.post(URL, {"args": {"text": "r"}, "idempotency_key": "same"}, format="json")
        conflict = api.post(URL, {"args": {"text": "other"}, "idempotency_key": "same"}, format="json")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    assert conflict.json()["error"]["details"] == {"run_id": first.json()["id"]}


def test_service_errors_keep_the_shared_body_on_the_lean_path(api: APIClient) -> None:
    with _no_drf():
        unknown = api.post("/api/v1/atoms/no.such/runs", {"args": {}}, format="json")
        invalid = api.post(URL, {"args": {"text": 3}}, format="json")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_atom"
    assert set(unknown.json()["error"]) == {"code", "message", "details"}
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "invalid_args"


@pytest.mark.parametrize("body, status, code", [
    ('{"args": {"text": "x"}, "priority": "7"}', 202, None),  # DRF's IntegerField takes "7"
    ('{"args": {"text": "x"}, "idempotency_key": 12}', 202, None),  # and its CharField 12
    ('{"args": {"text": NaN}}', 400, "malformed_json"),
    ('{"args": {"text": "\\ud800"}}', 400, "malformed_json"),
    ('{"args": {"text": "a\\u0000"}}', 400, "invalid_request"),
    ('{"args": {"text": "x"}, "extra": 1}', 400, "invalid_request"),
    ('{"args": {"text": "x"}, "idempotency_key": "a\\u0001"}', 400, "invalid_request"),
    ('{"args": {"text": "x"}, "idempotency_key": ""}', 400, "invalid_request"),
    ('{"args": {"text": "x"}, "priority": 10}', 400, "invalid_request"),
    ('{"args": null}', 400, "invalid_request"),
    ('[1]', 400, "invalid_request"),
    ('{"args": ', 400, "malformed_json"),
])
def test_what_the_lean_path_does_not_take_the_drf_view_answers(api: APIClient, body: str, status: int, code: str | None) -> None:
    with mock.patch.object(lean.views, "submit", wraps=lean.views.submit) as drf:
        response = api.post(URL, body, content_type="application/json")
    assert drf.called
    assert response.status_code == status, response.content
    if code is not None:
        assert response.json()["error"]["code"] == code


def test_other_content_types_tokens_and_accepts_go_to_the_drf_view(api: APIClient, tenant_and_token: tuple[Tenant, str]) -> None:
    assert api.post(URL, "args=1", content_type="text/plain").status_code == 415
    assert api.post(URL, {"args": {"text": "x"}}, format="json", HTTP_ACCEPT="text/html").status_code == 406
    assert api.get(URL).status_code == 405
    anonymous = APIClient().post(URL, {"args": {"text": "x"}}, format="json")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer nope")
    assert bad.post(URL, {"args": {"text": "x"}}, format="json").status_code == 401


@pytest.mark.parametrize("where", ["submit_run", "authenticate"])
def test_a_database_that_is_down_is_503_with_retry_after_on_the_lean_path(api: APIClient, where: str) -> None:
    from django.db import OperationalError

    target = (mock.patch.object(lean, "submit_run", side_effect=OperationalError("down")) if where == "submit_run"
              else mock.patch.object(lean._AUTH, "authenticate", side_effect=OperationalError("down")))
    with target, _no_drf():
        response = api.post(URL, {"args": {"text": "x"}}, format="json")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json() == {"error": {"code": "database_unavailable",
                                         "message": "the database is unavailable; retry later", "details": None}}


def test_a_rate_limited_submit_is_429_with_ratelimit_headers_on_the_lean_path(api: APIClient, tenant: Tenant) -> None:
    from atomfleet_orchestrator.tenancy.models import TenantLimits

    TenantLimits.objects.create(tenant=tenant, submit_rate=0.001, submit_burst=1)
    with _no_drf():
        first = api.post(URL, {"args": {"text": "x"}}, format="json")
        second = api.post(URL, {"args": {"text": "y"}}, format="json")
    assert first.status_code == 202 and "RateLimit-Limit" in first
    assert second.status_code == 429 and second.json()["error"]["code"] == "rate_limited"
    assert int(second["Retry-After"]) > 0 and "RateLimit-Remaining" in second
