"""The SSE stream served by the real events process (``atomfleet events``) beside the real API."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.db import connection, transaction

from atomfleet.client import Client, Event, Unauthenticated
from atomfleet_orchestrator.events.log import emit
from atomfleet_orchestrator.events.models import EventType
from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant
from tests.support.live_api import ApiServer, LiveTenant
from tests.support.live_events import KEEPALIVE_SECONDS, STREAM_TOKEN_SECONDS, EventsServer

pytestmark = [pytest.mark.fleet, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


class Writers:
    """Threads emitting numbered events for one tenant, several per transaction at times."""

    def __init__(self, tenant_id: int, threads: int = 3, per_thread: int = 150, pause: float = 0.002) -> None:
        self.tenant_id, self.expected = tenant_id, threads * per_thread
        self._threads = [threading.Thread(target=self._write, args=(w, per_thread, pause)) for w in range(threads)]

    def _write(self, w: int, count: int, pause: float) -> None:
        i = 0
        while i < count:
            with transaction.atomic():
                for _ in range(1 + (i % 3 == 0)):  # every third transaction writes two events
                    if i < count:
                        emit(EventType.RUN_PROGRESS, tenant_id=self.tenant_id, run_id=uuid.uuid4(), data={"n": w * 100000 + i})
                        i += 1
            time.sleep(pause)
        connection.close()

    def __enter__(self) -> Writers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for t in self._threads:
            t.join(60)


def _collect(events: Iterator[Event], count: int) -> list[Event]:
    """The next ``count`` events (the test's timeout bounds the wait)."""
    seen: list[Event] = []
    for event in events:
        seen.append(event)
        if len(seen) >= count:
            break
    return seen


def _assert_once_in_order(seen: list[Event], expected: int) -> None:
    numbers = [e.data["n"] for e in seen]
    assert len(numbers) == expected, f"{len(numbers)} events, expected {expected}"
    assert len(set(numbers)) == expected, "an event was delivered twice"
    assert [e.id for e in seen] == sorted({e.id for e in seen}), "events out of order"


def test_reconnecting_with_last_event_id_under_load_sees_every_event_once_in_order(
    live_events: EventsServer, live_tenant: LiveTenant
) -> None:
    """The client drops its stream every 40 events and opens a new one with Last-Event-ID while
    three writers commit 450 events (concurrent transactions, some with two events)."""
    seen: list[Event] = []
    with Client(live_events.url, live_tenant.token) as client, Writers(live_tenant.tenant.id) as writers:
        last = 0
        reconnects = 0
        started = time.monotonic()
        while len(seen) < writers.expected and time.monotonic() - started < 60:
            want = min(40, writers.expected - len(seen))
            batch = _collect(client.events(after=last, types=["run.progress"]), want)
            seen += batch
            last = batch[-1].id if batch else last
            reconnects += 1
    _assert_once_in_order(seen, writers.expected)
    assert reconnects >= 10


def test_the_events_process_restarted_mid_stream_the_client_resumes_with_no_gap(
    live_api: ApiServer, live_tenant: LiveTenant, tmp_path: Any
) -> None:
    server = EventsServer(tmp_path, live_api)
    server.start()
    seen: list[Event] = []
    restarted = threading.Event()
    stopped_in: list[float] = []
    try:
        with Client(server.url, live_tenant.token) as client, Writers(live_tenant.tenant.id, per_thread=200, pause=0.005) as writers:
            def restart() -> None:
                while len(seen) < 100:
                    time.sleep(0.01)
                began = time.monotonic()
                # SIGTERM: streams end at once (uvicorn re-raises the signal once it has stopped),
                # not after uvicorn's graceful-shutdown timeout (5 s).
                assert server.stop() == -signal.SIGTERM
                stopped_in.append(time.monotonic() - began)
                server.start()
                restarted.set()

            restarter = threading.Thread(target=restart, daemon=True)
            restarter.start()
            seen += _collect(client.events(after=0, types=["run.progress"], give_up_after=30), writers.expected)
            restarter.join(30)
    finally:
        server.stop()
    assert restarted.is_set() and stopped_in[0] < 3, stopped_in
    assert "Cancel" not in server.tail(200)  # no stream was left for uvicorn to cancel
    _assert_once_in_order(seen, writers.expected)


def test_stream_speaks_sse_with_ids_keepalives_and_resumes_from_last_event_id(
    live_events: EventsServer, live_tenant: LiveTenant
) -> None:
    tenant_id = live_tenant.tenant.id
    for n in range(3):
        emit(EventType.RUN_PROGRESS, tenant_id=tenant_id, run_id=uuid.uuid4(), data={"n": n})
    headers = {"Authorization": f"Bearer {live_tenant.token}"}
    lines: list[str] = []
    with httpx.stream("GET", f"{live_events.url}/api/v1/events/stream", headers=headers, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        started = time.monotonic()
        for line in response.iter_lines():
            lines.append(line)
            if line == ": keep-alive":
                break
        waited = time.monotonic() - started
    ids = [int(line[4:]) for line in lines if line.startswith("id: ")]
    assert len(ids) == 3 and ids == sorted(ids)
    assert waited < KEEPALIVE_SECONDS * 6
    # Resume after the first: exactly the other two.
    resumed: list[str] = []
    with httpx.stream("GET", f"{live_events.url}/api/v1/events/stream",
                      headers=headers | {"Last-Event-ID": str(ids[0])}, timeout=10) as response:
        for line in response.iter_lines():
            if line.startswith("id: "):
                resumed.append(line)
            if line == ": keep-alive":
                break
    assert resumed == [f"id: {i}" for i in ids[1:]]


def test_stream_tokens_are_scoped_to_tenant_and_filters_and_expire(
    live_api: ApiServer, live_events: EventsServer, live_tenant: LiveTenant
) -> None:
    other = Tenant.objects.create(slug=f"other-{uuid.uuid4().hex[:6]}")
    _, other_token = ApiToken.issue(other, "svc")
    mine, not_mine = uuid.uuid4(), uuid.uuid4()
    answer = httpx.post(f"{live_api.url}/api/v1/events/stream-token", json={"run": str(mine)},
                        headers={"Authorization": f"Bearer {live_tenant.token}"})
    assert answer.status_code == 201, answer.text
    token = answer.json()["token"]
    issued = time.monotonic()
    tid = live_tenant.tenant.id
    emit(EventType.RUN_STARTED, tenant_id=tid, run_id=not_mine, data={"n": 0})
    emit(EventType.RUN_STARTED, tenant_id=other.id, run_id=mine, data={"n": 1})  # same run id, other tenant
    emit(EventType.RUN_STARTED, tenant_id=tid, run_id=mine, data={"n": 2})

    # EventSource's way: no header, the token in the URL, filters taken from the token.
    with Client(live_events.url, "not-a-token") as anonymous:
        anonymous._http.headers.pop("Authorization")
        url = f"{live_events.url}/api/v1/events/stream?token={token}&after=0"
        with anonymous._http.stream("GET", url, timeout=10) as response:
            assert response.headers["access-control-allow-origin"] == "*"
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                if line == ": keep-alive":
                    break
    data = [line for line in lines if line.startswith("data: ")]
    assert len(data) == 1 and '"n":2' in data[0]

    # The other tenant's API token sees only its own event.
    with Client(live_events.url, other_token) as theirs:
        assert [e.data["n"] for e in _collect(theirs.events(after=0), 1)] == [1]

    bad = httpx.get(f"{live_events.url}/api/v1/events/stream", params={"token": token[:-2] + "xx"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_token"
    time.sleep(max(0.0, STREAM_TOKEN_SECONDS + 1 - (time.monotonic() - issued)))
    expired = httpx.get(f"{live_events.url}/api/v1/events/stream", params={"token": token})
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"
    with Client(live_events.url, "wrong") as wrong, pytest.raises(Unauthenticated):
        next(iter(wrong.events()))
