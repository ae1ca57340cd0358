"""Dashboards and alert rules: portable JSON, promtool checks, and every expression evaluated by a
real Prometheus scraping a live local fleet (workers of two queues, the API, kube-state-metrics).

kube-state-metrics only exists in Kubernetes: a static exporter serves the series the replicas
panel reads (``kube_deployment_*{deployment}``), so that panel is evaluated against real data
shapes too; the ``namespace`` label comes from the scrape config, as a ServiceMonitor adds it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability._support import REPO, Api, StaticExporter, wait_for

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
                   "atomfleet_queue_oldest_age_seconds", "atomfleet_worker_busy_slots",
                   "kube_deployment_status_replicas_available"):
        assert metric in fleet_exprs, metric
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
            "AtomfleetWorkersSaturated", "AtomfleetOutboxNotDraining", "AtomfleetTimeLimitKills"} <= names


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


KSM = """\
# HELP kube_deployment_status_replicas_available Available replicas per deployment.
# TYPE kube_deployment_status_replicas_available gauge
kube_deployment_status_replicas_available{deployment="atomfleet-worker-default"} 1
kube_deployment_status_replicas_available{deployment="atomfleet-worker-io-bound"} 1
kube_deployment_status_replicas_available{deployment="atomfleet-worker-ml-training"} 0
# HELP kube_deployment_spec_replicas Desired replicas per deployment.
# TYPE kube_deployment_spec_replicas gauge
kube_deployment_spec_replicas{deployment="atomfleet-worker-default"} 1
kube_deployment_spec_replicas{deployment="atomfleet-worker-io-bound"} 1
kube_deployment_spec_replicas{deployment="atomfleet-worker-ml-training"} 0
"""


@pytest.mark.fleet
def test_every_panel_and_alert_expression_evaluates_on_a_live_fleet(
    fleet_app, start_worker, start_prometheus, broker_url, workdir
) -> None:
    # Given workers of two queues (one recycling every child), the API and kube-state-metrics
    default = start_worker("default", concurrency=2, max_tasks_per_child=1)
    io_bound = start_worker("io_bound", concurrency=1, max_tasks_per_child=None)
    api = Api(broker_url, workdir)
    ksm = StaticExporter(KSM)
    try:
        default.wait_ready()
        io_bound.wait_ready()
        prom = start_prometheus(
            {"worker": [f"127.0.0.1:{default.port}", f"127.0.0.1:{io_bound.port}"],
             "api": [f"127.0.0.1:{api.port}"], "kube-state-metrics": [f"127.0.0.1:{ksm.port}"]},
            rule_files=[str(ALERTS)],
        )
        wait_for(prom.targets_up, 30, "all targets up")

        # When a mixed workload runs and clients use the API
        for i in range(12):
            fleet_app.send_task("atomfleet.atom.test.ok", (i,), queue="default")
        for i in range(4):
            fleet_app.send_task("atomfleet.atom.test.fail", (i,), queue="default")
        fleet_app.send_task("atomfleet.atom.test.retry", queue="default")
        fleet_app.send_task("atomfleet.atom.test.sleep", (60,), queue="default")
        for i in range(5):
            fleet_app.send_task("atomfleet.atom.test.ok", (i,), queue="io_bound")
        for _ in range(3):
            api.request("POST", "/api/v1/runs")
            api.request("GET", "/api/v1/runs")
        api.request("POST", "/test/reconcile")
        prom.wait_value('sum(celery_task_started_total)', 24, timeout=120)
        prom.wait_value('sum(celery_task_failed_total)', 5, timeout=30)
        time.sleep(3)  # a few more scrapes so every rate() window holds two points after the end

        # Then every panel expression parses and returns data
        empty = []
        for path in DASHBOARDS:
            for panel in _panels(json.loads(path.read_text())):
                for target in panel["targets"]:
                    expr = _expand(target["expr"])
                    reply = prom.api("query", query=expr)
                    assert reply["status"] == "success", (path.name, panel["title"], expr, reply)
                    if not reply["data"]["result"]:
                        empty.append((path.name, panel["title"], expr))
        assert not empty, "panels without data:\n" + "\n".join(map(str, empty))

        # And every alert expression parses and evaluates; Prometheus loaded the rules healthy
        for rule in _rules():
            reply = prom.api("query", query=rule["expr"])
            assert reply["status"] == "success", (rule["alert"], reply)
        groups = prom.api("rules")["data"]["groups"]
        wait_for(lambda: all(r.get("health") == "ok" for g in prom.api("rules")["data"]["groups"]
                             for r in g["rules"]), 15, "rules evaluated healthy")
        assert sum(len(g["rules"]) for g in groups) == len(_rules())
    except BaseException:
        print(default.log_text(), io_bound.log_text())
        raise
    finally:
        api.stop()
        ksm.close()
