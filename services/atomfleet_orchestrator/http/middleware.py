"""Requests refused before anything reads them: oversized bodies (413), a NUL in the path (400)."""

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


class PathTextMiddleware:
    """400 for a path holding U+0000 (``/atoms/te%00xt/runs``).

    Path parameters (an atom's name, an artifact's name) are looked up in PostgreSQL, which refuses
    NUL in text: without this, the lookup failed with a 500. One check covers every route.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info:
            return json_error(400, "invalid_path", "the path contains U+0000 (NUL), which no name may hold",
                              {"path": request.path_info.replace("\x00", "%00")})
        return self.get_response(request)
