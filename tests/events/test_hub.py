"""The events process's window, indexed by what streams follow: only streams whose run, workflow
or tenant got an event wake, and trimming keeps every key's index in step with the window."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from atomfleet_orchestrator.events import hub as hub_module
from atomfleet_orchestrator.events.hub import Hub, stream_key
from atomfleet_orchestrator.events.models import Event
from atomfleet_orchestrator.events.read import Filters

RUN_A, RUN_B, FLOW = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def _event(id: int, run: uuid.UUID | None, workflow: uuid.UUID | None = None, tenant: int = 1) -> Event:
    return Event(id=id, tenant_id=tenant, type="run.progress", run_id=run, workflow_id=workflow, data={},
                 created_at=datetime.now(UTC))


def test_an_event_wakes_only_the_streams_of_its_run_workflow_and_tenant() -> None:
    hub = Hub()
    keys = [stream_key(Filters(1, run_id=RUN_A)), stream_key(Filters(1, run_id=RUN_B)),
            stream_key(Filters(1, workflow_id=FLOW)), stream_key(Filters(1)), stream_key(Filters(2))]
    ticks = [hub._tick(key) for key in keys]
    hub._advance(list(hub._add([_event(1, RUN_A, FLOW)])))
    assert [t.is_set() for t in ticks] == [True, False, True, True, False]


def test_trimming_keeps_each_keys_events_in_step_with_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "WINDOW", 3)
    hub = Hub()
    hub._add([_event(i, RUN_A if i % 2 else RUN_B) for i in range(1, 8)])  # 7 > 2 x 3
    hub._trim()
    assert hub.ids == [5, 6, 7] and hub.floor == 4
    assert hub.keyed[("run", RUN_A)].ids == [5, 7] and hub.keyed[("run", RUN_B)].ids == [6]
    assert hub.keyed[("tenant", 1)].ids == [5, 6, 7]


def test_a_stream_reads_its_keys_events_after_its_position_and_forgets_its_wake_up_when_it_ends() -> None:
    async def scenario() -> tuple[list[list[int]], bool]:
        hub = Hub()
        hub.cursor, hub.floor = 0, 0
        hub._add([_event(1, RUN_A), _event(2, RUN_B), _event(3, RUN_A)])
        hub.cursor = 3
        seen: list[list[int]] = []
        stream = hub.follow(1, Filters(1, run_id=RUN_A), keepalive=0.05)
        batch = await anext(stream)
        seen.append([e.id for e in batch or []])
        assert await anext(stream) is None  # nothing new for its run: a keep-alive
        await stream.aclose()
        return seen, ("run", RUN_A) in hub._ticks or ("run", RUN_A) in hub._followers

    seen, remembered = asyncio.run(scenario())
    assert seen == [[3]] and not remembered
