"""A run as the API answers it, built without DRF's ModelSerializer, and the JSON bytes of an answer.

``run_answer`` gives what ``RunSerializer(run).data`` gives — the same fields, in the same order,
with the same formats (tests/api/test_lean_submit.py compares the two) — from the row's values
directly: ModelSerializer copies and runs 24 field objects per run, a fifth of a POST's CPU and
most of a batch answer's. The schema is still RunSerializer's (drf-spectacular reads it); a field
added there must be added here too (the comparison test fails until it is).

``render`` writes JSON the way DRF's ``JSONRenderer`` does with this project's settings (UTF-8
rather than ``\\u`` escapes, compact separators, NaN refused, U+2028/U+2029 escaped).
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from atomfleet_orchestrator.runs.models import AtomRun

__all__ = ["iso", "render", "run_answer"]

_UTC = datetime.UTC


def iso(value: datetime.datetime | None) -> str | None:
    """DRF's ``DateTimeField`` output (ISO 8601, in UTC: the project's time zone, ``Z`` for +00:00)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(_UTC)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def run_answer(run: AtomRun, request: HttpRequest | None) -> dict[str, Any]:
    """``RunSerializer(run, context={"request": request}).data``, from the row's values."""
    run_id = str(run.id)
    url = reverse("run-detail", args=[run_id])
    result_url = reverse("run-result", args=[run_id])
    if request is not None:
        url, result_url = request.build_absolute_uri(url), request.build_absolute_uri(result_url)
    workflow_id = run.workflow_id
    return {
        "id": run_id,
        "url": url,
        "atom": run.atom,
        "queue": run.queue,
        "status": str(run.status),
        "args": run.args,
        "idempotency_key": run.idempotency_key,
        "created_by": run.created_by,
        "progress": {"fraction": run.progress, "message": run.progress_message},
        "error": {"code": run.error_code, "message": run.error_message} if run.error_code else None,
        "attempts": int(run.attempts),
        "max_attempts": int(run.max_attempts),
        "next_attempt_at": iso(run.next_attempt_at),
        "cancel_requested": bool(run.cancel_requested),
        "celery_task_id": run.celery_task_id,
        "worker": run.worker,
        "workflow_id": str(workflow_id) if workflow_id is not None else None,
        "step": run.step,
        "priority": int(run.priority),
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "heartbeat_at": iso(run.heartbeat_at),
        "result_url": result_url,
    }


def render(data: Any) -> bytes:
    """DRF's ``JSONRenderer`` output for ``data`` (UNICODE_JSON, COMPACT_JSON, STRICT_JSON)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
