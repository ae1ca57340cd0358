"""Token lookups are cached per process for ATOMFLEET_TOKEN_CACHE_SECONDS; revocation still wins."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from atomfleet_orchestrator.tenancy import tokens
from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant
from tests.support.live_api import TOKEN_CACHE_SECONDS, ApiServer, LiveTenant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    tokens.token_cache.clear()
    yield
    tokens.token_cache.clear()


def _token_queries(client: APIClient) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/atoms").status_code == 200
    return sum("tenancy_apitoken" in q["sql"] for q in queries.captured_queries)


def test_a_second_request_does_not_read_the_token_again(api: APIClient) -> None:
    assert _token_queries(api) == 1
    assert _token_queries(api) == 0


@override_settings(ATOMFLEET_TOKEN_CACHE_SECONDS=0)
def test_ttl_zero_turns_the_cache_off(api: APIClient) -> None:
    assert _token_queries(api) == 1
    assert _token_queries(api) == 1


def test_revoking_in_this_process_is_honoured_at_once(api: APIClient, tenant: Tenant) -> None:
    _token_queries(api)
    ApiToken.objects.get(tenant=tenant).revoke()
    response = api.get("/api/v1/atoms")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


def test_rotating_a_token_refuses_the_old_one_at_once(api: APIClient, tenant: Tenant) -> None:
    _token_queries(api)
    call_command("create_token", tenant.slug, "acme-user", "--rotate", stdout=io.StringIO())
    assert api.get("/api/v1/atoms").status_code == 401


def test_a_revocation_made_elsewhere_is_honoured_once_the_entry_expires(
    api: APIClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (``manage revoke_token``) cannot reach this cache: the TTL bounds the delay."""
    _token_queries(api)
    ApiToken.objects.filter(tenant=tenant).update(revoked_at="2026-01-01T00:00:00Z")  # no signal
    assert api.get("/api/v1/atoms").status_code == 200  # still cached
    later = time.monotonic() + 5.01  # the default TTL
    monkeypatch.setattr(tokens.time, "monotonic", lambda: later)
    assert api.get("/api/v1/atoms").status_code == 401


def test_revoke_token_names_a_missing_token(tenant: Tenant) -> None:
    with pytest.raises(CommandError, match="has no token named 'nobody'"):
        call_command("revoke_token", tenant.slug, "nobody")


@override_settings(ATOMFLEET_TOKEN_CACHE_SIZE=2)
def test_the_cache_keeps_at_most_its_size(db: None) -> None:
    tenant = Tenant.objects.create(slug="many")
    clients = []
    for i in range(3):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(tenant, f'user{i}')[1]}")
        clients.append(client)
        _token_queries(client)
    assert len(tokens.token_cache._entries) == 2
    assert _token_queries(clients[0]) == 1  # the oldest was dropped
    assert _token_queries(clients[2]) == 0


@pytest.mark.django_db(transaction=True)
def test_the_live_api_refuses_a_token_revoked_by_the_command_within_the_ttl(
    live_api: ApiServer, live_tenant: LiveTenant
) -> None:
    headers = {"Authorization": f"Bearer {live_tenant.token}"}
    with httpx.Client(base_url=live_api.url, headers=headers, timeout=10) as http:
        for _ in range(4):  # both gunicorn workers have most likely cached it now
            assert http.get("/api/v1/atoms").status_code == 200
        done = subprocess.run(
            [sys.executable, "-m", "atomfleet_orchestrator.cli.main", "manage", "revoke_token",
             live_tenant.tenant.slug, live_tenant.token_name],
            env=live_api.env, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "revoked" in done.stdout
        revoked_at = time.monotonic()
        # Every worker refuses it once its entry expires: TTL plus the time a request takes.
        while http.get("/api/v1/atoms").status_code == 200:
            assert time.monotonic() - revoked_at < TOKEN_CACHE_SECONDS + 2, "revoked token still accepted"
            time.sleep(0.05)
        for _ in range(10):
            response = http.get("/api/v1/atoms")
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
