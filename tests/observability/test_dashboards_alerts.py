"""Dashboards and alert rules, statically: portable JSON, runbooks, promtool checks and unit tests.

Every panel and rule is evaluated against the live fleet in ``test_signals.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability._support import REPO

DASHBOARDS = sorted((REPO / "charts/atomfleet/files/dashboards").glob("*.json"))
ALERTS = REPO / "charts/atomfleet/files/alerts/atomfleet-alerts.yaml"
ALERT_TESTS = REPO / "tests/observability/alerts/atomfleet-alerts_test.yaml"
DOCS = REPO / "docs/observability.md"
# Grafana variables as a user selecting everything sees them.
VARIABLES = {"$namespace": "atomfleet", "$queue": ".*", "$atom": ".*",
             "$__rate_interval": "1m", "$__interval": "15s", "$__range": "10m"}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.extend(panel.get("panels", []))
        if panel["type"] != "row":
            out.append(panel)
    return out


def _expand(expr: str) -> str:
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    return expr


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def _anchors(markdown: str) -> set[str]:
    """GitHub heading anchors of a Markdown document."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_portable(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"namespace", "queue"} <= set(variables)
    # No hard-coded datasource uid anywhere: every reference is the ${datasource} variable.
    for node in _walk(dashboard):
        if "datasource" in node and isinstance(node["datasource"], dict):
            assert node["datasource"]["uid"] == "${datasource}", node
    panels = _panels(dashboard)
    assert panels and all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in panels)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_dashboards_cover_the_required_views() -> None:
    fleet = json.loads((REPO / "charts/atomfleet/files/dashboards/atomfleet-fleet.json").read_text())
    atoms = json.loads((REPO / "charts/atomfleet/files/dashboards/atomfleet-atoms.json").read_text())
    fleet_exprs = " ".join(t["expr"] for p in _panels(fleet) for t in p["targets"])
    atom_exprs = " ".join(t["expr"] for p in _panels(atoms) for t in p["targets"])
    for metric in ("celery_task_succeeded_total", "celery_task_failed_total", "atomfleet_queue_backlog",
                   "atomfleet_queue_oldest_age_seconds", "atomfleet_worker_busy_slots", "atomfleet_queue_demand",
                   "celery_worker_up", "kube_deployment_status_replicas_available",
                   # The Workflows row (docs/workflows.md#metrics)
                   "atomfleet_workflows_total", "atomfleet_workflow_steps_waiting",
                   "atomfleet_workflow_step_release_seconds_bucket",
                   # The Tenants row (docs/tenancy.md#signals)
                   "atomfleet_tenant_runs_waiting", "atomfleet_tenant_runs_running",
                   "atomfleet_tenant_oldest_waiting_age_seconds", "atomfleet_submissions_rejected_total"):
        assert metric in fleet_exprs, metric
    rows = [p["title"] for p in fleet["panels"] if p["type"] == "row"]
    assert {"Workflows", "Tenants"} <= set(rows), rows
    # Panels sit below their row, none overlapping another
    cells = [(x, y) for p in fleet["panels"] for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
             for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])]
    assert len(cells) == len(set(cells))
    for metric in ("atomfleet_run_duration_seconds_bucket", "atomfleet_task_queue_wait_seconds_bucket",
                   "celery_task_retried_total", "celery_task_failed_total"):
        assert metric in atom_exprs, metric
    assert "exception" in atom_exprs


def test_every_alert_has_a_runbook_in_the_docs() -> None:
    anchors = _anchors(DOCS.read_text())
    names = set()
    for rule in _rules():
        names.add(rule["alert"])
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "docs/observability.md" and anchor in anchors, (rule["alert"], url)
        assert rule["labels"]["severity"] in {"warning", "critical"}
    assert {"AtomfleetQueueOldestTaskTooOld", "AtomfleetTaskFailureRatioHigh", "AtomfleetQueueWithoutConsumer",
            "AtomfleetWorkersSaturated", "AtomfleetOutboxNotDraining", "AtomfleetTimeLimitKills",
            "AtomfleetWorkerDown", "AtomfleetBeatDown", "AtomfleetTenantThrottled"} <= names


def _promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (apt-get install -y prometheus; `make test` does it)")
    return binary


def test_promtool_check_rules() -> None:
    result = subprocess.run([_promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alerts() -> None:
    result = subprocess.run([_promtool(), "test", "rules", str(ALERT_TESTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
