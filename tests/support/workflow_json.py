"""Workflow answers exactly as issue 17's contract writes them (``GET /api/v1/workflows/{id}``),
for the client and CLI tests that run against ``scripted_http``."""

from __future__ import annotations

from typing import Any

WORKFLOW_ID = "0b9e3c1a-5d2f-4e8b-9a61-7c3d2e1f0a99"

#: The issue's diamond, as a client submits it.
DIAMOND: dict[str, Any] = {
    "idempotency_key": "import-42", "on_failure": "fail_fast",
    "steps": [
        {"name": "validate", "atom": "data.validate_csv",
         "args": {"file": "uploads/x.csv", "columns": [{"name": "x", "type": "number"}]}},
        {"name": "stats", "atom": "text.stats", "after": ["validate"],
         "args": {"text": {"$from": "validate", "pointer": "/report_artifact"}}},
        {"name": "fit", "atom": "forecast.autoregressive", "after": ["validate"],
         "args": {"series": [1, 2, 3, 4, 5, 6, 7, 8]}},
        {"name": "report", "atom": "text.stats", "after": ["stats", "fit"], "run_if": "all_done",
         "args": {"text": "done"}},
    ],
}

_QUEUES = {"validate": ("data.validate_csv", "io_bound"), "stats": ("text.stats", "default"),
           "fit": ("forecast.autoregressive", "ml_training"), "report": ("text.stats", "default")}


def step_json(name: str, status: str = "pending", *, attempts: int | None = None, run_id: str | None = None,
              started: str | None = None, finished: str | None = None) -> dict[str, Any]:
    atom, queue = _QUEUES[name]
    ran = status not in ("pending", "skipped")
    return {
        "name": name, "atom": atom, "queue": queue, "status": status,
        "run_id": run_id or (f"00000000-0000-4000-8000-00000000000{list(_QUEUES).index(name)}" if ran else None),
        "attempts": attempts if attempts is not None else (1 if ran and status != "queued" else 0),
        "started_at": started, "finished_at": finished,
    }


def workflow_json(status: str = "running", steps: dict[str, str] | None = None, *,
                  error: dict[str, str] | None = None, workflow_id: str = WORKFLOW_ID,
                  timed: bool = True) -> dict[str, Any]:
    """A workflow in ``status`` whose steps have the given statuses (the rest ``pending``).
    Steps that ended took 1.5 s (``timed``)."""
    states = {name: "pending" for name in _QUEUES} | (steps or {})
    rows = []
    for name, state in states.items():
        started = "2026-11-25T20:00:01+00:00" if timed and state not in ("pending", "queued", "skipped") else None
        ended = state in ("succeeded", "failed", "cancelled") and started is not None
        rows.append(step_json(name, state, started=started, finished="2026-11-25T20:00:02.500000+00:00" if ended else None))
    return {
        "id": workflow_id, "status": status, "on_failure": "fail_fast",
        "created_at": "2026-11-25T20:00:00.123456Z",
        "finished_at": "2026-11-25T20:00:09+00:00" if status != "running" else None,
        "error": error, "steps": rows,
    }


def page_json(*workflows: dict[str, Any], next_cursor: str | None = None) -> dict[str, Any]:
    base = "http://x/api/v1/workflows"
    return {"next": f"{base}?cursor={next_cursor}" if next_cursor else None, "previous": None,
            "results": list(workflows)}
