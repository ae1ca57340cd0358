"""Beat's per-tenant gauges: a bounded label set chosen afresh at every scrape (unit level against
the real database; ``test_signals.py`` scrapes them from the real beat)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models.functions import Now
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from atomfleet_orchestrator.observability.fleet import DatabaseCollector, bounded_by_tenant
from atomfleet_orchestrator.runs.lifecycle import RunStatus
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.stats import QueueCounts
from atomfleet_orchestrator.tenancy.models import Tenant

TENANT_GAUGES = ("atomfleet_tenant_runs_waiting", "atomfleet_tenant_runs_running",
                 "atomfleet_tenant_oldest_waiting_age_seconds")


def test_the_tenants_of_most_demand_are_named_and_the_rest_added_up_as_other() -> None:
    counts = {
        ("big", "default"): QueueCounts(3, 0, 10.0), ("big", "io_bound"): QueueCounts(0, 1),
        ("mid", "default"): QueueCounts(1, 1, 20.0),  # demand 2, as "tie": ties go by slug
        ("tie", "io_bound"): QueueCounts(2, 0, 5.0),
        ("small", "default"): QueueCounts(1, 0, 1200.0), ("small", "io_bound"): QueueCounts(0, 0),
        ("other", "default"): QueueCounts(0, 9, 0.0),  # a tenant slugged `other` is never named
    }
    assert bounded_by_tenant(counts, 2) == {
        ("big", "default"): QueueCounts(3, 0, 10.0), ("big", "io_bound"): QueueCounts(0, 1),
        ("mid", "default"): QueueCounts(1, 1, 20.0),
        ("other", "io_bound"): QueueCounts(2, 0, 5.0),
        ("other", "default"): QueueCounts(1, 9, 1200.0),  # sums, the oldest age
    }
    assert bounded_by_tenant(counts, 0) == {
        ("other", "default"): QueueCounts(5, 10, 1200.0), ("other", "io_bound"): QueueCounts(2, 1, 5.0)}
    assert bounded_by_tenant({}, 2) == {}


def _scrape(cap: int) -> dict[str, dict[tuple[str, ...], float]]:
    """Beat's database gauges as Prometheus reads them: name -> label values -> value."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(lambda: ["default", "io_bound"], outbox=lambda: None,
                                        tenant_labels=lambda: cap))
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            labels = tuple(sample.labels[k] for k in ("tenant", "queue_name", "state") if k in sample.labels)
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


def _runs(tenant: Tenant, queue: str, status: RunStatus, n: int = 1, **fields: Any) -> list[AtomRun]:
    # Dispatched and heartbeating: a session beat, if one runs, leaves them alone.
    return [AtomRun.objects.create(tenant=tenant, created_by="t", atom="text.stats", queue=queue,
                                   args={"text": "x"}, status=status.value, dispatched_at=Now(), dispatch_count=1,
                                   heartbeat_at=Now(), **fields) for _ in range(n)]


@pytest.mark.django_db(transaction=True)  # the collector closes its connection after each scrape
def test_beat_names_at_most_the_cap_of_tenants_and_a_tenant_without_runs_loses_its_series() -> None:
    # Given three tenants: big (demand 4), mid (2), small (1, its run the oldest), and a cap of 2
    big, mid, small = (Tenant.objects.create(slug=f"gauges-{s}", name=s) for s in ("big", "mid", "small"))
    long_ago = timezone.now() - timedelta(seconds=1200)
    big_runs = _runs(big, "default", RunStatus.QUEUED, 3) + _runs(big, "io_bound", RunStatus.RUNNING)
    _runs(mid, "default", RunStatus.QUEUED, 2, created_at=timezone.now() - timedelta(seconds=300))
    _runs(small, "default", RunStatus.QUEUED, created_at=long_ago)
    _runs(small, "io_bound", RunStatus.RETRYING, next_attempt_at=timezone.now() + timedelta(hours=1))

    # When beat's /metrics is scraped
    gauges = _scrape(cap=2)

    # Then the two tenants of most demand have their own series, small is `other`
    assert gauges["atomfleet_tenant_runs_waiting"] == {
        ("gauges-big", "default"): 3, ("gauges-big", "io_bound"): 0,
        ("gauges-mid", "default"): 2, ("other", "default"): 1, ("other", "io_bound"): 0}
    assert gauges["atomfleet_tenant_runs_running"] == {
        ("gauges-big", "default"): 0, ("gauges-big", "io_bound"): 1,
        ("gauges-mid", "default"): 0, ("other", "default"): 0, ("other", "io_bound"): 0}
    ages = gauges["atomfleet_tenant_oldest_waiting_age_seconds"]
    assert ages[("other", "default")] == pytest.approx(1200, abs=10)
    assert ages[("gauges-mid", "default")] == pytest.approx(300, abs=10)
    assert ages[("gauges-big", "io_bound")] == ages[("other", "io_bound")] == 0
    # And the queue gauges are the sums over every tenant
    assert gauges["atomfleet_queue_runs"] == {
        ("default", "waiting"): 6, ("default", "running"): 0, ("io_bound", "waiting"): 0, ("io_bound", "running"): 1}
    assert gauges["atomfleet_queue_oldest_run_age_seconds"][("default",)] == ages[("other", "default")]
    assert gauges["atomfleet_database_metrics_up"] == {(): 1}

    # When big's runs end
    AtomRun.objects.filter(id__in=[r.id for r in big_runs]).update(status=RunStatus.SUCCEEDED.value)
    gauges = _scrape(cap=2)

    # Then big has no series any more, small is named again and nothing is `other`
    assert gauges["atomfleet_tenant_runs_waiting"] == {
        ("gauges-mid", "default"): 2, ("gauges-small", "default"): 1, ("gauges-small", "io_bound"): 0}
    for name in TENANT_GAUGES:
        assert {tenant for tenant, _ in gauges[name]} == {"gauges-mid", "gauges-small"}, name

    # When nothing is unfinished, the families are empty (no series at all)
    AtomRun.objects.update(status=RunStatus.SUCCEEDED.value)
    gauges = _scrape(cap=2)
    assert not any(gauges.get(name) for name in TENANT_GAUGES)
    assert gauges["atomfleet_queue_runs"][("default", "waiting")] == 0
