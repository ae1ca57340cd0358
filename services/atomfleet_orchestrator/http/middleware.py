"""Reject oversized bodies with 413 before anything reads them."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from atomfleet_orchestrator.http.errors import json_error

UPLOAD_PATH = "/api/v1/files"


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = (
            settings.ATOMFLEET_MAX_UPLOAD_BYTES
            if request.path.rstrip("/") == UPLOAD_PATH
            else settings.ATOMFLEET_MAX_REQUEST_BYTES
        )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(400, "invalid_content_length", "Content-Length is not a number")
        if length > limit:
            return json_error(
                413,
                "payload_too_large",
                f"request body of {length} bytes exceeds the limit of {limit} bytes",
                {"limit_bytes": limit},
            )
        return self.get_response(request)
