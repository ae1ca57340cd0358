"""Shared fixtures: tenants and API clients, real Redis, real Celery workers per queue.

Tests run against PostgreSQL (pytest-django's ``test_atomfleet`` database) and Redis DB 10
(see ``tests/settings.py``). Tests that need workers use
``@pytest.mark.django_db(transaction=True)`` so what they write is committed and visible to the
worker processes.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant
from tests.support.atoms import register_shipped_atoms
from tests.support.live_api import database_url, live_api, live_tenant  # noqa: F401  (fixtures)
from tests.support.live_events import live_events  # noqa: F401  (fixture)
from tests.support.tcp_proxy import TcpProxy
from tests.support.workers import WorkerFleet, queue_is_drained

TERMINAL = ("succeeded", "failed", "cancelled")
# No session process consumes it (tests/settings.py: the suite's broker is DB 10; the observability
# fleet uses 12, the bench smoke tests 6-8, 11 and 14).
PRIVATE_BROKER_DB = 9


def _flush_retrying_deadlocks() -> None:
    """A transactional test's teardown TRUNCATEs every table while the session's workers may still
    be ending that test's runs: PostgreSQL breaks the lock cycle by failing one side, and when the
    side is the flush, the worker's transaction commits a moment later and the flush goes again."""
    from django.core.management.base import CommandError
    from django.db import OperationalError
    from django.test.testcases import TransactionTestCase

    flush = TransactionTestCase._fixture_teardown

    def teardown(self: TransactionTestCase) -> None:
        for attempt in range(5):
            try:
                return flush(self)
            except CommandError as error:
                if not isinstance(error.__cause__, OperationalError) or "deadlock" not in str(error.__cause__):
                    raise
                time.sleep(0.2 * (attempt + 1))
        return flush(self)

    TransactionTestCase._fixture_teardown = teardown  # type: ignore[method-assign]


_flush_retrying_deadlocks()


@pytest.fixture(scope="session")
def broker_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.close()


def _make_tenant(slug: str) -> tuple[Tenant, str]:
    tenant = Tenant.objects.create(slug=slug, name=slug.title())
    _, raw = ApiToken.issue(tenant, f"{slug}-user")
    return tenant, raw


def _client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def registered_atoms(db: None) -> None:
    """The shipped atoms registered as the chart's deploy hook registers them (the API validates
    against registrations; transactional tests empty the tables, so this runs per test)."""
    register_shipped_atoms()


@pytest.fixture
def tenant_and_token(registered_atoms: None) -> tuple[Tenant, str]:
    return _make_tenant("acme")


@pytest.fixture
def tenant(tenant_and_token: tuple[Tenant, str]) -> Tenant:
    return tenant_and_token[0]


@pytest.fixture
def api(tenant_and_token: tuple[Tenant, str]) -> APIClient:
    return _client(tenant_and_token[1])


@pytest.fixture
def other_api(db: None) -> APIClient:
    return _client(_make_tenant("globex")[1])


@pytest.fixture(scope="session")
def worker_fleet(
    django_db_setup: None, django_db_blocker: Any, broker_redis: redis.Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerFleet]:
    """One real ``celery worker`` per declared queue and beat, reading the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "ATOMFLEET_LOG_FORMAT": "json",
        # Small enough that a long forecast is stored by reference.
        "ATOMFLEET_INLINE_RESULT_MAX_BYTES": "4096",
        # The session's beat leaves webhook fan-out alone: tests of tests/webhooks drive its rounds
        # themselves (fanout.fan_out moves one shared cursor; a second beat would race them).
        "ATOMFLEET_WEBHOOK_INTERVAL": "3600",
        "PYTHONUNBUFFERED": "1",
    }
    log_dir = tmp_path_factory.mktemp("workers")
    fleet = WorkerFleet(settings.ATOMFLEET_QUEUES, env, log_dir)
    for queue in fleet.queues:
        fleet.start(queue, concurrency=3 if queue == "default" else 2)
    fleet.start_beat()
    try:
        for queue in fleet.queues:
            fleet.wait_consuming(queue)
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture
def wait_for(api: APIClient) -> Callable[..., dict[str, Any]]:
    """Poll a run through the API until ``predicate`` holds (default: finished)."""

    def wait(
        run_id: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda r: r["status"] in TERMINAL,
        timeout: float = 60,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = api.get(f"/api/v1/runs/{run_id}").json()
            if predicate(run):
                return dict(run)
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} did not get there in {timeout}s: {run}")
            time.sleep(0.2)

    return wait


@contextlib.contextmanager
def _publishing_to(url: str) -> Iterator[None]:
    """This process's publishing (beat's and the API's paths alike) goes to ``url`` meanwhile."""
    from kombu import pools

    from atomfleet_orchestrator.celery import app

    def reset_pools() -> None:
        pools.reset()  # closes and forgets the global connection/producer pools
        app._pool = None
        app.amqp._producer_pool = None

    saved = app.conf.broker_url
    reset_pools()
    app.conf.broker_url = url
    try:
        yield
    finally:
        reset_pools()
        app.conf.broker_url = saved


@pytest.fixture
def broker_outage(broker_redis: redis.Redis) -> Iterator[TcpProxy]:
    """Route this process's publishing through a proxy the test can take down (workers are direct)."""
    from urllib.parse import urlsplit, urlunsplit

    target = urlsplit(settings.CELERY_BROKER_URL)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    proxy.up()
    auth = target.netloc.rpartition("@")[0]
    proxied = urlunsplit(target._replace(netloc=f"{auth + '@' if auth else ''}127.0.0.1:{proxy.port}"))
    try:
        with _publishing_to(proxied):
            yield proxy
    finally:
        proxy.down()


@dataclass(frozen=True)
class PrivateBroker:
    url: str
    client: redis.Redis


@pytest.fixture
def private_broker(broker_redis: redis.Redis) -> Iterator[PrivateBroker]:
    """A broker of this test's own: Redis DB 9 of the suite's server, emptied before and after,
    with this process's publishing pointed at it.

    The session's ``worker_fleet`` (and its beat) consume DB 10 and stay alive for the rest of the
    suite once a test started them: they would take a message this test publishes, and claim a
    run it means to drive by hand or to hand to a worker it started (give that worker
    ``ATOMFLEET_BROKER_URL=private_broker.url``, as the chart gives each release its broker).
    """
    from urllib.parse import urlsplit, urlunsplit

    url = urlunsplit(urlsplit(settings.CELERY_BROKER_URL)._replace(path=f"/{PRIVATE_BROKER_DB}"))
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        with _publishing_to(url):
            yield PrivateBroker(url, client)
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def wait_drained(broker_redis: redis.Redis) -> Callable[[str, float], None]:
    def wait(queue: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not queue_is_drained(broker_redis, queue):
            if time.monotonic() > deadline:
                raise AssertionError(f"queue {queue} still holds messages after {timeout}s")
            time.sleep(0.2)

    return wait


def run_row(run_id: str) -> AtomRun:
    return AtomRun.objects.get(id=run_id)


@pytest.fixture
def worker_logs(worker_fleet: WorkerFleet) -> Callable[[str], str]:
    return lambda queue: Path(worker_fleet.log_dir / f"worker-{queue}.log").read_text()
