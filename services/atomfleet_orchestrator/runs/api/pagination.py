"""Count-free cursor pages for ``GET /api/v1/runs`` (DRF's ``CursorPagination``).

No ``COUNT(*)`` and no ``OFFSET`` walk: each page is one index range scan from the cursor's
position, whatever the table's size, and rows inserted meanwhile never shift a page. The ordering
``(-created_at, -id)`` is unique and matches the ``run_tenant_*`` indexes of ``AtomRun``; the
cursor holds both keys of the row it starts after (keyset paging), in both directions. DRF's own
cursor keeps only ``created_at`` and an offset among equal timestamps: walking ``previous`` links
lost rows, and it gave up past 1000 runs with one timestamp (a batch, a bulk import).
Bad ``limit`` or ``cursor`` values are refused with 400 instead of being ignored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
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

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any]:
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.cursor = self.decode_cursor(request)
        reverse = self.cursor is not None and self.cursor.reverse
        if self.cursor is not None and self.cursor.position is not None:
            created_at, run_id = _keys(self.cursor.position)
            # The row comparison (created_at, id) < or > the cursor's, spelled so that the
            # range bound on created_at reaches the index: ties are then filtered by id. A cursor
            # of the earlier DRF format has no id: it goes on after its timestamp.
            ties = Q(created_at=created_at, id__gt=run_id) if reverse else Q(created_at=created_at, id__lt=run_id)
            if run_id is None:
                ties = Q(pk__in=[])
            if reverse:
                queryset = queryset.filter(Q(created_at__gt=created_at) | ties, created_at__gte=created_at)
            else:
                queryset = queryset.filter(Q(created_at__lt=created_at) | ties, created_at__lte=created_at)
        order = ("created_at", "id") if reverse else ("-created_at", "-id")
        rows = list(queryset.order_by(*order)[: self.page_size + 1])
        more = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        if reverse:
            self.page.reverse()
        came_from = self.cursor is not None
        # Forward: a next page if a row was left over, a previous one if we came from a cursor;
        # backward (a `previous` link), the other way round.
        self.has_next, self.has_previous = (came_from, more) if reverse else (more, came_from)
        return self.page

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=_position(self.page[-1])))

    def get_previous_link(self) -> str | None:
        if not self.has_previous or not self.page:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=_position(self.page[0])))

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
                _keys(cursor.position)  # a forged position must not reach SQL
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


def _position(run: Any) -> str:
    return f"{run.created_at.isoformat()}|{run.id}"


def _keys(position: str) -> tuple[datetime, uuid.UUID | None]:
    """The cursor's ``created_at|id``; raises ValueError when it is not one."""
    created_at, bar, run_id = position.partition("|")
    return datetime.fromisoformat(created_at), uuid.UUID(run_id) if bar else None
