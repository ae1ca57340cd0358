"""What every bench part shares: processes in their own groups, throwaway databases, figures.

Stdlib + psycopg only, so a part can use it before Django is configured.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import psycopg

__all__ = [
    "REPO",
    "Figure",
    "Process",
    "database_url",
    "env_int",
    "free_port",
    "load_average",
    "machine",
    "markdown_table",
    "percentile",
    "redis_url",
    "stop_on_sigterm",
    "throwaway_database",
    "wait_for",
]

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def env_int(name: str, default: int) -> int:
    """An argparse default that ``make bench BENCH_N=200`` (or the environment) can change."""
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05,
             alive: Callable[[], None] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- where the services are ---------------------------------------------------------------------
def redis_url(db: int) -> str:
    """Same server as the test suite (``ATOMFLEET_TEST_REDIS_URL``), a DB of the bench's own."""
    base = os.environ.get("ATOMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{db}"))


def database_url(name: str) -> str:
    """Same PostgreSQL server as the test suite (``ATOMFLEET_TEST_DATABASE_URL``), database ``name``."""
    base = os.environ.get("ATOMFLEET_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


@contextlib.contextmanager
def throwaway_database(name: str, keep: bool = False) -> Iterator[str]:
    """Create ``name`` afresh (dropping a leftover of an interrupted run), drop it afterwards."""
    if not name.startswith("atomfleet_bench"):
        raise ValueError(f"refusing to manage database {name!r}: bench databases are atomfleet_bench*")

    def admin(sql: str) -> None:
        with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        if not keep:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- processes ------------------------------------------------------------------------------------
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Child side of fork: get SIGTERM if the bench process dies (even by SIGKILL), then own group.

    The bench starts every process from its main thread, which lives as long as the bench does.
    """
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Process:
    """One fleet process (and what it forks) in its own process group, output in a log file."""

    name: str
    argv: Sequence[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)

    def start(self) -> Process:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            list(self.argv), env=self.env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the whole group (warm shutdown), SIGKILL what is left after ``timeout``."""
        proc = self.proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
            # The group outlives its leader when a child lingers: sweep it either way.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


def stop_on_sigterm() -> None:
    """SIGTERM (a supervisor, pytest's timeout) unwinds like Ctrl-C, so every ``finally`` stops its processes."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run_main(main: Callable[[], int]) -> NoReturn:
    """A bench's entry point: its exit code, or 130 after Ctrl-C/SIGTERM once every process stopped."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every process was stopped", file=sys.stderr)
        sys.exit(130)


# -- figures --------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Figure:
    """One figure measured once per repetition: printed as median [min–max]."""

    unit: str
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> float:
        self.values.append(value)
        return value

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def cell(self, digits: int = 1) -> str:
        if not self.values:
            return "—"
        med = f"{self.median:.{digits}f} {self.unit}"
        if len(self.values) == 1:
            return med
        return f"{med} [{min(self.values):.{digits}f}–{max(self.values):.{digits}f}]"


def ratio(numerator: float, denominator: float, digits: int = 2, suffix: str = "") -> str:
    if not denominator or numerator != numerator or denominator != denominator:
        return "—"
    return f"{numerator / denominator:.{digits}f}{suffix}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), "| " + " | ".join("-" * w for w in widths) + " |", *map(line, rows)])


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    """One line on what ran the figures (they mean nothing without it)."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    return (f"{os.cpu_count()} CPUs ({model}), load average {load_average()} at start, "
            f"Python {sys.version.split()[0]}")
