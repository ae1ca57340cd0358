"""`atomfleet manage ensure_token`: how `helm test` registers the token of its Secret."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant

pytestmark = pytest.mark.django_db

TOKEN = "af_" + "x" * 43


def _authenticated(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/atoms").status_code


def test_the_token_from_the_environment_authenticates_for_a_new_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATOMFLEET_TOKEN", TOKEN)
    call_command("ensure_token", "helm-test", "helm-test", "--token-env", "ATOMFLEET_TOKEN")
    assert Tenant.objects.filter(slug="helm-test").exists()
    assert _authenticated(TOKEN) == 200


def test_it_is_idempotent_and_a_new_token_replaces_the_old(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATOMFLEET_TOKEN", TOKEN)
    call_command("ensure_token", "helm-test", "helm-test")
    call_command("ensure_token", "helm-test", "helm-test")
    assert ApiToken.objects.filter(tenant__slug="helm-test", name="helm-test").count() == 1
    rotated = "af_" + "y" * 43
    monkeypatch.setenv("ATOMFLEET_TOKEN", rotated)
    call_command("ensure_token", "helm-test", "helm-test")
    assert _authenticated(rotated) == 200
    assert _authenticated(TOKEN) == 401


def test_a_missing_or_short_token_and_a_bad_tenant_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATOMFLEET_TOKEN", raising=False)
    with pytest.raises(CommandError, match="ATOMFLEET_TOKEN must hold a token"):
        call_command("ensure_token", "helm-test", "helm-test")
    monkeypatch.setenv("ATOMFLEET_TOKEN", TOKEN)
    with pytest.raises(CommandError, match="invalid tenant"):
        call_command("ensure_token", "Helm Test", "helm-test")
