"""The real orchestrator app (``atomfleet_orchestrator``) on a worker with metrics and probes:
runs submitted through the API are counted exactly, the queue wait comes from the orchestrator's
``atomfleet_published_at`` header, every atom's run counters exist, and the worker is ready."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.observability._support import redis_base, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fleet]


@pytest.fixture
def real_broker(broker_url: str) -> Iterator[str]:
    """Point this process's publishing at Redis DB 12 (the observability tests' own)."""
    from kombu import pools

    from atomfleet_orchestrator.celery import app

    saved = app.conf.broker_url

    def reset() -> None:
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    reset()
    app.conf.broker_url = broker_url
    yield broker_url
    reset()
    app.conf.broker_url = saved


def test_real_app_worker_counts_api_runs_exactly(
    real_broker: str, api: APIClient, start_worker: Any, start_prometheus: Any
) -> None:
    db = settings.DATABASES["default"]
    worker = start_worker("default", concurrency=2, max_tasks_per_child=1, app="tests.observability.real_app",
                          extra_env={
                              "DJANGO_SETTINGS_MODULE": "tests.settings",
                              "DATABASE_URL": f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
                              "ATOMFLEET_BROKER_URL": real_broker,
                              "ATOMFLEET_RESULT_BACKEND_URL": f"{redis_base()}/13",
                              "ATOMFLEET_QUEUES": '["default","io_bound","ml_training"]',
                          })
    worker.wait_ready(timeout=90)
    prom = start_prometheus({"worker": [f"127.0.0.1:{worker.port}"]})

    runs = []
    for i in range(4):
        response = api.post("/api/v1/atoms/text.stats/runs", {"args": {"text": f"to be or not {i}"}}, format="json")
        assert response.status_code == 202, response.content
        runs.append(response.json()["id"])

    def finished() -> bool:
        return all(api.get(f"/api/v1/runs/{r}").json()["status"] == "succeeded" for r in runs)

    try:
        wait_for(finished, 90, "runs succeeded", interval=0.5)
    except AssertionError:
        raise AssertionError(worker.log_text()) from None

    task = 'name="atomfleet.atom.text.stats"'
    prom.wait_value(f'sum(celery_task_succeeded_total{{{task}}})', 4)
    prom.wait_value(f'sum(celery_task_started_total{{{task},queue_name="default"}})', 4)
    prom.wait_value(f'sum(atomfleet_task_queue_wait_seconds_count{{{task}}})', 4)
    # Every catalog atom consumed here has its run counters from the start.
    assert prom.scalar('count(atomfleet_runs_total{atom="text.stats",queue_name="default"})') == 6
    assert prom.scalar('count(atomfleet_queue_backlog)') == 3
    prom.wait_value('max(atomfleet_queue_backlog{queue_name="default"})', 0)
    assert (worker.probe_dir / "readiness").exists()
