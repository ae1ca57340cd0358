"""The events process's one reader of the event table, fanned out to every open stream.

One loop per process reads new final events (``events.read.page``, below the horizon) into a
bounded in-memory window, indexed by what streams follow — a run, a workflow, or a whole tenant —
and wakes only the streams whose key got an event: a thousand streams that each follow a quiet run
cost nothing per event (the scan of a global window by every stream on every read was what held
an event's delivery back under load). Each stream filters its key's events for itself. A
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

Key = tuple[str, object]  # ("run", uuid) | ("workflow", uuid) | ("tenant", id)


def stream_key(filters: Filters) -> Key:
    """The narrowest index of the window that holds every event the stream may want."""
    if filters.run_id is not None:
        return ("run", filters.run_id)
    if filters.workflow_id is not None:
        return ("workflow", filters.workflow_id)
    return ("tenant", filters.tenant_id)


def _keys(event: Event) -> list[Key]:
    keys: list[Key] = [("tenant", event.tenant_id)]
    if event.run_id is not None:
        keys.append(("run", event.run_id))
    if event.workflow_id is not None:
        keys.append(("workflow", event.workflow_id))
    return keys


class _Keyed:
    """The window's events of one key, in id order."""

    __slots__ = ("events", "ids")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.events: list[Event] = []


class Hub:
    def __init__(self) -> None:
        self.cursor = -1  # every final event with id <= cursor has been read (-1: not started)
        self.floor = -1  # the window holds every event with floor < id <= cursor
        self.events: list[Event] = []
        self.ids: list[int] = []
        self.keyed: dict[Key, _Keyed] = {}
        self.closing = False
        self.streams = 0
        self.last_read = 0.0  # monotonic time of the last successful read (readiness)
        self.listening = False
        self._wake = asyncio.Event()
        self._ticks: dict[Key, asyncio.Event] = {}  # one per key some stream waits on
        self._followers: dict[Key, int] = {}  # streams open per key
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
        self._advance(list(self._ticks))
        for task in self._tasks:
            task.cancel()

    def _advance(self, keys: list[Key]) -> None:
        for key in keys:
            tick = self._ticks.pop(key, None)
            if tick is not None:
                tick.set()

    def _tick(self, key: Key) -> asyncio.Event:
        tick = self._ticks.get(key)
        if tick is None:
            tick = self._ticks[key] = asyncio.Event()
        return tick

    def _add(self, rows: list[Event]) -> set[Key]:
        touched: set[Key] = set()
        for event in rows:
            for key in _keys(event):
                keyed = self.keyed.get(key)
                if keyed is None:
                    keyed = self.keyed[key] = _Keyed()
                keyed.ids.append(event.id)
                keyed.events.append(event)
                touched.add(key)
        self.events += rows
        self.ids += [e.id for e in rows]
        return touched

    def _trim(self) -> None:
        """Drop the oldest half when the window is twice its size (each key loses its oldest)."""
        drop = len(self.events) - WINDOW
        counts: dict[Key, int] = {}
        for event in self.events[:drop]:
            for key in _keys(event):
                counts[key] = counts.get(key, 0) + 1
        for key, count in counts.items():
            keyed = self.keyed[key]
            del keyed.ids[:count], keyed.events[:count]
            if not keyed.ids:
                del self.keyed[key]
        self.floor = self.ids[drop - 1]
        del self.events[:drop], self.ids[:drop]

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
            touched = self._add(rows) if rows else set()
            # Below the horizon every id is final: the cursor moves up to it even with no event.
            new_cursor = rows[-1].id if len(rows) == _READ_BATCH else max(self.cursor, (bound - 1) if bound is not None else (rows[-1].id if rows else self.cursor))
            self.cursor = new_cursor
            if len(self.events) > 2 * WINDOW:
                self._trim()
            # Only streams with an event wake: the others' positions move on when they next look.
            self._advance(list(touched))
            if len(rows) < _READ_BATCH:
                return

    # -- one stream ----------------------------------------------------------------------------

    async def follow(self, after: int, filters: Filters, keepalive: float) -> AsyncIterator[list[Event] | None]:
        """Yield lists of this stream's events (``None``: nothing for ``keepalive`` seconds) until closing."""
        position = after
        key = stream_key(filters)
        self._followers[key] = self._followers.get(key, 0) + 1
        try:
            async for batch in self._follow(key, position, filters, keepalive):
                yield batch
        finally:
            left = self._followers[key] - 1
            if left:
                self._followers[key] = left
            else:  # nobody waits on this key any more: forget its wake-up
                del self._followers[key]
                self._ticks.pop(key, None)

    async def _follow(self, key: Key, position: int, filters: Filters,
                      keepalive: float) -> AsyncIterator[list[Event] | None]:
        while not self.closing:
            tick = self._tick(key)
            if self.cursor < 0:
                batch: list[Event] = []
            elif position >= self.floor:
                # The key's events are every event of the window the stream may want: past them,
                # everything up to the cursor has been looked at.
                keyed = self.keyed.get(key)
                start = bisect.bisect_right(keyed.ids, position) if keyed else 0
                batch = [e for e in keyed.events[start:] if filters.matches(e)] if keyed else []
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
