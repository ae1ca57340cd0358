"""``GET /api/v1/events/stream``: Server-Sent Events, served by the ASGI events process only.

Each message is ``id: <event id>`` + ``data: <the event as JSON>`` (its type inside, so
EventSource's ``onmessage`` gets every event). ``Last-Event-ID`` (sent by EventSource on
reconnect) or ``?after=`` resumes after that event: the hub's reads are gap-free, so a resumed
stream has no gap and no duplicate. A ``: keep-alive`` comment is sent when a stream had nothing to
say for ATOMFLEET_EVENTS_KEEPALIVE_SECONDS. On shutdown every stream ends; clients reconnect
(through the Service, to another replica) with their Last-Event-ID.

Authentication: ``Authorization: Bearer <API token>`` with the filters in the query, or
``?token=<stream token>`` (POST /api/v1/events/stream-token), whose filters it carries.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from atomfleet_orchestrator.events import metrics
from atomfleet_orchestrator.events.api.serializers import event_json
from atomfleet_orchestrator.events.hub import hub
from atomfleet_orchestrator.events.query import (
    QueryError,
    parse_after,
    parse_query,
    read_stream_token,
)
from atomfleet_orchestrator.events.read import Filters
from atomfleet_orchestrator.http.errors import json_error
from atomfleet_orchestrator.tenancy.tokens import lookup

__all__ = ["stream"]

_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx ingress: pass each message on at once
    # Tokens travel in the URL or the Authorization header, never in cookies: any origin may read.
    "Access-Control-Allow-Origin": "*",
}


def _tenant_of(header: str) -> int | None:
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in ("bearer", "token"):
        return None
    found = lookup(parts[1])
    return found[0].tenant.id if found is not None else None


async def _authorize(request: HttpRequest) -> Filters:
    token = request.GET.get("token")
    if token:
        return read_stream_token(token)
    header = request.headers.get("Authorization", "")
    if not header:
        raise QueryError(401, "unauthenticated", "send Authorization: Bearer <token>, or ?token=<stream token>")
    tenant_id = await sync_to_async(_tenant_of, thread_sensitive=False)(header)
    if tenant_id is None:
        raise QueryError(401, "unauthenticated", "token is not valid or was revoked")
    query = parse_query(request.GET.get, request.GET.getlist, None)
    return query.filters(tenant_id)


def _frame(event: dict[str, object]) -> str:
    return f"id: {event['id']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


async def _messages(after: int, filters: Filters) -> AsyncIterator[str]:
    metrics.STREAMS.inc()
    hub.streams += 1
    try:
        yield "retry: 1000\n: connected\n\n"
        async for batch in hub.follow(after, filters, settings.ATOMFLEET_EVENTS_KEEPALIVE_SECONDS):
            if batch is None:
                yield ": keep-alive\n\n"
                continue
            metrics.SENT.inc(len(batch))
            yield "".join(_frame(event_json(e)) for e in batch)
    finally:
        hub.streams -= 1
        metrics.STREAMS.dec()


async def stream(request: HttpRequest) -> HttpResponseBase:
    if request.method != "GET":
        return json_error(405, "method_not_allowed", f"method {request.method} is not allowed")
    if hub.closing:
        return _unavailable("this events process is shutting down")
    if hub.streams >= settings.ATOMFLEET_EVENTS_MAX_STREAMS:
        return _unavailable(f"this events process serves its maximum of {settings.ATOMFLEET_EVENTS_MAX_STREAMS} streams")
    try:
        filters = await _authorize(request)
        after = parse_after(request.headers.get("Last-Event-ID") or request.GET.get("after"))
    except QueryError as exc:
        refusal = json_error(exc.status, exc.code, exc.message)
        refusal["Access-Control-Allow-Origin"] = "*"
        return refusal
    hub.start()
    response = StreamingHttpResponse(_messages(after, filters), content_type="text/event-stream")
    for name, value in _HEADERS.items():
        response[name] = value
    return response


def _unavailable(message: str) -> JsonResponse:
    response = json_error(503, "unavailable", message)
    response["Retry-After"] = "1"
    return response
