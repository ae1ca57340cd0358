"""API /metrics under gunicorn (2 recycled workers): requests by route template, run counters,
outbox, and the queue gauges that let an autoscaler start the first worker of a queue."""

from __future__ import annotations

import uuid

import pytest

from tests.observability._support import Api


@pytest.fixture
def api_server(broker_url, workdir):  # type: ignore[no-untyped-def]
    server = Api(broker_url, workdir)
    yield server
    server.stop()


def test_api_metrics_count_routes_not_ids_and_export_queue_gauges(api_server, fleet_app, start_prometheus):
    # Given the API (no worker at all) and tasks waiting in two queues
    for _ in range(3):
        fleet_app.send_task("atomfleet.atom.test.ok", queue="io_bound")
    fleet_app.send_task("atomfleet.atom.test.ok", queue="ml_training", priority=9)
    prom = start_prometheus({"api": [f"127.0.0.1:{api_server.port}"]})

    # When clients make requests (more than max_requests, so gunicorn recycles its workers)
    for _ in range(7):
        assert api_server.request("GET", f"/api/v1/runs/{uuid.uuid4()}") == 200
    for _ in range(3):
        assert api_server.request("POST", "/api/v1/runs") == 201
    assert api_server.request("GET", "/nowhere/" + str(uuid.uuid4())) == 404
    assert api_server.request("POST", "/test/reconcile") == 204

    # Then requests are counted by route template, method and status, across workers
    prom.wait_value('sum(atomfleet_api_requests_total{route="api/v1/runs/<uuid:run_id>",method="GET",status="200"})', 7)
    prom.wait_value('sum(atomfleet_api_requests_total{route="api/v1/runs",method="POST",status="201"})', 3)
    prom.wait_value('sum(atomfleet_api_requests_total{route="<unmatched>",status="404"})', 1)
    prom.wait_value('sum(atomfleet_api_request_duration_seconds_count{route="api/v1/runs/<uuid:run_id>"})', 7)
    prom.wait_value('sum(atomfleet_runs_submitted_total{atom="text.stats",queue_name="default"})', 3)
    prom.wait_value('sum(atomfleet_reconciler_actions_total{action="redispatched"})', 2)
    prom.wait_value('atomfleet_outbox_waiting', 2)
    prom.wait_value('atomfleet_outbox_oldest_age_seconds', 42)
    # And the queue gauges are there for every declared queue without any worker
    prom.wait_value('atomfleet_queue_backlog{queue_name="io_bound"}', 3)
    prom.wait_value('atomfleet_queue_backlog{queue_name="ml_training"}', 1)
    prom.wait_value('celery_queue_length{queue_name="ml_training"}', 1)
    prom.wait_value('atomfleet_queue_backlog{queue_name="default"}', 0)
    assert prom.scalar('atomfleet_queue_oldest_age_seconds{queue_name="io_bound"}') > 0
    # And no label value is a raw path or id
    for series in prom.api("series", **{"match[]": '{__name__=~"atomfleet_api_.*"}'})["data"]:
        assert not any(len(v) >= 36 and v.count("-") == 4 for v in series.values()), series

    # And recycled gunicorn workers reuse slot files: one folder, at most types x 2 slots
    (group_dir,) = api_server.metrics_dir.iterdir()
    files = sorted(p.name for p in group_dir.iterdir())
    assert {f.rsplit("_", 1)[-1] for f in files} <= {"g0.db", "g1.db"}, files
