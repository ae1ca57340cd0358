"""Fair dispatch (runs.fairness) against real PostgreSQL: which waiting runs get their turn.

Runs are accepted through the real path (``submission.create_run`` in ``turns_at_end``) and
started through the real claim; these tests read who got a turn (``turn_at``), not Redis: the
publish on commit does not happen inside a test's transaction.
"""

from __future__ import annotations

import psycopg
import pytest
from django.test import override_settings

from atomfleet_orchestrator.atoms import registry
from atomfleet_orchestrator.runs import fairness, transitions
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.submission import create_run
from atomfleet_orchestrator.runs.transitions import Claimed
from atomfleet_orchestrator.tenancy.models import Tenant, TenantLimits

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenants(registered_atoms: None) -> tuple[Tenant, Tenant]:
    return Tenant.objects.create(slug="bulk", name="Bulk"), Tenant.objects.create(slug="small", name="Small")


def _submit(tenant: Tenant, n: int, priority: int = 5, atom: str = "text.stats") -> list[AtomRun]:
    spec = registry.current(atom)
    assert spec is not None
    with fairness.turns_at_end():
        return [create_run(tenant.pk, "t", spec, {"text": f"{i}"}, priority=priority) for i in range(n)]


def _with_turn(runs: list[AtomRun]) -> list[bool]:
    return [AtomRun.objects.get(id=r.id).turn_at is not None for r in runs]


def _ready(queue: str = "default") -> list[AtomRun]:
    """The runs published and not started, oldest turn first."""
    return list(AtomRun.objects.filter(queue=queue, status="queued", turn_at__isnull=False).order_by("turn_at", "id"))


def _start_one(worker: str) -> Claimed:
    run = _ready()[0]
    claimed = transitions.claim(str(run.id), run.celery_task_id, worker)
    assert isinstance(claimed, Claimed)
    return claimed


def test_a_backlog_waits_in_postgresql_and_another_tenant_gets_the_next_turn(tenants: tuple[Tenant, Tenant]) -> None:
    bulk, small = tenants
    backlog = _submit(bulk, 20)
    # An idle queue publishes at once, up to ATOMFLEET_QUEUE_READY (2) ahead of its workers
    assert sum(_with_turn(backlog)) == 2
    mine = _submit(small, 1)
    assert _with_turn(mine) == [False]  # no room: nothing is published beyond the window
    # When a worker starts one of the bulk runs, the freed place goes to the other tenant
    _start_one("w@a:1")
    assert _with_turn(mine) == [True]
    assert sum(_with_turn(backlog)) == 2
    # and every accepted run still counts as demand, wherever it waits
    assert AtomRun.objects.filter(status="queued").count() == 20


def test_the_window_stays_at_the_ready_setting_whatever_runs(tenants: tuple[Tenant, Tenant]) -> None:
    bulk, _ = tenants
    backlog = _submit(bulk, 30)
    for n in range(1, 7):
        _start_one(f"w@a:{n}")
    room = fairness.room("default")
    # ATOMFLEET_QUEUE_READY (2) runs stay published ahead of the workers: each claim gave the next turn
    assert (room.running, room.ready, room.free) == (6, 2, 0)
    assert sum(_with_turn(backlog)) == 8


def test_weights_share_a_busy_queue(tenants: tuple[Tenant, Tenant]) -> None:
    heavy, light = tenants
    TenantLimits.objects.create(tenant=heavy, weight=3)
    _submit(heavy, 40)
    _submit(light, 40)
    for n in range(30):
        _start_one(f"w@a:{n}")
    busy = _turns_by_tenant()
    # 3:1 over the runs that have had a turn (the two first went to the first submitter)
    assert 2.5 * busy["small"] <= busy["bulk"] <= 3.5 * busy["small"] and busy["small"] >= 7, busy


