"""Text PostgreSQL cannot store, or UTF-8 cannot encode, is the client's error: 400, never 500.

A NUL (U+0000) may arrive in the path (``/atoms/te%00xt/runs``) or in any JSON string; a lone
surrogate (``"\\ud800"``) only in JSON, whose escapes can spell one. Every path and every JSON body
the API reads is tried here.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.models import AtomRun

pytestmark = pytest.mark.django_db

LONE_SURROGATE = "\ud800"


def _error(response: Any, code: str) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return dict(body["error"])


def _post_json(api: APIClient, path: str, body: Any) -> Any:
    # json.dumps writes a lone surrogate as the escape "\ud800": what a client's JSON may hold.
    return api.generic("POST", path, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("path", [
    "/api/v1/atoms/te%00xt/runs",
    "/api/v1/atoms/te%00xt/runs/batch",
    f"/api/v1/runs/{uuid.uuid4()}/artifacts/a%00b",
    "/api/v1/atoms%00",
])
def test_a_nul_in_the_path_is_400(api: APIClient, path: str) -> None:
    body = {"items": [{"args": {"text": "x"}}]} if path.endswith("batch") else {"args": {"text": "x"}}
    call = api.get if "artifacts" in path or path.startswith("/api/v1/atoms%") else api.post
    response = call(path, body, format="json") if call == api.post else call(path)
    error = _error(response, "invalid_path")
    assert "U+0000" in error["message"]
    assert AtomRun.objects.count() == 0


@pytest.mark.parametrize(("body", "where"), [
    ({"args": {"text": LONE_SURROGATE}}, "$.args.text"),
    ({"args": {"text": "ok", LONE_SURROGATE: 1}}, "$.args"),
    ({"args": {"text": ["a", f"b{LONE_SURROGATE}c"]}}, "$.args.text[1]"),
    ({"args": {"text": "ok"}, "idempotency_key": f"k{LONE_SURROGATE}"}, "$.idempotency_key"),
])
def test_a_lone_surrogate_in_a_submitted_string_is_400(api: APIClient, body: dict[str, Any], where: str) -> None:
    error = _error(_post_json(api, "/api/v1/atoms/text.stats/runs", body), "malformed_json")
    assert "surrogate" in error["message"] and where in error["message"], error
    assert AtomRun.objects.count() == 0


def test_a_lone_surrogate_in_a_batch_item_is_400(api: APIClient) -> None:
    items = [{"args": {"text": "fine"}}, {"args": {"text": LONE_SURROGATE}}]
    error = _error(_post_json(api, "/api/v1/atoms/text.stats/runs/batch", {"items": items}), "malformed_json")
    assert "$.items[1].args.text" in error["message"]
    assert AtomRun.objects.count() == 0


def test_a_nul_in_an_idempotency_key_or_argument_is_400(api: APIClient) -> None:
    _error(_post_json(api, "/api/v1/atoms/text.stats/runs", {"args": {"text": "a\x00b"}}), "invalid_request")
    _error(_post_json(api, "/api/v1/atoms/text.stats/runs", {"args": {"text": "x"}, "idempotency_key": "a\x00"}),
           "invalid_request")
    assert AtomRun.objects.count() == 0


@pytest.mark.parametrize("name", [b"a\x00b.txt", b"a\xed\xa0\x80.txt", b"\xff.txt"])
def test_an_upload_named_with_unstorable_text_is_never_a_500(api: APIClient, name: bytes) -> None:
    # The file name as raw bytes (a NUL, the UTF-8 form of a surrogate, bytes that are not UTF-8)
    boundary = b"b0undary"
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="' + name +
            b'"\r\nContent-Type: text/csv\r\n\r\nx,y\n1,2\n\r\n--' + boundary + b"--\r\n")
    response = api.generic("POST", "/api/v1/files", body, content_type=f"multipart/form-data; boundary={boundary.decode()}")
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        stored = response.json()
        assert not any(ch in stored["key"] + stored["name"] for ch in ("\x00", LONE_SURROGATE)), stored
