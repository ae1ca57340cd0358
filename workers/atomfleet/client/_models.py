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
    "STEP_TERMINAL_STATUSES",
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
    "Step",
    "Upload",
    "Workflow",
    "WorkflowFailure",
    "WorkflowStep",
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
    workflow_id: str | None = None  # set when the run is a step of a workflow
    step: str = ""  # that step's name
    priority: int = 5  # among the tenant's own waiting runs, 9 first

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
            workflow_id=data.get("workflow_id"), step=data.get("step") or "",
            priority=int(data.get("priority", 5)),
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

    @classmethod
    def of_workflows(cls, data: Mapping[str, Any]) -> Page[Workflow]:
        return Page(
            tuple(Workflow.from_json(w) for w in data["results"]), _cursor(data.get("next")),
            _cursor(data.get("previous")),
        )


@dataclass(frozen=True)
class BatchItem:
    """One run of a batch: the atom's args and, to make the batch safe to retry, a key."""

    args: Mapping[str, Any]
    idempotency_key: str | None = None
    priority: int | None = None  # 0-9 among the tenant's own waiting runs; None: the server's 5

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"args": dict(self.args)}
        if self.idempotency_key is not None:
            body["idempotency_key"] = self.idempotency_key
        if self.priority is not None:
            body["priority"] = self.priority
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


# -- workflows ---------------------------------------------------------------------------------
#: A step in one of these states changes no more (until the workflow is retried).
STEP_TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "skipped"})


@dataclass(frozen=True)
class Step:
    """One step of a workflow to submit: an atom, its args and the steps it runs after.

    ``after`` takes step names or ``Step`` objects. ``run_if`` is ``all_succeeded`` (the default:
    the step is skipped when a parent did not succeed) or ``all_done`` (cleanup and report steps).
    An argument can be part of an ancestor's result: ``validate.output("/report_artifact")``.
    """

    name: str
    atom: str
    args: Mapping[str, Any] = field(default_factory=dict)
    after: tuple[str | Step, ...] | list[str | Step] = ()
    run_if: str | None = None

    def output(self, pointer: str = "") -> dict[str, str]:
        """A placeholder for the part of this step's result at a JSON pointer (RFC 6901)."""
        return {"$from": self.name, "pointer": pointer}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "atom": self.atom, "args": dict(self.args)}
        if self.after:
            body["after"] = [p.name if isinstance(p, Step) else p for p in self.after]
        if self.run_if is not None:
            body["run_if"] = self.run_if
        return body


@dataclass(frozen=True)
class WorkflowFailure:
    """The first step that failed (``Workflow.error``)."""

    step: str
    code: str
    message: str


@dataclass(frozen=True)
class WorkflowStep:
    name: str
    atom: str
    queue: str
    status: str  # pending|queued|running|retrying|succeeded|failed|cancelled|skipped
    run_id: str | None  # the step's current run (a retried workflow gives re-run steps new runs)
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def is_terminal(self) -> bool:
        return self.status in STEP_TERMINAL_STATUSES

    @property
    def seconds(self) -> float | None:
        """How long the step's run ran, once it has finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkflowStep:
        return cls(
            name=data["name"], atom=data["atom"], queue=data.get("queue", ""), status=data["status"],
            run_id=data.get("run_id"), attempts=int(data.get("attempts") or 0),
            started_at=_when(data.get("started_at")), finished_at=_when(data.get("finished_at")),
        )


@dataclass(frozen=True)
class Workflow:
    """A workflow and its steps in submit order (a list page may carry no steps)."""

    id: str
    status: str  # running|succeeded|failed|cancelled
    on_failure: str
    created_at: datetime
    finished_at: datetime | None
    error: WorkflowFailure | None
    steps: tuple[WorkflowStep, ...]
    idempotency_key: str | None = None
    url: str = ""

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def step(self, name: str) -> WorkflowStep:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"workflow {self.id} has no step {name!r}")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Workflow:
        error = data.get("error")
        return cls(
            id=data["id"], status=data["status"], on_failure=data.get("on_failure", ""),
            created_at=datetime.fromisoformat(data["created_at"]), finished_at=_when(data.get("finished_at")),
            error=WorkflowFailure(error.get("step", ""), error["code"], error.get("message", "")) if error else None,
            steps=tuple(WorkflowStep.from_json(s) for s in data.get("steps") or ()),
            idempotency_key=data.get("idempotency_key"), url=data.get("url", ""),
        )