def _turns_by_tenant() -> dict[str, int]:
    counts: dict[str, int] = {}
    for slug in AtomRun.objects.filter(turn_at__isnull=False).values_list("tenant__slug", flat=True):
        counts[slug] = counts.get(slug, 0) + 1
    return counts


def test_running_caps_hold_overall_and_per_queue_and_free_as_runs_end(tenants: tuple[Tenant, Tenant]) -> None:
    capped, _ = tenants
    TenantLimits.objects.create(tenant=capped, max_running_per_queue=1)
    runs = _submit(capped, 5)
    assert sum(_with_turn(runs)) == 1
    claimed = _start_one("w@a:1")
    assert sum(_with_turn(runs)) == 1  # running counts against the cap: still one
    transitions.succeed(claimed.execution, result={}, result_artifact="", artifacts=[])
    assert sum(_with_turn(runs)) == 2  # its end gave the next turn, in the ending's transaction
    with override_settings(ATOMFLEET_TENANT_MAX_RUNNING=1):
        other_queue = _submit(capped, 2, atom="data.validate_csv")
    assert _with_turn(other_queue) == [False, False]  # the overall cap counts every queue


def test_priority_orders_a_tenants_own_runs(tenants: tuple[Tenant, Tenant]) -> None:
    bulk, _ = tenants
    low = _submit(bulk, 4, priority=1)
    high = _submit(bulk, 2, priority=9)
    _start_one("w@a:1")
    _start_one("w@a:2")
    assert _with_turn(high) == [True, True]
    assert sum(_with_turn(low)) == 2  # the two published before the urgent ones came


def test_a_retry_waits_for_a_new_turn_once_due(tenants: tuple[Tenant, Tenant]) -> None:
    bulk, _ = tenants
    (run,) = _submit(bulk, 1)
    claimed = _start_one("w@a:1")
    assert transitions.schedule_retry(claimed.execution, "transient_error", "flaky", delay=3600)
    row = AtomRun.objects.get(id=run.id)
    assert (row.status, row.turn_at, row.dispatched_at) == ("retrying", None, None)
    assert fairness.give_turns("default") == 0  # not due: no turn, no room taken


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(30)
@pytest.mark.usefixtures("private_broker")  # its runs are committed: the session's workers must not take them
def test_a_row_held_by_another_transaction_is_skipped_not_waited_on(tenants: tuple[Tenant, Tenant]) -> None:
    from tests.support.live_api import database_url

    bulk, _ = tenants
    runs = _submit(bulk, 4)
    assert _with_turn(runs) == [True, True, False, False]
    # Another transaction (a cancel, say) holds the next run's row
    with psycopg.connect(database_url()) as other:
        other.execute("SELECT id FROM runs_atomrun WHERE id = %s FOR UPDATE", [runs[2].id])
        # When a claim gives the next turn, it does not wait for that row (the test would hang):
        # the turn is left to the next occasion (that transaction's own end, if it changed the run)
        _start_one("w@a:1")
        assert _with_turn(runs) == [True, True, False, False]
        other.rollback()
    _start_one("w@a:2")
    assert _with_turn(runs) == [True, True, True, True]


@override_settings(ATOMFLEET_FAIR_DISPATCH=False)
def test_turned_off_every_run_is_published_at_once_fifo(tenants: tuple[Tenant, Tenant]) -> None:
    bulk, small = tenants
    TenantLimits.objects.create(tenant=bulk, max_running_per_queue=1)
    backlog = _submit(bulk, 20)
    mine = _submit(small, 1)
    assert all(_with_turn(backlog)) and _with_turn(mine) == [True]  # no window, no caps
    assert AtomRun.objects.filter(dispatched_at__isnull=False, dispatch_count=1).count() == 21
    claimed = _start_one("w@a:1")
    assert transitions.schedule_retry(claimed.execution, "transient_error", "flaky", delay=0)
    assert fairness.give_turns("default") == 1  # a due retry: beat's round publishes it
