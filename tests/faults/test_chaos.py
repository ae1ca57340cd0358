"""The randomized drill at a small N (``make chaos N=200`` runs the full one)."""

from __future__ import annotations

import pytest

from tests.faults.chaos import run_drill
from tests.support.deployment import Deployment

pytestmark = pytest.mark.fault


def test_every_run_and_workflow_ends_once_under_random_faults(deployment: Deployment) -> None:
    report = run_drill(deployment, runs=24, seed=20261125, fault_every=(1.5, 4.0), chaos_after_submit=12)
    print("\n".join(report.lines()))
    assert sum(report.faults.values()) >= 3
    assert report.not_terminal == []
    assert report.overlapping == []
    assert report.over_budget == []
    assert report.rerun_non_idempotent == []
    assert sum(report.statuses.values()) == report.runs == 20
    # one submission in five is a diamond workflow: each terminal, ended once, children after parents
    assert report.workflows.workflows == sum(report.workflows.statuses.values()) == 4
    assert report.workflows.broken == {}
