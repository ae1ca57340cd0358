"""The event stream (``GET /api/v1/events/stream``, Server-Sent Events) for ``Client.events`` and
``AsyncClient.events``: parsing, and the reconnect rule both follow.

A stream that ends or breaks (a restarted events process, a proxy timeout, a network error) is
opened again with ``Last-Event-ID`` set to the last event received: the server resumes after it,
so the caller sees every event once, in order. Reconnects that fail in a row back off with the
client's ``Retries``; a stream that delivered anything starts the count again. An answer that is
not a stream (401, 400, 404) raises its ``ApiError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Event", "SseParser", "stream_params"]

STREAM_PATH = "/api/v1/events/stream"


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    run_id: str | None
    workflow_id: str | None
    created_at: datetime
    data: dict[str, Any]
    links: dict[str, str]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Event:
        return cls(int(body["id"]), body["type"], body.get("run_id"), body.get("workflow_id"),
                   datetime.fromisoformat(body["created_at"].replace("Z", "+00:00")), body.get("data") or {},
                   body.get("links") or {})

    @property
    def is_terminal(self) -> bool:
        return self.type in ("run.succeeded", "run.failed", "run.cancelled",
                             "workflow.succeeded", "workflow.failed", "workflow.cancelled")


class SseParser:
    """Lines in, events out (``text/event-stream``; comments and ``retry:`` are skipped)."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        if line == "":
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return Event.from_json(json.loads(data))
        if line.startswith("data:"):
            self._data.append(line[5:].removeprefix(" "))
        return None  # id: repeats data's id; comments (":") and retry: need nothing


def stream_params(after: int | None, types: Iterable[str] | None, run: str | None,
                  workflow: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if after is not None:
        params["after"] = str(after)
    if types:
        params["type"] = ",".join(types)
    if run:
        params["run"] = run
    if workflow:
        params["workflow"] = workflow
    return params
