"""Orchestrator API: Deployment, Service, optional Ingress, probes, metrics port, proxy trust,
allowed hosts, PDB."""

from __future__ import annotations

from typing import Any

from chartlib import container, env_of, find, one, render


def test_api_runs_atomfleet_api_on_port_8000_with_health_probes_and_metrics_on_9808() -> None:
    objs = render()
    dep = one(objs, "Deployment", "atomfleet-api")
    c = container(dep)
    assert c["command"] == ["atomfleet"] and c["args"] == ["api"]
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"},
                          {"name": "metrics", "containerPort": 9808, "protocol": "TCP"}]
    config = one(objs, "ConfigMap", "atomfleet-config")["data"]
    assert (config["ATOMFLEET_API_PORT"], config["ATOMFLEET_METRICS_PORT"]) == ("8000", "9808")
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert dep["spec"]["replicas"] == 2
    env = env_of(c)
    assert env["ATOMFLEET_SECRET_KEY"]["secretKeyRef"] == {"name": "atomfleet-secret", "key": "secret-key"}
    assert env["DATABASE_URL"]["secretKeyRef"] == {"name": "atomfleet-database", "key": "database-url"}


def test_api_service_exposes_http_and_metrics_on_separate_ports() -> None:
    svc = one(render(), "Service", "atomfleet-api")
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"},
                                    {"name": "metrics", "port": 9808, "targetPort": "metrics", "protocol": "TCP"}]
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "api"


def test_ports_are_declared_once_in_values() -> None:
    objs = render([], {"ports": {"api": 8080, "metrics": 9100, "flower": 5600}, "flower": {"enabled": True}})
    api = container(one(objs, "Deployment", "atomfleet-api"))
    assert [p["containerPort"] for p in api["ports"]] == [8080, 9100]
    worker = container(one(objs, "Deployment", "atomfleet-worker-default"))
    assert [p["containerPort"] for p in worker["ports"]] == [9100]
    config = one(objs, "ConfigMap", "atomfleet-config")["data"]
    assert (config["ATOMFLEET_API_PORT"], config["ATOMFLEET_METRICS_PORT"]) == ("8080", "9100")
    flower = container(one(objs, "Deployment", "atomfleet-flower"))
    assert flower["ports"][0]["containerPort"] == 5600 and "--port=5600" in flower["args"]


def test_ingress_routes_only_the_api_port(render_error) -> None:
    objs = render(["production.yaml"])
    ing = one(objs, "Ingress", "atomfleet-api")
    backends = [(p["path"], p["backend"]["service"]) for r in ing["spec"]["rules"] for p in r["http"]["paths"]]
    # The stream path goes to the events Deployment (test_chart_events.py), the rest to the API.
    assert backends == [("/api/v1/events/stream", {"name": "atomfleet-events", "port": {"name": "http"}}),
                        ("/", {"name": "atomfleet-api", "port": {"name": "http"}})]
    assert "ports.api and ports.metrics are both 8000" in render_error({"ports": {"metrics": 8000}})


SERVICE_NAMES = ["atomfleet-api", "atomfleet-api.atomfleet", "atomfleet-api.atomfleet.svc",
                 "atomfleet-api.atomfleet.svc.cluster.local"]
LOOPBACK = ["localhost", "127.0.0.1", "[::1]"]


def _allowed_hosts(files: list[str] | None = None, values: dict[str, Any] | None = None) -> list[str]:
    return str(one(render(files, values), "ConfigMap", "atomfleet-config")["data"]["ATOMFLEET_ALLOWED_HOSTS"]).split(",")


def test_allowed_hosts_default_to_the_names_the_api_is_reached_by_never_any_host() -> None:
    # helm install with defaults: in-cluster clients and `helm test` (the Service's names) and
    # `kubectl port-forward` (loopback) are accepted; kubelet probes skip host validation.
    assert _allowed_hosts() == SERVICE_NAMES + LOOPBACK
    assert _allowed_hosts([], {"clusterDomain": "corp.internal"})[3] == "atomfleet-api.atomfleet.svc.corp.internal"


def test_allowed_hosts_add_the_configured_names_and_the_ingress_hosts() -> None:
    assert _allowed_hosts(["production.yaml"]) == ["atomfleet.example.com", *SERVICE_NAMES, *LOOPBACK]
    ingress = {"api": {"ingress": {"enabled": True, "hosts": [
        {"host": "fleet.example", "paths": [{"path": "/", "pathType": "Prefix"}]},
        {"host": "fleet.internal", "paths": [{"path": "/", "pathType": "Prefix"}]}]}}}
    assert _allowed_hosts([], ingress) == ["fleet.example", "fleet.internal", *SERVICE_NAMES, *LOOPBACK]
    assert _allowed_hosts([], {**ingress, "config": {"allowedHosts": "api.example, fleet.example"}}) == [
        "api.example", "fleet.example", "fleet.internal", *SERVICE_NAMES, *LOOPBACK]


def test_any_host_only_when_asked_for() -> None:
    assert _allowed_hosts([], {"config": {"allowedHosts": "*"}}) == ["*"]


def test_forwarded_headers_are_trusted_from_configured_proxies_only(render_error) -> None:
    assert one(render(), "ConfigMap", "atomfleet-config")["data"]["ATOMFLEET_FORWARDED_ALLOW_IPS"] == "127.0.0.1"
    assert one(render(["production.yaml"]), "ConfigMap", "atomfleet-config")["data"]["ATOMFLEET_FORWARDED_ALLOW_IPS"] == "*"
    cidrs = {"api": {"forwardedAllowIps": ["10.0.0.0/8", "192.168.1.4"]}}
    assert one(render([], cidrs), "ConfigMap", "atomfleet-config")["data"]["ATOMFLEET_FORWARDED_ALLOW_IPS"] == "10.0.0.0/8,192.168.1.4"
    message = render_error({"api": {"forwardedAllowIps": ["*"]}})
    assert 'api.forwardedAllowIps is "*" but the API port is open to every pod' in message
    assert "/api/forwardedAllowIps/0" in render_error({"api": {"forwardedAllowIps": ["any proxy"]}})


def test_ingress_is_optional() -> None:
    assert not find(render(), "Ingress")
    ing = one(
        render([], {"api": {"ingress": {"enabled": True, "className": "nginx", "hosts": [{"host": "fleet.example", "paths": [{"path": "/", "pathType": "Prefix"}]}]}}}),
        "Ingress",
        "atomfleet-api",
    )
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "fleet.example"
    assert rule["http"]["paths"][-1]["backend"]["service"] == {"name": "atomfleet-api", "port": {"name": "http"}}
    assert ing["spec"]["ingressClassName"] == "nginx"


def test_ingress_without_hosts_is_rejected(render_error) -> None:
    assert "api.ingress.enabled is true but api.ingress.hosts is empty" in render_error({"api": {"ingress": {"enabled": True, "hosts": []}}})


def test_api_pdb_and_its_switch() -> None:
    pdb = one(render(), "PodDisruptionBudget", "atomfleet-api")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert not find(render([], {"api": {"pdb": {"enabled": False}}}), "PodDisruptionBudget", "atomfleet-api")


def test_bad_api_values_are_rejected(render_error) -> None:
    assert "/api/service/port" in render_error({"api": {"service": {"port": 70000}}})
    assert "/api/service/type" in render_error({"api": {"service": {"type": "External"}}})
