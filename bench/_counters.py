"""Server-side counters around one end-to-end run: work per run that no noisy neighbour changes.

Redis: ``INFO commandstats`` of the bench's Redis server (every DB; the other path idles meanwhile).
PostgreSQL: ``pg_stat_database`` of the bench database (transactions, sessions = connections
opened, rows written). Backends flush their statistics up to ~10 s late when they go idle, so the
closing snapshot waits for that.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import psycopg
import redis

__all__ = ["PG_FLUSH_WAIT_S", "Snapshot", "per_item", "snapshot", "wait_for_pg_flush"]

PG_FLUSH_WAIT_S = 11.0  # PGSTAT_IDLE_INTERVAL (10 s) and a margin
_PG_COLUMNS = ("xact_commit", "xact_rollback", "sessions", "tup_inserted", "tup_updated", "tup_deleted")


@dataclass(frozen=True)
class Snapshot:
    redis_commands: Counter[str]
    pg: dict[str, int]

    def __sub__(self, other: Snapshot) -> Snapshot:
        commands = Counter(self.redis_commands)
        commands.subtract(other.redis_commands)
        return Snapshot(+commands, {k: v - other.pg.get(k, 0) for k, v in self.pg.items()})


def snapshot(redis_url: str, database_url: str | None = None) -> Snapshot:
    stats = redis.Redis.from_url(redis_url).info("commandstats")
    commands = Counter({name.removeprefix("cmdstat_").upper(): int(v["calls"]) for name, v in stats.items()})
    pg: dict[str, int] = {}
    if database_url is not None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(
                f"SELECT {', '.join(_PG_COLUMNS)} FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        pg = dict(zip(_PG_COLUMNS, (int(v or 0) for v in row or ()), strict=False))
    # The snapshot's own commands and transaction are counted too; against thousands of runs
    # they are noise, and they cancel between two snapshots.
    return Snapshot(commands, pg)


def wait_for_pg_flush() -> None:
    time.sleep(PG_FLUSH_WAIT_S)


def per_item(delta: Snapshot, items: int, top: int = 8) -> dict[str, str]:
    """Cells of the cost table: totals per run and the most used Redis commands."""
    total = sum(delta.redis_commands.values())
    cells = {"redis": f"{total / items:.1f}",
             "redis_top": ", ".join(f"{name} {calls / items:.1f}" for name, calls in delta.redis_commands.most_common(top))}
    if delta.pg:
        cells["pg_xact"] = f"{(delta.pg['xact_commit'] + delta.pg['xact_rollback']) / items:.1f}"
        cells["pg_sessions"] = f"{delta.pg['sessions'] / items:.2f}"
        cells["pg_rows"] = (f"{delta.pg['tup_inserted'] / items:.1f} / {delta.pg['tup_updated'] / items:.1f} / "
                            f"{delta.pg['tup_deleted'] / items:.1f}")
    return cells
