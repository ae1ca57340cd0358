"""ServiceMonitor (API), PodMonitors (workers, beat), PrometheusRule (files/alerts) and Grafana
dashboard ConfigMaps (files/dashboards): each optional, with configurable extra labels; every target
gets the fleet's `job` (celery-exporter's selectors match it) and a `component`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from chartlib import chart_render, find, one, render

ON = {"monitoring": {"labels": {"release": "prom"}, "serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True},
                     "prometheusRule": {"enabled": True}, "dashboards": {"enabled": True}}}


def test_monitoring_objects_are_off_by_default() -> None:
    objs = render()
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
        assert not find(objs, kind)


def test_service_monitor_scrapes_the_api_and_pod_monitors_every_worker_and_beat() -> None:
    objs = render([], ON)
    sm = one(objs, "ServiceMonitor", "atomfleet-api")
    assert sm["metadata"]["labels"]["release"] == "prom"
    # The API's metrics port (the gunicorn master's), never the API port the Ingress routes.
    (endpoint,) = sm["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == ("metrics", "/metrics", "15s")
    assert sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    pm = one(objs, "PodMonitor", "atomfleet-worker")
    assert pm["metadata"]["labels"]["release"] == "prom"
    assert pm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    beat = one(objs, "PodMonitor", "atomfleet-beat")
    assert beat["metadata"]["labels"]["release"] == "prom"
    assert beat["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "beat"
    assert beat["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    container = one(objs, "Deployment", "atomfleet-beat")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 9808, "protocol": "TCP"} in container["ports"]


def _relabelings(objs: list[dict], kind: str, name: str) -> list[dict]:
    monitor = one(objs, kind, name)
    (endpoint,) = monitor["spec"]["podMetricsEndpoints" if kind == "PodMonitor" else "endpoints"]
    return endpoint["relabelings"]


def test_every_target_gets_the_celery_job_and_its_component_and_workers_their_queue() -> None:
    # celery-exporter's alerts select job=~".*celery.*", its old dashboard job=~"celery|celery-exporter",
    # its overview takes $job from celery_worker_up (beat): one job for workers, API and beat.
    objs = render([], ON)
    for kind, name, component in (("PodMonitor", "atomfleet-worker", "worker"), ("PodMonitor", "atomfleet-beat", "beat"),
                                  ("ServiceMonitor", "atomfleet-api", "api")):
        rules = _relabelings(objs, kind, name)
        assert {"action": "replace", "targetLabel": "job", "replacement": "celery"} in rules, name
        assert {"action": "replace", "targetLabel": "component", "replacement": component} in rules, name
    assert {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_label_atomfleet_io_queue"],
            "targetLabel": "queue"} in _relabelings(objs, "PodMonitor", "atomfleet-worker")
    # The queue label comes from a label every worker pod carries
    for dep in find(objs, "Deployment"):
        if dep["metadata"]["labels"]["app.kubernetes.io/component"] == "worker":
            assert dep["spec"]["template"]["metadata"]["labels"]["atomfleet.io/queue"]


def test_the_job_label_is_a_value() -> None:
    objs = render([], {**ON, "monitoring": {**ON["monitoring"], "jobLabel": "atomfleet"}})
    assert {"action": "replace", "targetLabel": "job", "replacement": "atomfleet"} in _relabelings(objs, "PodMonitor", "atomfleet-beat")


def test_beat_accepts_metrics_scrapes_from_the_monitoring_namespace_only() -> None:
    policy = one(render(), "NetworkPolicy", "atomfleet-beat")
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert rule["from"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}


def test_no_beat_monitor_without_beat() -> None:
    assert not find(render([], {**ON, "beat": {"enabled": False}}), "PodMonitor", "atomfleet-beat")


def _chart_with_files(tmp_path: Path) -> Path:
    chart = tmp_path / "atomfleet"
    shutil.copytree(chart_render.CHART, chart)
    (chart / "files" / "dashboards" / "atomfleet_overview.json").write_text(json.dumps({"title": "atomfleet overview", "panels": []}))
    alerts = chart / "files" / "alerts" / "atomfleet-alerts.yaml"
    if not alerts.exists():
        alerts.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "vector(1)"}]}]}))
    return chart


def test_dashboards_and_alert_rules_come_from_the_chart_files(tmp_path: Path) -> None:
    chart = _chart_with_files(tmp_path)
    text = chart_render.manifest_text(chart_render.render_templates(ON, chart=chart))
    objs = [o for o in yaml.safe_load_all(text) if o]
    cm = one(objs, "ConfigMap", "atomfleet-dashboard-atomfleet-overview")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["atomfleet_overview.json"])["title"] == "atomfleet overview"
    rule = one(objs, "PrometheusRule", "atomfleet-alerts")
    assert rule["metadata"]["labels"]["release"] == "prom"
    assert rule["spec"]["groups"]


def test_missing_dashboard_and_alert_files_render_nothing_instead_of_failing() -> None:
    # The chart renders whether or not files/ has content yet.
    objs = render([], ON)
    if not list((chart_render.CHART / "files" / "dashboards").glob("*.json")):
        assert not [o for o in find(objs, "ConfigMap") if "grafana_dashboard" in o["metadata"]["labels"]]
    if not (chart_render.CHART / "files" / "alerts" / "atomfleet-alerts.yaml").exists():
        assert not find(objs, "PrometheusRule")


def test_dashboards_can_go_to_grafanas_namespace(tmp_path: Path) -> None:
    chart = _chart_with_files(tmp_path)
    values = {"monitoring": {"dashboards": {"enabled": True, "namespace": "grafana", "labels": {"grafana_dashboard": "1", "team": "x"}}}}
    objs = [o for o in yaml.safe_load_all(chart_render.manifest_text(chart_render.render_templates(values, chart=chart))) if o]
    cm = one(objs, "ConfigMap", "atomfleet-dashboard-atomfleet-overview")
    assert cm["metadata"]["namespace"] == "grafana" and cm["metadata"]["labels"]["team"] == "x"


def test_bad_monitoring_values_are_rejected(render_error) -> None:
    assert "/monitoring/interval" in render_error({"monitoring": {"interval": "often"}})
    assert "/monitoring/labels/release" in render_error({"monitoring": {"labels": {"release": 1}}})
    assert "/monitoring/jobLabel" in render_error({"monitoring": {"jobLabel": ""}})
