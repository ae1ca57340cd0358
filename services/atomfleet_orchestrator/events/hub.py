"""The events process's one reader of the event table, fanned out to every open stream.

One loop per process reads new final events (``events.read.page``, below the horizon) into a
bounded in-memory window and wakes the streams; each stream filters the window for itself. A
stream resuming from further back than the window reads its own catch-up pages from the table,
bounded by what the hub has read, then joins the window: no gap between the two, no duplicate.

Wake-ups: ``LISTEN atomfleet_events`` on one async psycopg connection (``events.log`` notifies on
commit), plus a read every ATOMFLEET_EVENTS_POLL_SECONDS whatever happens (SQLite, a lost LISTEN
connection, a NOTIFY dropped by a restart): notifications only make it faster, never correct.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection

from atomfleet_orchestrator.events.log import CHANNEL
from atomfleet_orchestrator.events.models import Event
from atomfleet_orchestrator.events.read import Filters, horizon, page

__all__ = ["Hub", "hub"]

log = logging.getLogger(__name__)

_READ_BATCH = 1000
WINDOW = 20_000  # events kept in memory; streams further behind read the table


def _read(after: int, filters: Filters | None, limit: int, below: int | None) -> tuple[list[Event], int | None]:
    close_old_connections()  # a connection broken by a database restart is replaced, not reused
    try:
        bound = horizon() if below is None else below
        return page(after, filters, limit, below=bound), bound
    except Exception:
        connection.close()
        raise


read_table = sync_to_async(_read, thread_sensitive=False)


class Hub:
    def __init__(self) -> None:
        self.cursor = -1  # every final event with id <= cursor has been read (-1: not started)
        self.floor = -1  # the window holds every event with floor < id <= cursor
        self.events: list[Event] = []
        self.ids: list[int] = []
        self.closing = False
        self.streams = 0
        self.last_read = 0.0  # monotonic time of the last successful read (readiness)
        self.listening = False
        self._wake = asyncio.Event()
        self._tick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the process -------------------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(self._read_loop())]
        if connection.vendor == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen_loop()))

    def close(self) -> None:
        """Shutdown: every stream ends now (clients resume on another replica)."""
        self.closing = True
        self._advance()
        for task in self._tasks:
            task.cancel()

    def _advance(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def _listen_loop(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        for key in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(key, None)
        while not self.closing:
            try:
                conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening = True
                    self._wake.set()  # anything committed while not listening is read now
                    async for _ in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("events: LISTEN connection lost (%s); polling until it is back", exc)
            self.listening = False
            await asyncio.sleep(1)

    async def _read_loop(self) -> None:
        poll = settings.ATOMFLEET_EVENTS_POLL_SECONDS
        while not self.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)
            self._wake.clear()
            try:
                await self.read_new()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("events: reading the event table failed: %s", exc)
                await asyncio.sleep(min(poll, 1))

    async def read_new(self) -> None:
        if self.cursor < 0:
            # Start at the horizon: older events are read by the streams that ask for them.
            _, bound = await read_table(0, None, 0, None)
            self.cursor = self.floor = (bound - 1) if bound is not None else await sync_to_async(_max_id)()
        while True:
            rows, bound = await read_table(self.cursor, None, _READ_BATCH, None)
            self.last_read = time.monotonic()
            if rows:
                self.events += rows
                self.ids += [e.id for e in rows]
            # Below the horizon every id is final: the cursor moves up to it even with no event.
            new_cursor = rows[-1].id if len(rows) == _READ_BATCH else max(self.cursor, (bound - 1) if bound is not None else (rows[-1].id if rows else self.cursor))
            moved = new_cursor != self.cursor
            self.cursor = new_cursor
            if len(self.events) > 2 * WINDOW:
                drop = len(self.events) - WINDOW
                self.floor = self.ids[drop - 1]
                del self.events[:drop], self.ids[:drop]
            if moved:
                self._advance()
            if len(rows) < _READ_BATCH:
                return

    # -- one stream ----------------------------------------------------------------------------

    async def follow(self, after: int, filters: Filters, keepalive: float) -> AsyncIterator[list[Event] | None]:
        """Yield lists of this stream's events (``None``: nothing for ``keepalive`` seconds) until closing."""
        position = after
        while not self.closing:
            tick = self._tick
            if self.cursor < 0:
                batch: list[Event] = []
            elif position >= self.floor:
                start = bisect.bisect_right(self.ids, position)
                batch = [e for e in self.events[start:] if filters.matches(e)]
                position = max(position, self.cursor)
            else:  # behind the window: catch up from the table, up to what the hub had read
                read_up_to = self.cursor
                batch, _ = await read_table(position, filters, 500, read_up_to + 1)
                position = batch[-1].id if len(batch) == 500 else read_up_to
            if batch:
                yield batch
                continue
            try:
                await asyncio.wait_for(tick.wait(), keepalive)
            except TimeoutError:
                yield None


def _max_id() -> int:
    close_old_connections()
    return int(Event.objects.order_by("-id").values_list("id", flat=True).first() or 0)


hub = Hub()
