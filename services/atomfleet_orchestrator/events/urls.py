"""The events process's routes: the stream and its own probes (the API's routes are not served here)."""

from __future__ import annotations

import time

from django.http import HttpRequest, JsonResponse
from django.urls import path

from atomfleet_orchestrator.events.hub import hub
from atomfleet_orchestrator.events.stream import stream


async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


async def readyz(request: HttpRequest) -> JsonResponse:
    """Ready while not shutting down and the event table was read within a few poll intervals."""
    from django.conf import settings

    hub.start()
    if hub.closing:
        return JsonResponse({"status": "unavailable", "events": "shutting down"}, status=503)
    age = time.monotonic() - hub.last_read
    if hub.last_read == 0 or age > 3 * settings.ATOMFLEET_EVENTS_POLL_SECONDS + 5:
        return JsonResponse({"status": "unavailable", "events": "the event table has not been read yet"
                             if hub.last_read == 0 else f"the event table was last read {age:.0f}s ago"}, status=503)
    return JsonResponse({"status": "ok", "events": "ok", "streams": hub.streams,
                         "listen": "ok" if hub.listening else "polling"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/v1/events/stream", stream, name="event-stream"),
]
