"""Accepting a run: the database clock stamps it, and a replay finds its run first."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from atomfleet.catalog import load_catalog
from atomfleet_orchestrator.atoms import registry
from atomfleet_orchestrator.runs.dispatch import dispatch_outbox
from atomfleet_orchestrator.runs.models import AtomRun

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_broker")]  # no live worker takes what they publish


def _database_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        value: datetime = cursor.fetchone()[0]
    return value


def test_created_at_is_the_database_clock_even_when_the_api_host_clock_is_off(
    api: APIClient, monkeypatch: pytest.MonkeyPatch, broker_redis: object
) -> None:
    # Given an API host whose clock runs 10 minutes ahead of the database's
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(minutes=10))
    response = api.post("/api/v1/atoms/text.stats/runs", {"args": {"text": "x"}}, format="json")
    assert response.status_code == 202
    monkeypatch.setattr(timezone, "now", real_now)
    # Then the run's creation time is the database's, in the 202 answer as in the row
    row = AtomRun.objects.get(id=response.json()["id"])
    skew = abs((_database_now() - row.created_at).total_seconds())
    assert skew < 5, f"created_at is {skew:.0f}s off the database clock"
    assert datetime.fromisoformat(response.json()["created_at"].replace("Z", "+00:00")) == row.created_at
    # ... so a run the broker never got is in the outbox once the grace is over, not in 10 minutes
    AtomRun.objects.filter(id=row.id).update(dispatched_at=None, dispatch_count=0)
    assert dispatch_outbox().published == 1


def test_a_replay_after_a_deploy_retired_the_atom_returns_the_run(api: APIClient) -> None:
    body = {"args": {"text": "x"}, "idempotency_key": "job-1"}
    first = api.post("/api/v1/atoms/text.stats/runs", body, format="json")
    assert first.status_code == 202
    # A deploy whose `default` image no longer has text.stats
    shipped = load_catalog(settings.ATOMFLEET_QUEUES, settings.ATOMFLEET_VISIBILITY_TIMEOUT)
    registry.register([s for s in shipped if s.queue == "default" and s.name != "text.stats"],
                      retire_missing_on=["default"])
    assert registry.current("text.stats") is None
    replay = api.post("/api/v1/atoms/text.stats/runs", body, format="json")
    assert replay.status_code == 200, replay.content
    assert replay.json()["id"] == first.json()["id"]
    # A new key for the retired atom is still refused
    fresh = api.post("/api/v1/atoms/text.stats/runs", {**body, "idempotency_key": "job-2"}, format="json")
    assert fresh.status_code == 404
