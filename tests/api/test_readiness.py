"""``/readyz`` of the real server: a REDIS_URL in either documented form works, and a failed check
says what failed and why (server, setting, the error's own words), not an exception class alone."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from atomfleet_orchestrator.settings.celery import broker_url_from_redis_url
from tests.support.live_api import ApiServer, free_port

pytestmark = pytest.mark.django_db(transaction=True)

TEST_REDIS = os.environ.get("ATOMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")


@pytest.mark.parametrize(("redis_url", "broker_url"), [
    ("redis://redis:6379", "redis://redis:6379/0"),
    ("redis://redis:6379/", "redis://redis:6379/0"),
    ("redis://redis:6379/0", "redis://redis:6379/0"),  # the form the guide uses
    ("redis://:secret@redis:6379/3", "redis://:secret@redis:6379/3"),
    ("rediss://redis:6380?ssl_cert_reqs=required", "rediss://redis:6380/0?ssl_cert_reqs=required"),
])
def test_the_broker_url_keeps_a_database_number_of_redis_url(redis_url: str, broker_url: str) -> None:
    assert broker_url_from_redis_url(redis_url) == broker_url


def test_a_redis_url_with_another_path_is_refused_naming_the_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL .*ATOMFLEET_BROKER_URL"):
        broker_url_from_redis_url("redis://redis:6379/0/0")


def test_an_api_given_redis_url_with_a_database_number_gets_ready(tmp_path: Path) -> None:
    # REDIS_URL as the guide writes it, no ATOMFLEET_BROKER_URL (before: /readyz 503 forever,
    # "broker": "error: ValueError", the broker URL being redis://.../12/0)
    server = ApiServer(tmp_path, REDIS_URL=f"{TEST_REDIS}/12", ATOMFLEET_BROKER_URL="")
    server.start(timeout=30, ready_path="/healthz")
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
    finally:
        server.stop()


def test_a_failed_readiness_check_names_the_server_the_setting_and_the_cause(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there: both connections are refused
    server = ApiServer(tmp_path, DATABASE_URL=f"postgres://postgres:pw@127.0.0.1:{closed}/atomfleet",
                       ATOMFLEET_BROKER_URL=f"redis://:pw@127.0.0.1:{closed}/0")
    server.start(timeout=30, ready_path="/healthz")
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
    finally:
        server.stop()
    assert ready.status_code == 503, ready.text
    checks = ready.json()["checks"]
    database, broker = checks["database"], checks["broker"]
    assert database.startswith(f"error: database 127.0.0.1:{closed}/atomfleet (DATABASE_URL): OperationalError: ")
    assert "refused" in database, database
    assert broker.startswith(f"error: broker redis://:***@127.0.0.1:{closed}/0 (ATOMFLEET_BROKER_URL or REDIS_URL): ")
    assert "refused" in broker, broker
    assert "pw" not in database + broker  # no password in a probe's answer
