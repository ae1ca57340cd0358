"""Run leases, kept by each worker's main process for the executions of its pool processes.

A running run stays alive in the database only while its heartbeat is fresh. The heartbeat is
written here, by the worker's main process, for every pool process it knows is alive and
executing a run: never by a thread beside the atom, which an atom holding the GIL (a long regex
match, a C loop) would starve. Each round is one UPDATE for all runs of the worker, plus one read
that brings back cancellation requests, which are relayed to the pool process as a signal that
names the run it is meant for (the pool process may have moved on to another run meanwhile).

The main process also fences: an execution whose lease it could not renew for
``Deadlines.fence_after`` seconds (database unreachable, run taken over) is killed, before the
reconciler may hand the run to another worker (``stale_after``), together with every process the
atom started (each pool process leads its own process group). So a run never executes twice at
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
import tempfile
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

__all__ = ["CANCEL_SIGNAL", "LeaseKeeper", "RunLeases", "cancellable", "identity", "kill_execution", "signal_cancel"]

log = logging.getLogger(__name__)

#: Sent by the main process to a pool process whose run was cancelled.
CANCEL_SIGNAL = signal.SIGUSR2
_ATOM_TASK_PREFIX = task_name_for("")


def identity(hostname: str, pid: int) -> str:
    """Who holds a run: the worker's node name and the pool process id."""
    return f"{hostname}:{pid}"


# -- pool process side ---------------------------------------------------------------------------

_current: tuple[CancelToken, str] | None = None  # the token and run id of the execution under way


def _cancel_dir() -> str:
    """Where the main process names the run a cancel signal is meant for: ``<dir>/<pool pid>``.

    Made by the main process before the pool forks, so every pool process knows it.
    """
    global _CANCEL_DIR
    if _CANCEL_DIR is None:
        _CANCEL_DIR = tempfile.mkdtemp(prefix="atomfleet-cancel-")
    return _CANCEL_DIR


_CANCEL_DIR: str | None = None


def _on_cancel_signal(signum: int, frame: Any) -> None:
    # The signal may arrive after this process moved on to another run (the main process read
    # the cancellation, then the run ended): it cancels only the run the main process named.
    current = _current
    if current is None:
        return
    try:
        with open(os.path.join(_cancel_dir(), str(os.getpid()))) as target:
            meant_for = target.read()
    except OSError:
        return
    token, run_id = current
    if meant_for == run_id:
        token.set()


@contextlib.contextmanager
def cancellable(token: CancelToken, run_id: str) -> Iterator[None]:
    """While run ``run_id`` executes, a cancel signal naming it sets ``token``."""
    global _current
    _current = (token, run_id)
    try:
        yield
    finally:
        _current = None


def _on_process_init(**_: Any) -> None:
    # Its own process group: what an atom starts (ffmpeg, R, a training script) joins it, and the
    # main process kills the whole group with the pool process (fence, hard time limit, loss), so
    # no child of an execution outlives it to overlap the next attempt. (Celery already has the
    # kernel kill pool processes when the main process dies: PR_SET_PDEATHSIG.)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    signal.signal(CANCEL_SIGNAL, _on_cancel_signal)


def kill_execution(pid: int) -> None:
    """SIGKILL pool process ``pid`` and every process of its group (what its atom started).

    A pool process leads its own group (``_on_process_init``), whose id is its pid; the group
    outlives the pool process while an orphan is left in it, so this also works after the pool
    process died. The worker's main process is in another group: never hit.
    """
    if pid in (os.getpid(), os.getpgrp()):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):  # not a group leader (setpgid refused)
        os.kill(pid, signal.SIGKILL)


def signal_cancel(pid: int, run_id: str) -> None:
    """Ask pool process ``pid`` to cancel run ``run_id`` (and nothing else it may run by then)."""
    folder = _cancel_dir()
    tmp = os.path.join(folder, f".{pid}")
    with open(tmp, "w") as target:
        target.write(run_id)
    os.replace(tmp, os.path.join(folder, str(pid)))
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, CANCEL_SIGNAL)


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
        # Keyed by (task id, pool pid): every copy of a message shares the task id, and a duplicate
        # landing on this worker must never refresh or replace the original's bookkeeping.
        self._held: dict[tuple[str, int], _Held] = {}
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
        current: dict[tuple[str, int], _Held] = {}
        with self._lock:
            for request in _running_requests():
                key = (request.id, request.worker_pid)
                held = self._held.get(key)
                if held is None:
                    accepted = now_mono - max(0.0, now_wall - (request.time_start or now_wall))
                    held = _Held(str(request.args[0]), request.worker_pid,
                                 identity(self.hostname, request.worker_pid), accepted)
                current[key] = held
            self._held = current
            return [h for h in current.values() if not h.fenced and _alive(h.pid)]

    def renew(self) -> None:
        live = self._sync()
        # The heartbeat answers per run id: two executions of one run here (a duplicate message
        # being refused beside the original) go in separate rounds, so neither hides the other.
        while live:
            round_: list[_Held] = []
            rest: list[_Held] = []
            seen: set[str] = set()
            for held in live:
                (rest if held.run_id in seen else round_).append(held)
                seen.add(held.run_id)
            if not self._renew(round_):
                return
            live = rest

    def _renew(self, live: list[_Held]) -> bool:
        sent = time.monotonic()
        try:
            leases = transitions.heartbeat((h.run_id, h.identity) for h in live)
        except DatabaseError as exc:
            close_old_connections()
            if sent - self._last_error_log > 10:
                self._last_error_log = sent
                log.warning("cannot renew %d run lease(s): %s", len(live), exc)
            return False
        for held in live:
            lease = leases.get(held.run_id)
            if lease is None or not lease.held:
                continue  # not claimed yet, or taken over: the fence decides
            held.renewed_at = sent
            if lease.cancel_requested:
                signal_cancel(held.pid, held.run_id)
        return True

    def fence(self) -> None:
        cutoff = time.monotonic() - self.deadlines.fence_after
        with self._lock:
            expired = [h for h in self._held.values() if not h.fenced and h.renewed_at < cutoff]
            for held in expired:
                held.fenced = True
        for held in expired:
            log.error(
                "run %s: lease not renewed for %.0fs; killing pool process %d and what it started so "
                "that no second execution can overlap it", held.run_id, self.deadlines.fence_after, held.pid,
            )
            kill_execution(held.pid)


class RunLeases(bootsteps.StartStopStep):
    """Worker bootstep: refuse pools that cannot be fenced; keep leases from pool start to exit.

    Added to the app by name (``celery.py``), so that building the app imports no Django model.
    """

    requires = ("celery.worker.components:Pool",)
    label = "atomfleet run leases"

    def __init__(self, w: Any, **kwargs: Any) -> None:
        super().__init__(w, **kwargs)
        # Connected in the main process before the pool forks: pool processes inherit them.
        _cancel_dir()
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
