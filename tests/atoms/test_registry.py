"""Atoms as workers register them: the rules the API follows without importing atom code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from atomfleet.catalog import AtomSpec, RetryPolicy, load_catalog
from atomfleet_orchestrator.atoms import registry
from atomfleet_orchestrator.atoms.models import AtomDefinition
from atomfleet_orchestrator.runs.models import AtomRun

pytestmark = pytest.mark.django_db


def _spec(maximum: int, *, queue: str = "default", name: str = "reports.rollout", retries: int = 3) -> AtomSpec:
    return AtomSpec(
        name=name, queue=queue, func=lambda ctx, **kwargs: kwargs, description="two versions in a rollout",
        schema={"type": "object", "properties": {"n": {"type": "integer", "maximum": maximum}}, "required": ["n"]},
        soft_time_limit=10, time_limit=20, idempotent=True, retry=RetryPolicy(max_retries=retries),
    )


def _submit(api: APIClient, atom: str, args: dict[str, Any]) -> Any:
    return api.post(f"/api/v1/atoms/{atom}/runs", {"args": args}, format="json")


def test_the_newest_registration_wins_and_a_run_records_its_version(api: APIClient) -> None:
    old, new = _spec(5), _spec(50, retries=1)
    registry.register([old])
    first = _submit(api, "reports.rollout", {"n": 7})
    assert first.status_code == 400 and first.json()["error"]["code"] == "invalid_args"  # validated by the old one

    registry.register([new])  # a worker of the new version starts
    accepted = _submit(api, "reports.rollout", {"n": 7})
    assert accepted.status_code == 202
    run = AtomRun.objects.get(id=accepted.json()["id"])
    assert (run.spec_hash, run.max_attempts) == (new.spec_hash, 2)

    registry.register([old])  # an old pod restarting mid-rollout registers again: it is the newest
    assert registry.current("reports.rollout").spec_hash == old.spec_hash
    assert registry.of_run(run.atom, run.spec_hash).spec_hash == new.spec_hash  # the run keeps its own


def test_an_unregistered_atom_is_404_and_a_registered_one_without_workers_is_accepted(api: APIClient) -> None:
    missing = _submit(api, "reports.nobody", {"n": 1})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_atom"
    assert "text.stats" in missing.json()["error"]["details"]["atoms"]

    registry.register([_spec(5, queue="io_bound")])  # registered by the deploy hook: no worker yet
    listed = {a["name"]: a for a in api.get("/api/v1/atoms").json()["results"]}
    assert listed["reports.rollout"]["live"] is False and listed["reports.rollout"]["queue"] == "io_bound"
    assert _submit(api, "reports.rollout", {"n": 1}).status_code == 202  # its backlog wakes the queue


def test_a_served_atom_is_live_until_its_workers_stop_marking_it(api: APIClient) -> None:
    spec = _spec(5)
    registry.mark_served([spec])  # registers it too: the worker started while the hook had not run
    assert _live(api) is True
    AtomDefinition.objects.filter(name=spec.name).update(served_at=timezone.now() - timedelta(minutes=5))
    assert _live(api) is False


def _live(api: APIClient) -> bool:
    return next(a for a in api.get("/api/v1/atoms").json()["results"] if a["name"] == "reports.rollout")["live"]


def test_a_deploy_retires_the_atoms_its_image_no_longer_has(api: APIClient) -> None:
    kept, dropped = _spec(5, name="reports.kept"), _spec(5, name="reports.dropped")
    registry.register([kept, dropped])
    # The new image's atoms on `default`: the shipped ones and `kept`, no longer `dropped`
    shipped = load_catalog(settings.ATOMFLEET_QUEUES, settings.ATOMFLEET_VISIBILITY_TIMEOUT)
    image = [spec for spec in shipped if spec.queue == "default"] + [kept]
    report = registry.register(image, retire_missing_on=["default"])
    assert report.retired == 1
    assert _submit(api, "reports.dropped", {"n": 1}).status_code == 404
    names = {a["name"] for a in api.get("/api/v1/atoms").json()["results"]}
    assert "reports.kept" in names and "reports.dropped" not in names
    assert {"text.stats", "data.validate_csv"} <= names  # the image's others, and other queues', stay
