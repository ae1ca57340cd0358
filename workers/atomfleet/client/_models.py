"""Typed results of the client: frozen dataclasses read from the API's JSON.

Fields the API adds later are ignored, so an older client keeps working against a newer API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "TERMINAL_STATUSES",
    "Artifact",
    "AtomInfo",
    "BatchEntry",
    "BatchItem",
    "BatchResult",
    "Page",
    "Progress",
    "Run",
    "RunFailure",
    "RunResult",
    "Upload",
]

T = TypeVar("T")

#: A run in one of these states changes no more.
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Progress:
    fraction: float
    message: str


@dataclass(frozen=True)
class RunFailure:
    """Why a run failed or was cancelled (``Run.error``)."""

    code: str
    message: str


@dataclass(frozen=True)
class Run:
    id: str
    atom: str
    queue: str
    status: str
    args: dict[str, Any]
    idempotency_key: str | None
    created_by: str
    progress: Progress
    error: RunFailure | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None
    heartbeat_at: datetime | None
    worker: str
    url: str
    result_url: str

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Run:
        error = data.get("error")
        return cls(
            id=data["id"], atom=data["atom"], queue=data["queue"], status=data["status"],
            args=dict(data["args"]), idempotency_key=data.get("idempotency_key"),
            created_by=data.get("created_by", ""),
            progress=Progress(float(data["progress"]["fraction"]), data["progress"]["message"]),
            error=RunFailure(error["code"], error["message"]) if error else None,
            attempts=int(data.get("attempts", 0)), max_attempts=int(data.get("max_attempts", 1)),
            cancel_requested=bool(data.get("cancel_requested", False)),
            created_at=datetime.fromisoformat(data["created_at"]),
            started_at=_when(data.get("started_at")), finished_at=_when(data.get("finished_at")),
            next_attempt_at=_when(data.get("next_attempt_at")), heartbeat_at=_when(data.get("heartbeat_at")),
            worker=data.get("worker", ""), url=data.get("url", ""), result_url=data.get("result_url", ""),
        )


@dataclass(frozen=True)
class Artifact:
    name: str
    size: int
    content_type: str
    url: str  # a presigned object-store URL, or the API's own (the client sends the token there only)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Artifact:
        return cls(data["name"], int(data["size"]), data["content_type"], data["url"])


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str
    result: Any
    result_artifact: str | None
    artifacts: tuple[Artifact, ...]

    def artifact(self, name: str) -> Artifact:
        for artifact in self.artifacts:
            if artifact.name == name:
                return artifact
        raise KeyError(f"run {self.run_id} has no artifact {name!r}")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResult:
        return cls(
            data["run_id"], data["status"], data.get("result"), data.get("result_artifact"),
            tuple(Artifact.from_json(a) for a in data.get("artifacts", [])),
        )


@dataclass(frozen=True)
class AtomInfo:
    name: str
    queue: str
    description: str
    schema: dict[str, Any]
    soft_time_limit: int
    time_limit: int
    idempotent: bool
    max_retries: int
    spec_hash: str = ""
    package: str = ""
    registered_at: datetime | None = None
    live: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AtomInfo:
        return cls(
            data["name"], data["queue"], data.get("description", ""), dict(data.get("schema") or {}),
            int(data["soft_time_limit"]), int(data["time_limit"]), bool(data["idempotent"]),
            int(data.get("max_retries", 0)), data.get("spec_hash", ""), data.get("package", ""),
            _when(data.get("registered_at")), bool(data.get("live", False)),
        )


@dataclass(frozen=True)
class Upload:
    """An uploaded input file; pass ``key`` as the atom's file argument."""

    key: str
    size: int
    content_type: str
    name: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Upload:
        return cls(data["key"], int(data["size"]), data["content_type"], data["name"])


def _cursor(link: str | None) -> str | None:
    if not link:
        return None
    return parse_qs(urlsplit(link).query).get("cursor", [None])[0]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: tuple[T, ...]
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @classmethod
    def of_runs(cls, data: Mapping[str, Any]) -> Page[Run]:
        return Page(
            tuple(Run.from_json(r) for r in data["results"]), _cursor(data.get("next")), _cursor(data.get("previous"))
        )


@dataclass(frozen=True)
class BatchItem:
    """One run of a batch: the atom's args and, to make the batch safe to retry, a key."""

    args: Mapping[str, Any]
    idempotency_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"args": dict(self.args)}
        if self.idempotency_key is not None:
            body["idempotency_key"] = self.idempotency_key
        return body


@dataclass(frozen=True)
class BatchEntry:
    run: Run
    created: bool  # False: the item's idempotency key named an earlier run


@dataclass(frozen=True)
class BatchResult:
    entries: tuple[BatchEntry, ...] = field(default_factory=tuple)

    @property
    def runs(self) -> tuple[Run, ...]:
        return tuple(entry.run for entry in self.entries)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchResult:
        return cls(tuple(BatchEntry(Run.from_json(e["run"]), bool(e["created"])) for e in data["results"]))
