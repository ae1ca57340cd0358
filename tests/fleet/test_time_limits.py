"""Time limits end a run as failed/time_limit, whether the atom sees them (soft) or is killed (hard).

The shipped atoms' limits are minutes long, so each message here carries short per-message limits,
which Celery applies in place of the task's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from atomfleet.catalog import task_name_for
from atomfleet_orchestrator.celery import app
from atomfleet_orchestrator.runs.dispatch import PUBLISHED_AT_HEADER
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fleet, pytest.mark.usefixtures("worker_fleet")]


def _send_with_limits(tenant: Tenant, *, soft: float, hard: float, ignore_soft_limit: bool = False,
                      spawn_child: bool = False) -> AtomRun:
    run = AtomRun.objects.create(
        tenant=tenant, created_by="t", atom="diagnostics.sleep_once", queue="default",
        args={"seconds": 30, "steps": 60, "ignore_soft_limit": ignore_soft_limit, "spawn_child": spawn_child},
    )
    app.send_task(
        task_name_for(run.atom), args=[str(run.id)], task_id=run.celery_task_id, queue=run.queue,
        soft_time_limit=soft, time_limit=hard, headers={PUBLISHED_AT_HEADER: time.time()},
    )
    return run


def test_soft_time_limit_fails_the_run_with_time_limit(tenant: Tenant, wait_for: Callable[..., dict[str, Any]]) -> None:
    run = _send_with_limits(tenant, soft=1, hard=20)
    done = wait_for(str(run.id), timeout=30)
    assert done["status"] == "failed" and done["error"]["code"] == "time_limit"
    assert "soft time limit" in done["error"]["message"]


def test_hard_time_limit_kill_is_recorded_by_the_worker_main_process(
    tenant: Tenant, wait_for: Callable[..., dict[str, Any]]
) -> None:
    # An atom stuck past its soft limit (as in C code that never sees the exception) is killed
    run = _send_with_limits(tenant, soft=1, hard=3, ignore_soft_limit=True)
    done = wait_for(str(run.id), timeout=30)  # well before the reconciler would step in
    assert done["status"] == "failed" and done["error"]["code"] == "time_limit"
    assert "hard time limit of 3" in done["error"]["message"] and "killed" in done["error"]["message"]


def children_of(run_id: str) -> list[int]:
    """Processes the diagnostics atom started for ``run_id`` (``spawn_child``) that are still alive."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc.name.isdigit() and f"child-of-{run_id}".encode() in (proc / "cmdline").read_bytes()
                    and (proc / "stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_a_hard_time_limit_kills_what_the_atom_started(tenant: Tenant, wait_for: Callable[..., dict[str, Any]]) -> None:
    run = _send_with_limits(tenant, soft=1, hard=3, ignore_soft_limit=True, spawn_child=True)
    deadline = time.monotonic() + 20
    while not children_of(str(run.id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert children_of(str(run.id)), "the atom's child did not start"
    done = wait_for(str(run.id), timeout=30)
    assert done["status"] == "failed" and done["error"]["code"] == "time_limit"
    time.sleep(1)
    assert children_of(str(run.id)) == [], "the atom's child outlived the hard time limit"
