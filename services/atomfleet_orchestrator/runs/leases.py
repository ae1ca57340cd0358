"""Run leases, kept by each worker's main process for the executions of its pool processes.

A running run stays alive in the database only while its heartbeat is fresh. The heartbeat is
written here, by the worker's main process, for every pool process it knows is alive and
executing a run: never by a thread beside the atom, which an atom holding the GIL (a long regex
match, a C loop) would starve. Each round is one UPDATE for all runs of the worker, plus one read
that brings back cancellation requests, which are relayed to the pool process as a signal.

The main process also fences: an execution whose lease it could not renew for
``Deadlines.fence_after`` seconds (database unreachable, run taken over) is killed, before the
reconciler may hand the run to another worker (``stale_after``). So a run never executes twice at
the same time, whatever the fault. The check runs on its own thread, because the renewing thread
can itself hang in a database call.

Only the prefork pool has separate pool processes that can be watched, killed and time-limited:
a worker consuming atom queues with another pool refuses to start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from celery import bootsteps, signals
from celery.concurrency.prefork import TaskPool
from django.db import DatabaseError, close_old_connections

from atomfleet.catalog import CATALOG, task_name_for
from atomfleet.errors import ConfigurationError
from atomfleet.runtime import CancelToken
from atomfleet_orchestrator.runs import transitions
from atomfleet_orchestrator.runs.lifecycle import Deadlines

__all__ = ["CANCEL_SIGNAL", "LeaseKeeper", "RunLeases", "cancellable", "identity"]

log = logging.getLogger(__name__)

#: Sent by the main process to a pool process whose run was cancelled.
CANCEL_SIGNAL = signal.SIGUSR2
_ATOM_TASK_PREFIX = task_name_for("")


def identity(hostname: str, pid: int) -> str:
    """Who holds a run: the worker's node name and the pool process id."""
    return f"{hostname}:{pid}"


# -- pool process side ---------------------------------------------------------------------------

_current_token: CancelToken | None = None


def _on_cancel_signal(signum: int, frame: Any) -> None:
    token = _current_token
    if token is not None:
        token.set()


@contextlib.contextmanager
def cancellable(token: CancelToken) -> Iterator[None]:
    """While the run executes, the cancel signal sets ``token``."""
    global _current_token
    _current_token = token
    try:
        yield
    finally:
        _current_token = None


def _on_process_init(**_: Any) -> None:
    signal.signal(CANCEL_SIGNAL, _on_cancel_signal)


# -- main process side ---------------------------------------------------------------------------


@dataclass
class _Held:
    run_id: str
    pid: int
    identity: str
    renewed_at: float  # monotonic time a confirmed renewal was sent (or the pool accepted it)
    fenced: bool = False


def _alive(pid: int) -> bool:
    """A pool process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _running_requests() -> list[Any]:
    from celery.worker import state

    return [r for r in list(state.active_requests) if r.name.startswith(_ATOM_TASK_PREFIX) and r.worker_pid]


class LeaseKeeper:
    def __init__(self, hostname: str, deadlines: Deadlines) -> None:
        self.hostname = hostname
        self.deadlines = deadlines
        self._held: dict[str, _Held] = {}  # task id -> execution
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(self.renew, deadlines.heartbeat_interval),
                             name="atomfleet-leases", daemon=True),
            threading.Thread(target=self._loop, args=(self.fence, min(0.5, deadlines.heartbeat_interval / 2)),
                             name="atomfleet-fence", daemon=True),
        ]
        self._last_error_log = 0.0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, step: Any, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                step()
            except Exception:  # a bug here must not silently end the keeping of leases
                log.exception("lease keeper step %s failed", step.__name__)

    def _sync(self) -> list[_Held]:
        """Track the executions the pool is running now; forget finished ones."""
        now_wall, now_mono = time.time(), time.monotonic()
        current: dict[str, _Held] = {}
        with self._lock:
            for request in _running_requests():
                held = self._held.get(request.id)
                if held is None or held.pid != request.worker_pid:
                    accepted = now_mono - max(0.0, now_wall - (request.time_start or now_wall))
                    held = _Held(str(request.args[0]), request.worker_pid,
                                 identity(self.hostname, request.worker_pid), accepted)
                current[request.id] = held
            self._held = current
            return [h for h in current.values() if not h.fenced and _alive(h.pid)]

    def renew(self) -> None:
        live = self._sync()
        if not live:
            return
        sent = time.monotonic()
        try:
            leases = transitions.heartbeat((h.run_id, h.identity) for h in live)
        except DatabaseError as exc:
            close_old_connections()
            if sent - self._last_error_log > 10:
                self._last_error_log = sent
                log.warning("cannot renew %d run lease(s): %s", len(live), exc)
            return
        for held in live:
            lease = leases.get(held.run_id)
            if lease is None or not lease.held:
                continue  # not claimed yet, or taken over: the fence decides
            held.renewed_at = sent
            if lease.cancel_requested:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(held.pid, CANCEL_SIGNAL)

    def fence(self) -> None:
        cutoff = time.monotonic() - self.deadlines.fence_after
        with self._lock:
            expired = [h for h in self._held.values() if not h.fenced and h.renewed_at < cutoff]
            for held in expired:
                held.fenced = True
        for held in expired:
            log.error(
                "run %s: lease not renewed for %.0fs; killing pool process %d so that no second "
                "execution can overlap it", held.run_id, self.deadlines.fence_after, held.pid,
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(held.pid, signal.SIGKILL)


class RunLeases(bootsteps.StartStopStep):
    """Worker bootstep: refuse pools that cannot be fenced; keep leases from pool start to exit.

    Added to the app by name (``celery.py``), so that building the app imports no Django model.
    """

    requires = ("celery.worker.components:Pool",)
    label = "atomfleet run leases"

    def __init__(self, w: Any, **kwargs: Any) -> None:
        super().__init__(w, **kwargs)
        # Connected in the main process before the pool forks: pool processes inherit them.
        signals.worker_process_init.connect(_on_process_init, weak=False, dispatch_uid="atomfleet.leases.child")
        signals.worker_shutdown.connect(_keeper.stop, weak=False, dispatch_uid="atomfleet.leases.stop")
        queues = set(w.app.amqp.queues.consume_from or w.app.amqp.queues)
        atom_queues = sorted({spec.queue for spec in CATALOG if spec.queue in queues})
        pool_cls = w.pool_cls if isinstance(w.pool_cls, type) else type(w.pool_cls)
        if atom_queues and not issubclass(pool_cls, TaskPool):
            raise ConfigurationError(
                f"worker pool {pool_cls.__module__}.{pool_cls.__name__} cannot run atoms of queue(s) "
                f"{', '.join(atom_queues)}: only the prefork pool enforces their time limits and lets the "
                "worker watch and fence each execution (use --pool=prefork)"
            )

    def start(self, w: Any) -> None:
        _keeper.start(w.hostname)


class _KeeperHandle:
    def __init__(self) -> None:
        self.keeper: LeaseKeeper | None = None

    def start(self, hostname: str) -> None:
        if self.keeper is None:
            self.keeper = LeaseKeeper(hostname, Deadlines.from_settings())
            self.keeper.start()

    def stop(self, **_: Any) -> None:
        # After the pool has finished (warm shutdown), not before: runs finishing keep their lease.
        if self.keeper is not None:
            self.keeper.stop()
            self.keeper = None


_keeper = _KeeperHandle()
