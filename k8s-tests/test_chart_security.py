"""Pod security of every pod, NetworkPolicies, PDBs per component, service account tokens."""

from __future__ import annotations

import pytest
from chartlib import VALUES_FILES, WORKLOAD_KINDS, find, one, pod_spec, render

ALL_ON = {"flower": {"enabled": True}}


def workloads(objs):
    return [o for o in objs if o["kind"] in WORKLOAD_KINDS]


@pytest.mark.parametrize("files", [[], *[[f] for f in VALUES_FILES]])
def test_every_pod_is_locked_down(files) -> None:
    objs = render(files, ALL_ON)
    assert workloads(objs)
    for o in workloads(objs):
        spec = pod_spec(o)
        name = o["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, name
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 10001, name
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"] == {"drop": ["ALL"]}, (name, c["name"])
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert "limits" in c["resources"] and "requests" in c["resources"], (name, c["name"])
            # writable paths are emptyDirs/volumes only
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), (name, c["name"])
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp


def test_service_account_does_not_mount_a_token() -> None:
    sa = one(render(), "ServiceAccount", "atomfleet")
    assert sa["automountServiceAccountToken"] is False


def _policy(objs, name):
    return one(objs, "NetworkPolicy", name)["spec"]


def test_redis_postgresql_minio_are_reachable_only_from_fleet_pods() -> None:
    objs = render(["kind.yaml"])
    for name, port in (("atomfleet-redis", "redis"), ("atomfleet-postgresql", "postgresql"), ("atomfleet-minio", "s3")):
        spec = _policy(objs, name)
        assert spec["policyTypes"] == ["Ingress"]
        assert len(spec["ingress"]) == 1
        rule = spec["ingress"][0]
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
        peer = rule["from"][0]["podSelector"]
        assert peer["matchLabels"] == {"app.kubernetes.io/name": "atomfleet", "app.kubernetes.io/instance": "atomfleet"}
        components = peer["matchExpressions"][0]["values"]
        assert set(components) == {"api", "worker", "beat", "migrations", "flower", "minio-setup", "test"}
        assert "namespaceSelector" not in rule["from"][0]  # same namespace only


MONITORING_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}, "podSelector": {}}
OBSERVABILITY = {"networkPolicy": {"metrics": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}}}


def test_worker_and_beat_metrics_only_from_the_monitoring_namespace() -> None:
    objs = render([], OBSERVABILITY)
    spec = _policy(objs, "atomfleet-worker")
    assert spec["ingress"] == [{"from": [MONITORING_PEER], "ports": [{"port": "metrics", "protocol": "TCP"}]}]
    # Beat serves the fleet-wide gauges on the same terms
    assert _policy(objs, "atomfleet-beat")["ingress"] == spec["ingress"]


def test_api_metrics_port_only_from_the_monitoring_namespace_and_api_port_open_by_default() -> None:
    spec = _policy(render([], OBSERVABILITY), "atomfleet-api")
    assert spec["ingress"] == [
        {"ports": [{"port": "http", "protocol": "TCP"}]},  # everyone: the API authenticates with tokens
        {"ports": [{"port": "metrics", "protocol": "TCP"}], "from": [MONITORING_PEER]},
    ]


def test_api_port_can_be_restricted_and_still_admits_the_helm_test_pods() -> None:
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    http, metrics = _policy(render([], {"networkPolicy": {"apiIngressFrom": peers}}), "atomfleet-api")["ingress"]
    assert http["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert http["from"][0] == peers[0]
    assert http["from"][1] == {"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "atomfleet", "app.kubernetes.io/instance": "atomfleet", "app.kubernetes.io/component": "test"}}}
    assert len(http["from"]) == 2  # the monitoring peers reach the metrics port only
    assert metrics["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert metrics["from"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}


def test_network_policies_can_be_turned_off() -> None:
    assert not find(render([], {"networkPolicy": {"enabled": False}}), "NetworkPolicy")


def test_every_component_has_a_pdb() -> None:
    objs = render(["kind.yaml"])
    names = {o["metadata"]["name"] for o in find(objs, "PodDisruptionBudget")}
    assert names == {"atomfleet-api", "atomfleet-events", "atomfleet-beat", "atomfleet-redis", "atomfleet-postgresql", "atomfleet-minio", "atomfleet-flower",
                     "atomfleet-worker-default", "atomfleet-worker-io-bound", "atomfleet-worker-ml-training",
                     "atomfleet-worker-webhooks"}


def test_bad_security_values_are_rejected(render_error) -> None:
    assert "/networkPolicy/enabled" in render_error({"networkPolicy": {"enabled": "yes"}})
    assert "/serviceAccount/automountServiceAccountToken" in render_error({"serviceAccount": {"automountServiceAccountToken": "no"}})
