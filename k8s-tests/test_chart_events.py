"""The events process (`atomfleet events`, SSE): Deployment, Service, probes, metrics port, PDB,
the Ingress path routed to it, its switch."""

from __future__ import annotations

from chartlib import container, env_of, find, one, pod_spec, render


def test_events_runs_atomfleet_events_on_its_port_with_probes_and_metrics() -> None:
    objs = render()
    dep = one(objs, "Deployment", "atomfleet-events")
    c = container(dep)
    assert c["command"] == ["atomfleet"] and c["args"] == ["events"]
    assert c["ports"] == [{"name": "http", "containerPort": 8001, "protocol": "TCP"},
                          {"name": "metrics", "containerPort": 9808, "protocol": "TCP"}]
    assert one(objs, "ConfigMap", "atomfleet-config")["data"]["ATOMFLEET_EVENTS_PORT"] == "8001"
    env = env_of(c)
    assert env["ATOMFLEET_EVENTS_HOST"] == "0.0.0.0"  # the default (loopback) is unreachable in a pod
    assert env["DATABASE_URL"]["secretKeyRef"] == {"name": "atomfleet-database", "key": "database-url"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_events_pods_are_secured_and_rolled_exactly_like_the_apis() -> None:
    objs = render()
    api, events = one(objs, "Deployment", "atomfleet-api"), one(objs, "Deployment", "atomfleet-events")
    assert container(events)["securityContext"] == container(api)["securityContext"]
    for key in ("securityContext", "serviceAccountName", "automountServiceAccountToken", "volumes"):
        assert pod_spec(events).get(key) == pod_spec(api).get(key), key
    assert container(events)["volumeMounts"] == container(api)["volumeMounts"]
    assert container(events)["envFrom"] == container(api)["envFrom"]
    checksums = {k: v for k, v in events["spec"]["template"]["metadata"]["annotations"].items() if k.startswith("checksum/")}
    assert checksums and checksums == {k: v for k, v in api["spec"]["template"]["metadata"]["annotations"].items()
                                       if k.startswith("checksum/")}


def test_events_service_pdb_and_service_monitor() -> None:
    objs = render(["production.yaml"])
    svc = one(objs, "Service", "atomfleet-events")
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8001, "targetPort": "http", "protocol": "TCP"},
                                    {"name": "metrics", "port": 9808, "targetPort": "metrics", "protocol": "TCP"}]
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "events"
    assert one(objs, "PodDisruptionBudget", "atomfleet-events")["spec"]["maxUnavailable"] == 1
    if find(objs, "ServiceMonitor"):
        monitor = one(objs, "ServiceMonitor", "atomfleet-events")
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    policy = one(objs, "NetworkPolicy", "atomfleet-events")
    assert [r["ports"][0]["port"] for r in policy["spec"]["ingress"]] == ["http", "metrics"]


def test_the_ingress_routes_the_stream_path_to_the_events_service() -> None:
    ing = one(render([], {"api": {"ingress": {"enabled": True, "hosts": [
        {"host": "fleet.example", "paths": [{"path": "/", "pathType": "Prefix"}]}]}}}), "Ingress", "atomfleet-api")
    paths = ing["spec"]["rules"][0]["http"]["paths"]
    assert paths[0] == {"path": "/api/v1/events/stream", "pathType": "Prefix",
                        "backend": {"service": {"name": "atomfleet-events", "port": {"name": "http"}}}}
    assert paths[1]["backend"]["service"]["name"] == "atomfleet-api"


def test_events_can_be_turned_off_and_bad_values_are_rejected(render_error) -> None:
    objs = render([], {"events": {"enabled": False}, "api": {"ingress": {"enabled": True}}})
    assert not [o for o in objs if o["metadata"]["name"] == "atomfleet-events"]
    paths = one(objs, "Ingress", "atomfleet-api")["spec"]["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"]["name"] for p in paths] == ["atomfleet-api"]
    assert "ports.events and ports.metrics are both 9808" in render_error({"ports": {"events": 9808}})
    assert "/events/service/port" in render_error({"events": {"service": {"port": 70000}}})
    assert "/events/replicas" in render_error({"events": {"replicas": -1}})
