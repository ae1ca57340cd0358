"""Count-free cursor pages for ``GET /api/v1/runs`` (DRF's ``CursorPagination``).

No ``COUNT(*)`` and no ``OFFSET`` walk: each page is one index range scan from the cursor's
position, whatever the table's size, and rows inserted meanwhile never shift a page. The ordering
``(-created_at, -id)`` is unique and matches the ``run_tenant_*`` indexes of ``AtomRun``.
Bad ``limit`` or ``cursor`` values are refused with 400 instead of being ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from atomfleet_orchestrator.http.errors import ApiError

__all__ = ["RunCursorPagination"]


class RunCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    cursor_query_param = "cursor"
    cursor_query_description = "opaque: the `cursor` of a page's `next` or `previous` link"
    page_size = 50
    page_size_query_param = "limit"
    page_size_query_description = "runs per page (1 to 500, default 50)"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = int(raw) if raw.isascii() and raw.isdigit() else 0
        if not 1 <= size <= self.max_page_size:
            raise ApiError(
                400, "invalid_parameter", f"limit must be an integer from 1 to {self.max_page_size}",
                {"parameter": "limit", "value": raw},
            )
        return size

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None:
                datetime.fromisoformat(cursor.position)  # a forged position must not reach SQL
        except Exception:  # DRF raises NotFound; any undecodable cursor is the client's error
            raise ApiError(
                400, "invalid_parameter", "cursor is not valid: pass the cursor of a `next` or "
                "`previous` link unchanged", {"parameter": "cursor"},
            ) from None
        return cursor

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        page: dict[str, Any] = super().get_paginated_response_schema(schema)
        for link in ("next", "previous"):
            page["properties"][link]["description"] = f"the {link} page, or null; its `cursor` parameter is opaque"
            page["properties"][link].pop("example", None)
        page["required"] = ["next", "previous", "results"]
        return page

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size,
                }
        return parameters
