"""A worker's main process keeping leases, and an execution from claim to atom, in this process.

Celery's list of active requests is the one seam (``leases._running_requests``): the pool
processes are real processes, the database is the test database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from atomfleet.catalog import AtomSpec
from atomfleet.runtime import AtomContext, CancelToken
from atomfleet_orchestrator.runs import leases, transitions
from atomfleet_orchestrator.runs.execution import execute_run
from atomfleet_orchestrator.runs.leases import LeaseKeeper, cancellable
from atomfleet_orchestrator.runs.lifecycle import Deadlines
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "default@lease-test"
#: fence_after = 3 s
DEADLINES = Deadlines(outbox_grace=1, dispatch_timeout=5, max_redispatches=3, heartbeat_interval=1,
                      stale_after=5, dispatch_interval=1, reconcile_interval=1)


@dataclass
class _Request:
    """What the keeper reads of a ``celery.worker.request.Request``."""

    id: str
    run_id: str
    worker_pid: int
    time_start: float = field(default_factory=time.time)
    name: str = "atomfleet.atom.diagnostics.sleep"

    @property
    def args(self) -> list[str]:
        return [self.run_id]


@pytest.fixture
def active(monkeypatch: pytest.MonkeyPatch) -> list[_Request]:
    requests: list[_Request] = []
    monkeypatch.setattr(leases, "_running_requests", lambda: list(requests))
    return requests


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(code: str = "import time; time.sleep(600)") -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def _alive(pid: int) -> bool:
    return leases._alive(pid)


def _running_run(tenant: Tenant, holder: str) -> AtomRun:
    run = AtomRun.objects.create(tenant=tenant, created_by="t", atom="diagnostics.sleep", queue="default",
                                 args={"seconds": 1}, max_attempts=3)
    claimed = transitions.claim(str(run.id), run.celery_task_id, holder)
    assert isinstance(claimed, transitions.Claimed)
    run.refresh_from_db()
    return run


def test_a_duplicate_on_the_same_worker_neither_hides_nor_replaces_the_original_lease(
    tenant: Tenant, active: list[_Request], spawn: Callable[..., subprocess.Popen[str]]
) -> None:
    original, duplicate = spawn(), spawn()
    run = _running_run(tenant, leases.identity(HOST, original.pid))
    keeper = LeaseKeeper(HOST, DEADLINES)
    active.append(_Request(run.celery_task_id, str(run.id), original.pid, time.time() - 60))
    keeper.renew()
    # A copy of the message lands on another pool process of this worker, which is refusing it
    active.append(_Request(run.celery_task_id, str(run.id), duplicate.pid))
    AtomRun.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - timedelta(seconds=30))
    keeper.renew()
    # The original's lease is still renewed while the copy is there
    run.refresh_from_db()
    assert run.heartbeat_at is not None and (timezone.now() - run.heartbeat_at).total_seconds() < 5
    # The copy ends; a round fails (a database blip): the original is not taken for expired
    active.pop()

    def unreachable(*args: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    with connection.execute_wrapper(unreachable):
        keeper.renew()
    keeper.fence()
    time.sleep(0.2)
    assert _alive(original.pid), "the original execution was fenced"


def test_a_cancel_signal_cancels_only_the_run_it_was_meant_for(tenant: Tenant, active: list[_Request]) -> None:
    # This process stands for the pool process: the main process read that it runs ``meant``...
    meant = _running_run(tenant, leases.identity(HOST, os.getpid()))
    AtomRun.objects.filter(id=meant.id).update(cancel_requested=True)
    active.append(_Request(meant.celery_task_id, str(meant.id), os.getpid()))
    keeper = LeaseKeeper(HOST, DEADLINES)
    previous = signal.signal(leases.CANCEL_SIGNAL, leases._on_cancel_signal)
    try:
        # ...but it has moved on to another run by the time the signal arrives
        other = CancelToken()
        with cancellable(other, "another-run"):
            keeper.renew()
            time.sleep(0.1)
        assert not other.is_set(), "the cancel signal cancelled a run it was not meant for"
        token = CancelToken()
        with cancellable(token, str(meant.id)):
            keeper.renew()
            time.sleep(0.1)
        assert token.is_set()
    finally:
        signal.signal(leases.CANCEL_SIGNAL, previous)


_POOL_PROCESS = """
import os, subprocess, sys, time
os.setpgid(0, 0)  # as atomfleet's worker_process_init does in each pool process
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def test_the_fence_kills_what_the_execution_started(
    tenant: Tenant, active: list[_Request], spawn: Callable[..., subprocess.Popen[str]]
) -> None:
    pool = spawn(_POOL_PROCESS)
    assert pool.stdout is not None
    child = int(pool.stdout.readline())
    run = _running_run(tenant, "someone-else:1")  # taken over: this execution's lease is never renewed
    active.append(_Request(run.celery_task_id, str(run.id), pool.pid, time.time() - 60))
    keeper = LeaseKeeper(HOST, DEADLINES)
    keeper.renew()
    keeper.fence()
    deadline = time.monotonic() + 5
    while (_alive(pool.pid) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pool.pid)
    assert not _alive(child), "the atom's child process outlived its fenced execution"
    os.kill(os.getpid(), 0)  # and the keeper's own process is alive


def test_nothing_fallible_sits_between_a_committed_claim_and_the_atom(tenant: Tenant) -> None:
    run = AtomRun.objects.create(tenant=tenant, created_by="t", atom="lease.test", queue="default", args={})
    started: list[str] = []

    def atom(ctx: AtomContext) -> dict[str, str]:
        started.append(ctx.tenant)
        return {}

    spec = AtomSpec(name="lease.test", queue="default", func=atom, schema={}, description="", soft_time_limit=60,
                    time_limit=70, idempotent=False)
    claimed: list[str] = []
    # The claim's own transaction: one statement (its UPDATE and the run.started event), the savepoint's release.
    claim_parts = ("RELEASE SAVEPOINT", "SAVEPOINT")

    def lost_after_the_claim(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        # The database goes away right after the claim's transaction, until the atom has started
        text = sql.lstrip().upper()
        if claimed and not started and not text.startswith(claim_parts):
            raise OperationalError("server closed the connection unexpectedly")
        if "ATTEMPTS = ATTEMPTS + 1" in text and "TENANT_SLUG" in text:
            claimed.append(sql)
        return execute(sql, params, many, context)

    task = SimpleNamespace(request=SimpleNamespace(id=run.celery_task_id, hostname=HOST))
    with connection.execute_wrapper(lost_after_the_claim):
        result = execute_run(task, spec, str(run.id))
    assert claimed and started == [tenant.slug] and result["status"] == "succeeded"
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("succeeded", 1)
