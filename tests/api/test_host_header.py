"""A Host that ALLOWED_HOSTS refuses: the 400 says so, and which setting admits it.

``kubectl port-forward svc/atomfleet-api`` sends ``Host: 127.0.0.1:<port>``, which the production
allow-list (the public name) refuses; before, the answer was a bare "bad request"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

PUBLIC_HOST = "atomfleet.example.com"

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(settings: Any) -> None:
    settings.DEBUG = False  # Django's own debug page answers otherwise
    settings.ALLOWED_HOSTS = [PUBLIC_HOST]


@pytest.mark.usefixtures("production")
def test_a_refused_host_names_itself_and_the_setting_that_admits_it() -> None:
    response = Client().get("/api/v1/atoms", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "host_not_allowed"
    assert "127.0.0.1:8000" in error["message"]
    assert "ATOMFLEET_ALLOWED_HOSTS" in error["message"] and "config.allowedHosts" in error["message"]
    assert error["details"] == {"host": "127.0.0.1:8000", "setting": "ATOMFLEET_ALLOWED_HOSTS"}


@pytest.mark.usefixtures("production")
def test_the_public_name_as_host_passes_through_a_port_forward() -> None:
    # docs/operations.md: curl -H 'Host: <public name>' http://127.0.0.1:8000/...
    assert Client().get("/api/v1/atoms", HTTP_HOST=PUBLIC_HOST).status_code == 401
