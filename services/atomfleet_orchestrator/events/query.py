"""Reading a request's event query (``after``, ``type``, ``run``, ``workflow``, ``limit``), shared
by the REST reads and the SSE stream, and the stream token that carries a query to EventSource.

Both refuse bad input with the same codes (``invalid_parameter``, ``invalid_token``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing

from atomfleet_orchestrator.events.read import Filters, types_of

__all__ = ["EventQuery", "QueryError", "issue_stream_token", "parse_query", "read_stream_token"]

_TOKEN_SALT = "atomfleet.events.stream-token"
_TYPE_CHARS = set("abcdefghijklmnopqrstuvwxyz_.*")


class QueryError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class EventQuery:
    after: int
    types: tuple[str, ...]
    run_id: uuid.UUID | None
    workflow_id: uuid.UUID | None

    def filters(self, tenant_id: int) -> Filters:
        return Filters(tenant_id, self.types, self.run_id, self.workflow_id)


def _uuid(name: str, value: str | None) -> uuid.UUID | None:
    if value is None:  # absent; present but empty (`?workflow=`) is no UUID: refused below
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise QueryError(400, "invalid_parameter", f"{name} must be a UUID, got {value[:60]!r}") from None


def parse_after(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        raise QueryError(400, "invalid_parameter", f"after (or Last-Event-ID) must be an event id, got {value[:60]!r}")
    return int(value)


def parse_types(values: Sequence[str]) -> tuple[str, ...]:
    types = types_of(values)
    for t in types:
        if not set(t) <= _TYPE_CHARS or "*" in t[:-1] or len(t) > 40:
            raise QueryError(400, "invalid_parameter", f"type {t[:60]!r} is not an event type or a prefix like run.*")
    return types


def parse_query(get: Callable[[str], str | None], get_list: Callable[[str], list[str]], after: str | None) -> EventQuery:
    return EventQuery(parse_after(after), parse_types(get_list("type")), _uuid("run", get("run")),
                      _uuid("workflow", get("workflow")))


def issue_stream_token(tenant_id: int, query: EventQuery) -> str:
    """A token for ``?token=``: this tenant and these filters only, for ATOMFLEET_STREAM_TOKEN_SECONDS."""
    payload: dict[str, Any] = {"t": tenant_id, "y": list(query.types),
                               "r": str(query.run_id) if query.run_id else None,
                               "w": str(query.workflow_id) if query.workflow_id else None}
    return signing.dumps(payload, salt=_TOKEN_SALT, compress=True)


def read_stream_token(token: str) -> Filters:
    """The tenant and filters a stream token grants; ``QueryError`` 401 when forged or expired."""
    try:
        payload = signing.loads(token, salt=_TOKEN_SALT, max_age=settings.ATOMFLEET_STREAM_TOKEN_SECONDS)
    except signing.SignatureExpired:
        raise QueryError(401, "token_expired", "the stream token expired: ask for a new one") from None
    except signing.BadSignature:
        raise QueryError(401, "invalid_token", "the stream token is not valid") from None
    return Filters(int(payload["t"]), tuple(payload["y"]), _uuid("run", payload["r"]), _uuid("workflow", payload["w"]))
