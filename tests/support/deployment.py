"""A production-like deployment on this machine, for fault drills.

Its own PostgreSQL (initdb in a temporary folder, its own port) and its own Redis with an
append-only file (so it can be killed and restarted like a StatefulSet pod), the gunicorn API,
beat and one worker group per queue — every process started with the command line the Helm chart
and docs/configuration.md give it. Drills kill, stop and pause these processes the way faults do.
Like the kubelet (``restartPolicy: Always``), a supervisor starts again, after a second, any fleet
process that exits or is killed; Redis and PostgreSQL come back only when the drill says (their
outage is the fault). Nothing repairs broker keys or database rows.

Deadlines are short so a drill ends within seconds (``DRILL_ENV``); each is explained there.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

TERMINAL = ("succeeded", "failed", "cancelled")
#: The engine's log line of a workflow's ending (written on commit: once per ending).
_ENDED = re.compile(r"^workflow ([0-9a-f-]{36}) (succeeded|failed|cancelled)$")

#: Lifecycle deadlines of the drills: a lost execution is noticed within ~20 s (heartbeat every
#: second, stale after 20 s, so a 10 s database outage is not taken for a lost worker), a lost
#: message within ~6 s (dispatch timeout 5 s, checked every second).
DRILL_ENV = {
    "ATOMFLEET_HEARTBEAT_SECONDS": "1",
    "ATOMFLEET_STALE_AFTER_SECONDS": "20",
    "ATOMFLEET_RECONCILE_INTERVAL": "1",
    "ATOMFLEET_DISPATCH_INTERVAL": "1",
    "ATOMFLEET_DISPATCH_TIMEOUT_SECONDS": "5",
    "ATOMFLEET_OUTBOX_GRACE_SECONDS": "1",
    "ATOMFLEET_PROGRESS_INTERVAL": "0.5",
}
CONCURRENCY = {"default": 2, "io_bound": 2, "ml_training": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


class Process:
    """One child process in its own session (signals reach its whole process group)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, user: str | None = None) -> None:
        self.name, self.argv, self.env, self.log, self.user = name, argv, env, log, user
        self.proc: subprocess.Popen[bytes] | None = None
        self.wanted = False  # False once stopped on purpose: the supervisor leaves it down
        self.restarts = 0

    def start(self) -> None:
        # Switch user in the child itself: a wrapper such as runuser stops itself whenever its
        # child is stopped, and would stay stopped after a SIGCONT (drills pause PostgreSQL).
        as_user = {"user": self.user, "group": self.user, "extra_groups": [], "cwd": "/"} if self.user else {}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, **as_user)
        self.wanted = True

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        self.wanted = False
        if not self.alive:
            return
        self.signal(signal.SIGCONT)  # a paused process cannot shut down
        self.signal(signal.SIGTERM)
        assert self.proc is not None
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _pg_bin() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found (Debian package postgresql)")
    return candidates[-1].parent


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _state(pid: int) -> str | None:
    """A process's state letter (``T``: stopped), None once it is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_bytes().rsplit(b")", 1)[1].split()[0].decode()
    except OSError:
        return None


class Postgres:
    """A PostgreSQL server of the drill's own (run as the ``postgres`` user when we are root)."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="af-pg-"))  # short: unix socket paths are limited
        self.data = self.dir / "data"
        self.user = "postgres" if os.getuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        bin_dir = _pg_bin()
        self._run([str(bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "--no-locale", "-E", "UTF8"])
        self.server = Process("postgres", [
            str(bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
            "-c", "fsync=off", "-c", "max_connections=200",
        ], {"PATH": os.environ.get("PATH", "")}, root / "postgres.log", self.user)
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self._frozen: list[int] = []  # processes freeze() stopped, in the order it stopped them

    def _run(self, argv: list[str]) -> None:
        as_user = {"user": self.user, "group": self.user, "extra_groups": [], "cwd": "/"} if self.user else {}
        subprocess.run(argv, check=True, capture_output=True, timeout=120, **as_user)

    def start(self) -> None:
        self.server.start()
        wait_until(self.answers, 30, "PostgreSQL to accept connections")

    def answers(self) -> bool:
        with psycopg.connect(self.url, connect_timeout=1) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): what a pod being deleted or a failover does to clients."""
        self.server.signal(signal.SIGINT)
        if self.server.proc is not None:
            self.server.proc.wait(timeout=60)

    def pause(self) -> None:
        """SIGSTOP the postmaster only: new connections are accepted by the kernel and never
        answered, while the backends of open connections (each in a session of its own, setsid)
        keep answering. Use :meth:`freeze` for a server that stops answering altogether."""
        self.server.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.server.signal(signal.SIGCONT)

    def freeze(self) -> list[int]:
        """Stop every process of the server (postmaster, backends, background workers), as
        ``docker pause``, a cgroup freeze or a storage stall does: the kernel still accepts
        connections and acknowledges what clients send, and nothing answers. Returns once each
        process is stopped; the pids it stopped."""
        assert self.server.proc is not None
        postmaster = self.server.proc.pid
        os.kill(postmaster, signal.SIGSTOP)  # first: a stopped postmaster forks no new backend
        wait_until(lambda: _state(postmaster) in ("T", None), 10, "the postmaster to stop", every=0.01)
        self._frozen = [postmaster, *_children(postmaster)]
        for pid in self._frozen[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        # A backend exiting as the server froze stays a zombie (its stopped parent cannot reap it).
        wait_until(lambda: all(_state(pid) in ("T", "t", "Z", None) for pid in self._frozen), 10,
                   "every PostgreSQL process to stop", every=0.01)
        return self._frozen

    def thaw(self) -> None:
        for pid in reversed(self._frozen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    def close(self) -> None:
        self.thaw()  # a stopped backend would hold the postmaster's shutdown
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """Redis with an append-only file (``appendfsync everysec``), as the chart runs it."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.dir = root / "redis"
        self.dir.mkdir()
        self.server = Process("redis", [
            shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--maxmemory-policy", "noeviction",
        ], {"PATH": os.environ.get("PATH", "")}, root / "redis.log")
        self.url = f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server.start()
        wait_until(self.answers, 30, "Redis to answer")

    def answers(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")

    def kill(self) -> None:
        self.server.kill()


@dataclass
class Deployment:
    """The whole fleet; ``with Deployment() as d:`` starts it and always stops it."""

    root: Path
    queues: tuple[str, ...] = ("default", "io_bound", "ml_training")
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Environment of one process only, by name ("api", "beat", "worker-<queue>"): e.g. a queue
    #: whose image carries an atoms package of its own (PYTHONPATH to where it is installed).
    process_env: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict, init=False)
    metrics_ports: dict[str, int] = field(default_factory=dict, init=False)
    api_url: str = field(default="", init=False)
    token: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self.root.mkdir(parents=True, exist_ok=True)
        self.journal = self.root / "journal"
        self.journal.mkdir(exist_ok=True)
        self.postgres = Postgres(self.root)
        self.redis = Redis(self.root)

    # -- life cycle -------------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "atomfleet_orchestrator.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{self.postgres.port}/postgres",
            "REDIS_URL": self.redis.url,
            "ATOMFLEET_BROKER_URL": f"{self.redis.url}/0",
            "ATOMFLEET_SECRET_KEY": "drill-secret-key-" + "x" * 40,
            "ATOMFLEET_DEBUG": "false",
            "ATOMFLEET_LOG_FORMAT": "json",
            "ATOMFLEET_STORAGE_LOCAL_ROOT": str(self.root / "storage"),
            "ATOMFLEET_DIAGNOSTICS_JOURNAL": str(self.journal),
            "PROMETHEUS_MULTIPROC_DIR": str(self.root / "metrics"),
            "PYTHONUNBUFFERED": "1",
            **DRILL_ENV,
            **self.extra_env,
        }
        for name in ("ATOMFLEET_TEST_REDIS_URL", "ATOMFLEET_TEST_DATABASE_URL"):
            env.pop(name, None)
        env.update(extra)
        return env

    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            print(self.logs())
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.postgres.start()
        self.redis.start()
        self.manage("migrate", "--no-input")
        self.register_atoms()
        self.manage("create_tenant", "drill")
        self.token = self.manage("create_token", "drill", "drill").strip().splitlines()[-1]
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        self._spawn("api", [sys.executable, "-m", "atomfleet_orchestrator.cli.main", "api"],
                    ATOMFLEET_API_HOST="127.0.0.1", ATOMFLEET_API_PORT=str(port), ATOMFLEET_API_WORKERS="2",
                    ATOMFLEET_METRICS_PORT=str(free_port()))
        self._spawn("beat", self._celery("beat", f"--schedule={self.root / 'beat-schedule'}",
                                         f"--pidfile={self.root / 'beat.pid'}"))
        for queue in self.queues:
            self.start_worker(queue)
        wait_until(lambda: httpx.get(f"{self.api_url}/readyz", timeout=2).status_code == 200, 60, "the API")
        for queue in self.queues:
            self.wait_worker_ready(queue)
        threading.Thread(target=self._supervise, name="kubelet", daemon=True).start()

    def _supervise(self) -> None:
        """Restart fleet processes that died (a crash, a kill), as the kubelet restarts containers."""
        while not self._closing.wait(1.0):
            with self._lock:
                for process in self.processes.values():
                    if process.wanted and not process.alive:
                        process.restarts += 1
                        process.start()

    def close(self) -> None:
        self._closing.set()
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
        self.redis.server.stop()
        self.postgres.close()

    def logs(self) -> str:
        parts = [f"--- {p.name} ---\n{p.tail()}" for p in [*self.processes.values(), self.redis.server,
                                                            self.postgres.server]]
        return "\n".join(parts)

    # -- processes --------------------------------------------------------------------------
    def _celery(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "atomfleet_orchestrator", *args, "--loglevel=INFO"]

    def _spawn(self, name: str, argv: list[str], **env: str) -> Process:
        process = Process(name, argv, self.env(**{**env, **self.process_env.get(name, {})}), self.root / f"{name}.log")
        process.start()
        self.processes[name] = process
        return process

    def manage(self, *args: str, **env: str) -> str:
        """`atomfleet manage ...` against this deployment, as an operator runs it; its output."""
        done = subprocess.run([sys.executable, "-m", "atomfleet_orchestrator.cli.main", "manage", *args],
                              env=self.env(**env), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"atomfleet manage {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def register_atoms(self, *args: str, **env: str) -> str:
        """The chart's deploy hook (``atomfleet manage register_atoms``), with an image's env."""
        return self.manage("register_atoms", *args, **env)

    def worker_argv(self, queue: str, concurrency: int | None = None, prefetch: int = 1,
                    pool: str = "prefork") -> list[str]:
        """The worker command line of the chart (charts/atomfleet/templates/worker/_worker.tpl)."""
        return self._celery(
            "worker", f"--queues={queue}", f"--hostname={queue}@drill",
            f"--concurrency={concurrency or CONCURRENCY.get(queue, 2)}", f"--prefetch-multiplier={prefetch}",
            f"--pool={pool}", "--without-mingle", "--without-gossip",
        )

    def start_worker(self, queue: str, concurrency: int | None = None, prefetch: int = 1, **env: str) -> Process:
        port = self.metrics_ports.setdefault(queue, free_port())
        return self._spawn(
            f"worker-{queue}", self.worker_argv(queue, concurrency, prefetch), ATOMFLEET_METRICS_PORT=str(port),
            PROMETHEUS_MULTIPROC_DIR=str(self.root / "metrics" / queue),
            ATOMFLEET_PROBE_DIR=str(self.root / "probes" / queue), **env,
        )

    def wait_worker_ready(self, queue: str, timeout: float = 60) -> None:
        process = self.processes[f"worker-{queue}"]

        def ready() -> bool:
            if not process.alive:
                raise AssertionError(f"worker {queue} exited:\n{process.tail()}")
            return (self.root / "probes" / queue / "readiness").exists()

        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {queue} not ready:\n{process.tail()}")
            time.sleep(0.2)

    def replace_worker(self, queue: str, **kwargs: Any) -> None:
        """A new worker pod for ``queue`` (e.g. after a rollout changed its settings)."""
        with self._lock:
            self.processes[f"worker-{queue}"].stop()
            (self.root / "probes" / queue / "readiness").unlink(missing_ok=True)
            self.start_worker(queue, **kwargs)
        self.wait_worker_ready(queue)

    def worker(self, queue: str) -> Process:
        return self.processes[f"worker-{queue}"]

    # -- API and database -------------------------------------------------------------------
    @contextlib.contextmanager
    def client(self, timeout: float = 30) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.api_url, timeout=timeout,
                          headers={"Authorization": f"Bearer {self.token}"}) as client:
            yield client

    def submit(self, client: httpx.Client, atom: str, args: dict[str, Any]) -> str:
        response = client.post(f"/api/v1/atoms/{atom}/runs", json={"args": args})
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def rows(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Run rows read straight from PostgreSQL (reading only)."""
        ids = list(run_ids)
        with psycopg.connect(self.postgres.url, connect_timeout=5) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT id::text, status, attempts, max_attempts, error_code, error_message, dispatch_count, "
                "started_at, finished_at, worker FROM runs_atomrun WHERE id::text = ANY(%s)", (ids,))
            columns = [d.name for d in cur.description or ()]
            return {row[0]: dict(zip(columns, row, strict=True)) for row in cur.fetchall()}

    def wait_terminal(self, run_ids: Iterable[str], timeout: float) -> dict[str, dict[str, Any]]:
        ids = list(run_ids)
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows(ids)
            pending = [i for i in ids if rows.get(i, {}).get("status") not in TERMINAL]
            if not pending:
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(pending)} run(s) not terminal after {timeout:g}s: "
                    f"{[rows.get(i) for i in pending[:5]]}\n{self.logs()}"
                )
            time.sleep(0.3)

    # -- workflows ----------------------------------------------------------------------------
    def submit_workflow(self, client: httpx.Client, body: dict[str, Any]) -> str:
        response = client.post("/api/v1/workflows", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def _select(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.postgres.url, connect_timeout=5) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            columns = [d.name for d in cur.description or ()]
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]

    def workflows(self, workflow_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Workflow rows read straight from PostgreSQL (reading only)."""
        rows = self._select(
            "SELECT id::text, status, on_failure, open_steps, cancel_requested, error_step, error_code, "
            "created_at, finished_at FROM workflows_workflow WHERE id::text = ANY(%s)", list(workflow_ids))
        return {row["id"]: row for row in rows}

    def workflow_steps(self, workflow_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Each workflow's steps in submit order, with their current run (``run_*``; None: no run)."""
        rows = self._select(
            "SELECT s.workflow_id::text AS workflow, s.name, s.position, s.parents, s.run_if, s.state, "
            "s.waiting_on, s.run_id::text AS run, r.status AS run_status, r.attempts AS run_attempts, "
            "r.error_code AS run_error_code, r.created_at AS run_created_at, r.started_at AS run_started_at, "
            "r.finished_at AS run_finished_at FROM workflows_workflowstep s "
            "LEFT JOIN runs_atomrun r ON r.id = s.run_id WHERE s.workflow_id::text = ANY(%s) "
            "ORDER BY s.workflow_id, s.position", list(workflow_ids))
        out: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row["workflow"], []).append(row)
        return out

    def workflow_runs(self, workflow_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Every run each workflow ever had (runs a retry replaced included), oldest first."""
        rows = self._select(
            "SELECT workflow_id::text AS workflow, id::text, step, status, attempts, created_at, finished_at "
            "FROM runs_atomrun WHERE workflow_id::text = ANY(%s) ORDER BY created_at, id", list(workflow_ids))
        out: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row["workflow"], []).append(row)
        return out

    def wait_workflows_terminal(self, workflow_ids: Iterable[str], timeout: float) -> dict[str, dict[str, Any]]:
        ids = list(workflow_ids)
        deadline = time.monotonic() + timeout
        while True:
            rows = self.workflows(ids)
            pending = [i for i in ids if rows.get(i, {}).get("status") not in TERMINAL]
            if not pending:
                return rows
            if time.monotonic() > deadline:
                steps = self.workflow_steps(pending[:3])
                raise AssertionError(
                    f"{len(pending)} workflow(s) not terminal after {timeout:g}s: "
                    f"{[(rows.get(i), steps.get(i)) for i in pending[:3]]}\n{self.logs()}"
                )
            time.sleep(0.3)

    def workflow_endings(self) -> Counter[str]:
        """How many times each workflow ended, by the log line the engine writes once its ending
        committed (every fleet process's log; logs survive restarts, unlike metric files)."""
        endings: Counter[str] = Counter()
        for log in self.root.glob("*.log"):
            for line in log.read_text(errors="replace").splitlines():
                if '"workflow ' not in line:
                    continue
                with contextlib.suppress(ValueError):
                    found = _ENDED.match(json.loads(line).get("message", ""))
                    if found:
                        endings[found.group(1)] += 1
        return endings

    def executions(self, run_id: str) -> list[Execution]:
        """Every execution of the run the diagnostics journal saw, in start order."""
        path = self.journal / f"{run_id}.jsonl"
        if not path.exists():
            return []
        seen: dict[tuple[int, int], Execution] = {}
        for line in path.read_text().splitlines():
            event = json.loads(line)
            key = (event["attempt"], event["pid"])
            found = seen.setdefault(key, Execution(event["attempt"], event["at"], event["at"]))
            found.last = max(found.last, event["at"])
            found.ended = found.ended or event["event"] == "end"
        return sorted(seen.values(), key=lambda e: e.start)

    def metrics(self, queue: str) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_ports[queue]}/metrics", timeout=5).text


@dataclass
class Execution:
    """One execution of a run as its journal shows it: started, last seen alive, ended normally."""

    attempt: int
    start: float
    last: float
    ended: bool = False


def overlapping(executions: list[Execution]) -> bool:
    """Whether two executions of one run were alive at the same time."""
    alive_until = float("-inf")
    for execution in sorted(executions, key=lambda e: e.start):
        if execution.start < alive_until:
            return True
        alive_until = max(alive_until, execution.last)
    return False


def restarted_after_loss(executions: list[Execution]) -> bool:
    """Whether an execution that never ended (killed, lost) was followed by another one."""
    ordered = sorted(executions, key=lambda e: e.start)
    return any(not earlier.ended for earlier in ordered[:-1])
