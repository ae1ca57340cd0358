"""The lean submit path: ``POST /api/v1/atoms/<name>/runs`` as a plain Django view.

A well-formed request — a JSON object of ``args`` (an object), an optional ``idempotency_key`` (a
string the serializer would accept) and ``priority`` (an int 0-9), with a Bearer token that is
valid, ``Content-Type: application/json`` and an ``Accept`` JSON satisfies — is checked here by
hand and answered without DRF: no ``Request`` wrapper, no parser, content negotiation,
serializers or ``Response`` rendering (in-process: docs/performance.md, "Where the time goes").
Everything else — a body DRF would refuse, a missing or bad token, another method, another
content type — goes to the DRF view (``views.submit``), which answers it exactly as before: the
lean path never words an error of the request's shape itself.

The service call is the same (``submit_run``: validation against the atom's schema, admission,
the INSERT, turns, publish on commit), and so are its errors (404, 409, 400 ``invalid_args``,
429 with RateLimit headers, 503 with ``Retry-After``): rendered here with the shared error body,
as ``http.errors.api_exception_handler`` renders them. The answer is ``answers.run_answer``,
RunSerializer's fields from the row's values. The OpenAPI schema stays the DRF view's: this
function carries its ``cls`` and ``initkwargs``, which is what drf-spectacular reads.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException

from atomfleet_orchestrator.http.errors import (
    RETRY_AFTER_SECONDS,
    ApiError,
    error_body,
    unavailable,
)
from atomfleet_orchestrator.http.parsers import lone_surrogate_at
from atomfleet_orchestrator.runs.api import views
from atomfleet_orchestrator.runs.api.answers import render, run_answer
from atomfleet_orchestrator.runs.api.serializers import IDEMPOTENCY_KEY_PATTERN, _unstorable
from atomfleet_orchestrator.runs.errors import RunError
from atomfleet_orchestrator.runs.submission import DEFAULT_PRIORITY, submit_run
from atomfleet_orchestrator.tenancy.admission import Admission
from atomfleet_orchestrator.tenancy.authentication import TenantTokenAuthentication

__all__ = ["submit"]

_FIELDS = frozenset({"args", "idempotency_key", "priority"})
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_KEY_MAX = 200
_JSON_ACCEPTS = frozenset({"*/*", "application/*", "application/json"})
# What DRF's APIView.finalize_response adds to every answer of this view.
_DRF_HEADERS = {"Vary": "Accept", "Allow": "POST, OPTIONS"}
_AUTH = TenantTokenAuthentication()


class _NotLean(Exception):
    """The DRF view answers this request."""


def _refuse_constant(name: str) -> Any:
    raise _NotLean(name)  # NaN, Infinity: DRF's strict parser refuses them


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    return all(part.split(";", 1)[0].strip() in _JSON_ACCEPTS for part in accept.split(","))


def _body(request: HttpRequest) -> tuple[dict[str, Any], str | None, int]:
    """(args, idempotency key, priority) of a body the serializer would accept unchanged."""
    if request.content_type != "application/json" or not _accepts_json(request.META.get("HTTP_ACCEPT")):
        raise _NotLean
    charset = (request.content_params or {}).get("charset")
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        raise _NotLean
    try:
        data = json.loads(request.body.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise _NotLean from None
    if not isinstance(data, dict) or not data.keys() <= _FIELDS:
        raise _NotLean
    args, key, priority = data.get("args"), data.get("idempotency_key"), data.get("priority", DEFAULT_PRIORITY)
    if not isinstance(args, dict) or _unstorable(args) or lone_surrogate_at(data):
        raise _NotLean
    if key is not None and not (isinstance(key, str) and len(key) <= _KEY_MAX and _KEY.match(key)):
        raise _NotLean
    if type(priority) is not int or not 0 <= priority <= 9:
        raise _NotLean
    return args, key, priority


def _json(data: Any, status: int, headers: dict[str, Any] | None = None) -> HttpResponse:
    response = HttpResponse(render(data), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = str(value)
    for name, value in _DRF_HEADERS.items():
        response[name] = value
    return response


def _failure(exc: Exception) -> HttpResponse | None:
    """``api_exception_handler``'s answer to what the service raised (None: not ours, re-raise)."""
    down = unavailable(exc)
    if down is not None:
        return _json(error_body(*down), 503, {"Retry-After": RETRY_AFTER_SECONDS})
    if isinstance(exc, RunError):
        return _json(error_body(exc.code, exc.message, exc.details), exc.http_status)
    if isinstance(exc, ApiError):
        return _json(error_body(exc.error_code, exc.message, exc.details), exc.status_code, exc.headers)
    return None


@csrf_exempt
def submit(request: HttpRequest, name: str) -> HttpResponse:
    if request.method != "POST":
        return views.submit(request, name)
    try:
        args, key, priority = _body(request)
        found = _AUTH.authenticate(request)  # reads request.META only: a Django request will do
    except (_NotLean, APIException):
        found = None
    except Exception as exc:  # the token's lookup met a database that is down: 503, as DRF answers
        answer = _failure(exc)
        if answer is None:
            raise
        return answer
    if found is None:
        return views.submit(request, name)
    caller = found[0]
    request.user = caller  # type: ignore[assignment]  # what DRF's Request would carry
    admission = Admission(caller.tenant)
    try:
        run, created = submit_run(caller.tenant, caller.name, name, args, key, admission=admission, priority=priority)
    except Exception as exc:
        answer = _failure(exc)
        if answer is None:
            raise
        return answer
    data = run_answer(run, request)
    return _json(data, 202 if created else 200, {"Location": data["url"], **admission.headers()})


# drf-spectacular documents a URL pattern's callback by its ``cls`` (an APIView) and ``initkwargs``:
# the DRF view's, so the operation is documented exactly as before.
submit.cls = views.submit.cls  # type: ignore[attr-defined]
submit.initkwargs = views.submit.initkwargs  # type: ignore[attr-defined]
