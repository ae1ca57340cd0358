"""``Client`` and ``AsyncClient`` against the live fleet: gunicorn API, celery workers, beat."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from atomfleet.client import (
    AsyncClient,
    BadRequest,
    BatchItem,
    Client,
    Conflict,
    NotFound,
    Run,
    Unauthenticated,
)
from tests.support.live_api import ApiServer, LiveTenant

pytestmark = [pytest.mark.fleet, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

CSV = b"id,age\n1,30\n2,130\n"
COLUMNS = [{"name": "id", "type": "integer"}, {"name": "age", "type": "integer", "max": 120}]


@pytest.fixture
def client(live_api: ApiServer, live_tenant: LiveTenant) -> Any:
    with Client(live_api.url, live_tenant.token) as fleet:
        yield fleet


@pytest.mark.usefixtures("worker_fleet")
def test_submit_wait_result_and_download_an_artifact(client: Client, tmp_path: Path) -> None:
    run = client.submit("forecast.autoregressive", {"series": [1, 2, 3, 4, 5, 6, 7], "order": 1, "horizon": 2},
                        idempotency_key="forecast-1")
    assert isinstance(run, Run) and run.queue == "ml_training" and not run.is_terminal
    assert client.submit("forecast.autoregressive", {"series": [1, 2, 3, 4, 5, 6, 7], "order": 1, "horizon": 2},
                         idempotency_key="forecast-1").id == run.id
    seen: list[str] = []
    finished = client.wait(run.id, timeout=120, on_update=lambda r: seen.append(r.status))
    assert finished.succeeded and finished.finished_at is not None and seen[-1] == "succeeded"
    result = client.result(run.id)
    assert result.result["forecast"] == pytest.approx([8.0, 9.0])
    path = client.download_path(result.artifact("model.json"), tmp_path)
    assert json.loads(path.read_text())["order"] == 1


@pytest.mark.usefixtures("worker_fleet")
def test_upload_then_validate_the_uploaded_file(client: Client, tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    data.write_bytes(CSV)
    upload = client.upload(data)
    assert upload.key.endswith("/people.csv") and upload.size == len(CSV) and upload.content_type == "text/csv"
    run = client.wait(client.submit("data.validate_csv", {"file": upload.key, "columns": COLUMNS}).id, timeout=120)
    assert run.succeeded, run.error
    assert client.result(run.id).result["valid"] is False


@pytest.mark.usefixtures("worker_fleet")
def test_a_batch_creates_every_run_and_is_safe_to_send_again(client: Client) -> None:
    items = [BatchItem({"text": f"text {i}"}, idempotency_key=f"batch-{i}") for i in range(5)]
    first = client.submit_batch("text.stats", items)
    again = client.submit_batch("text.stats", items)
    assert [e.created for e in first.entries] == [True] * 5 and [e.created for e in again.entries] == [False] * 5
    assert [r.id for r in again.runs] == [r.id for r in first.runs]
    assert all(client.wait(r.id, timeout=120).succeeded for r in first.runs)
    with pytest.raises(BadRequest) as refused:
        client.submit_batch("text.stats", [{"args": {"text": "ok"}}, {"args": {"words": 1}}])
    assert refused.value.code == "invalid_batch" and refused.value.details["errors"][0]["index"] == 1


def test_cursor_pages_and_filters(client: Client) -> None:
    runs = [client.submit("text.stats", {"text": str(i)}) for i in range(5)]
    client.submit("data.validate_csv", {"file": client.upload(CSV, name="x.csv").key, "columns": COLUMNS})
    page = client.runs(atom="text.stats", limit=2)
    assert len(page.items) == 2 and page.has_next and page.previous_cursor is None
    second = client.runs(atom="text.stats", limit=2, cursor=page.next_cursor)
    assert {r.id for r in second.items}.isdisjoint(r.id for r in page.items)
    listed = [r.id for r in client.iter_runs(atom="text.stats", page_size=2)]
    assert listed == [r.id for r in reversed(runs)]
    assert [r.atom for r in client.iter_runs(queue="io_bound")] == ["data.validate_csv"]


def test_errors_are_typed_with_the_servers_code_and_details(client: Client, live_api: ApiServer) -> None:
    with pytest.raises(BadRequest) as bad:
        client.submit("text.stats", {"txt": "x"})
    assert bad.value.code == "invalid_args" and bad.value.details["problems"]
    with pytest.raises(NotFound) as unknown:
        client.submit("no.such.atom", {})
    assert unknown.value.code == "unknown_atom" and "text.stats" in unknown.value.details["atoms"]
    run = client.submit("text.stats", {"text": "x"}, idempotency_key="k")
    with pytest.raises(Conflict) as conflict:
        client.submit("text.stats", {"text": "y"}, idempotency_key="k")
    assert conflict.value.details == {"run_id": run.id}
    with Client(live_api.url, "af_wrong") as stranger, pytest.raises(Unauthenticated):
        stranger.atoms()


@pytest.mark.usefixtures("worker_fleet")
def test_the_async_client_does_the_same(live_api: ApiServer, live_tenant: LiveTenant) -> None:
    async def scenario() -> tuple[Run, Any, list[str]]:
        async with AsyncClient(live_api.url, live_tenant.token) as fleet:
            atoms = [a.name for a in await fleet.atoms()]
            upload = await fleet.upload(CSV, name="people.csv")
            runs = await asyncio.gather(*(fleet.submit("text.stats", {"text": f"w{i} w{i}"}) for i in range(3)))
            batch = await fleet.submit_batch("data.validate_csv", [{"args": {"file": upload.key, "columns": COLUMNS}}])
            done = await asyncio.gather(*(fleet.wait(r.id, timeout=120) for r in [*runs, *batch.runs]))
            listed = [r.id async for r in fleet.iter_runs(page_size=2)]
            assert sorted(listed) == sorted(r.id for r in done)
            return done[-1], (await fleet.result(done[0].id)).result, atoms

    last, result, atoms = asyncio.run(scenario())
    assert "text.stats" in atoms and last.succeeded and result["words"] == 2
