"""Counters around one end-to-end run: work per run that a noisy neighbour hardly changes.

Redis: ``INFO commandstats`` of the bench's Redis server (every DB; the other path idles meanwhile).
PostgreSQL: ``pg_stat_database`` of the bench database (transactions, sessions = connections
opened, rows written). Backends flush their statistics up to ~10 s late when they go idle, so the
closing snapshot waits for that.
CPU: user + system time of each fleet process group (live processes plus reaped children), of this
process (the clients), of the Redis server (``INFO cpu``) and of the whole PostgreSQL server (every
``postgres`` process plus the backends the postmaster reaped — other databases' work included).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

__all__ = ["PG_FLUSH_WAIT_S", "Snapshot", "per_item", "snapshot", "wait_for_pg_flush"]

PG_FLUSH_WAIT_S = 11.0  # PGSTAT_IDLE_INTERVAL (10 s) and a margin
_PG_COLUMNS = ("xact_commit", "xact_rollback", "sessions", "tup_inserted", "tup_updated", "tup_deleted")


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stats() -> list[tuple[int, int, str, float]]:
    """(pid, process group, command, CPU seconds incl. reaped children) of every process."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # after "pid (comm) ": state ppid pgrp ... utime(12) stime(13) cutime(14) cstime(15)
        cpu = sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICK
        out.append((int(entry.name), int(fields[2]), comm, cpu))
    return out


def cpu_seconds(groups: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process group, of this process and of PostgreSQL."""
    stats = _proc_stats()
    cpu = {name: sum(c for _, pgrp, _, c in stats if pgrp == pgid) for name, pgid in groups.items()}
    times = os.times()
    cpu["bench clients (this process)"] = times.user + times.system
    cpu["PostgreSQL server (whole)"] = sum(c for _, _, comm, c in stats if comm in ("postgres", "postmaster"))
    return cpu


@dataclass(frozen=True)
class Snapshot:
    redis_commands: Counter[str]
    pg: dict[str, int]
    cpu: dict[str, float] = field(default_factory=dict)

    def __sub__(self, other: Snapshot) -> Snapshot:
        commands = Counter(self.redis_commands)
        commands.subtract(other.redis_commands)
        return Snapshot(+commands, {k: v - other.pg.get(k, 0) for k, v in self.pg.items()},
                        {k: v - other.cpu.get(k, 0.0) for k, v in self.cpu.items()})


def snapshot(redis_url: str, database_url: str | None = None, groups: Mapping[str, int] | None = None) -> Snapshot:
    client = redis.Redis.from_url(redis_url)
    stats = client.info("commandstats")
    commands = Counter({name.removeprefix("cmdstat_").upper(): int(v["calls"]) for name, v in stats.items()})
    cpu = cpu_seconds(groups or {})
    server = client.info("cpu")
    cpu["Redis server"] = float(server["used_cpu_user"]) + float(server["used_cpu_sys"])
    pg: dict[str, int] = {}
    if database_url is not None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(
                f"SELECT {', '.join(_PG_COLUMNS)} FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        pg = dict(zip(_PG_COLUMNS, (int(v or 0) for v in row or ()), strict=False))
    # The snapshot's own commands and transaction are counted too; against thousands of runs
    # they are noise, and they cancel between two snapshots.
    return Snapshot(commands, pg, cpu)


def wait_for_pg_flush() -> None:
    time.sleep(PG_FLUSH_WAIT_S)


def per_item(delta: Snapshot, items: int, top: int = 8) -> dict[str, str]:
    """Cells of the cost table: totals per run and the most used Redis commands."""
    total = sum(delta.redis_commands.values())
    cells = {"redis": f"{total / items:.1f}",
             "redis_top": ", ".join(f"{name} {calls / items:.1f}" for name, calls in delta.redis_commands.most_common(top))}
    for name, seconds in delta.cpu.items():
        cells[f"cpu:{name}"] = f"{seconds * 1000 / items:.2f}"
    if delta.pg:
        cells["pg_xact"] = f"{(delta.pg['xact_commit'] + delta.pg['xact_rollback']) / items:.1f}"
        cells["pg_sessions"] = f"{delta.pg['sessions'] / items:.2f}"
        cells["pg_rows"] = (f"{delta.pg['tup_inserted'] / items:.1f} / {delta.pg['tup_updated'] / items:.1f} / "
                            f"{delta.pg['tup_deleted'] / items:.1f}")
    return cells
