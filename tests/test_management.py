"""The documented management commands that create tenants and tokens."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant

pytestmark = pytest.mark.django_db


def test_create_tenant_and_token_give_a_working_token(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("create_tenant", "initech", "--name", "Initech")
    call_command("create_tenant", "initech")  # idempotent
    assert Tenant.objects.filter(slug="initech").count() == 1
    capsys.readouterr()
    call_command("create_token", "initech", "peter")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("af_")
    assert ApiToken.objects.get(name="peter").key_hash != raw  # only the hash is stored
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/runs").status_code == 200


def test_token_errors_are_specific() -> None:
    with pytest.raises(CommandError, match="no tenant 'nobody'"):
        call_command("create_token", "nobody", "x")
    with pytest.raises(CommandError, match="invalid tenant"):
        call_command("create_tenant", "Not Valid")
    call_command("create_tenant", "t1")
    call_command("create_token", "t1", "bot")
    with pytest.raises(CommandError, match="--rotate"):
        call_command("create_token", "t1", "bot")
    call_command("create_token", "t1", "bot", "--rotate")
    assert ApiToken.objects.filter(name="bot").count() == 1
