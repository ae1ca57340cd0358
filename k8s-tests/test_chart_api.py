"""Orchestrator API: Deployment, Service, optional Ingress, probes, metrics port, PDB."""

from __future__ import annotations

from chartlib import container, env_of, find, one, render


def test_api_runs_atomfleet_api_on_port_8000_with_health_probes() -> None:
    dep = one(render(), "Deployment", "atomfleet-api")
    c = container(dep)
    assert c["command"] == ["atomfleet"] and c["args"] == ["api"]
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert dep["spec"]["replicas"] == 2
    env = env_of(c)
    assert env["ATOMFLEET_SECRET_KEY"]["secretKeyRef"] == {"name": "atomfleet-secret", "key": "secret-key"}
    assert env["DATABASE_URL"]["secretKeyRef"] == {"name": "atomfleet-database", "key": "database-url"}


def test_api_service_exposes_http_and_metrics_on_one_port() -> None:
    svc = one(render(), "Service", "atomfleet-api")
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "api"


def test_ingress_is_optional() -> None:
    assert not find(render(), "Ingress")
    ing = one(
        render([], {"api": {"ingress": {"enabled": True, "className": "nginx", "hosts": [{"host": "fleet.example", "paths": [{"path": "/", "pathType": "Prefix"}]}]}}}),
        "Ingress",
        "atomfleet-api",
    )
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "fleet.example"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "atomfleet-api", "port": {"name": "http"}}
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
