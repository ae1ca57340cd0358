"""`helm uninstall` leaves no fleet objects behind except the data volumes (PVCs), by design.

Destructive: runs last (file order), then reinstalls the release with the values it had, so the
cluster ends as it started (its data volumes are reused).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile

import pytest
from _fleet import CHART, Release, wait_for

pytestmark = pytest.mark.cluster

# (group, version, plural) of namespaced custom resources the chart may render.
CUSTOM = [
    ("keda.sh", "v1alpha1", "scaledobjects"),
    ("keda.sh", "v1alpha1", "triggerauthentications"),
    ("monitoring.coreos.com", "v1", "servicemonitors"),
    ("monitoring.coreos.com", "v1", "podmonitors"),
    ("monitoring.coreos.com", "v1", "prometheusrules"),
]


def leftovers(release: Release) -> dict[str, list[str]]:
    from kubernetes import client

    sel, ns = release.selector, release.namespace
    api = release.core.api_client
    batch, policy, net, rbac = (client.BatchV1Api(api), client.PolicyV1Api(api),
                                client.NetworkingV1Api(api), client.RbacAuthorizationV1Api(api))
    found = {
        "deployments": release.apps.list_namespaced_deployment(ns, label_selector=sel).items,
        "statefulsets": release.apps.list_namespaced_stateful_set(ns, label_selector=sel).items,
        "pods": release.core.list_namespaced_pod(ns, label_selector=sel).items,
        "services": release.core.list_namespaced_service(ns, label_selector=sel).items,
        "configmaps": release.core.list_namespaced_config_map(ns, label_selector=sel).items,
        "secrets": release.core.list_namespaced_secret(ns, label_selector=sel).items,
        "serviceaccounts": release.core.list_namespaced_service_account(ns, label_selector=sel).items,
        "jobs": batch.list_namespaced_job(ns, label_selector=sel).items,
        "pdbs": policy.list_namespaced_pod_disruption_budget(ns, label_selector=sel).items,
        "networkpolicies": net.list_namespaced_network_policy(ns, label_selector=sel).items,
        "ingresses": net.list_namespaced_ingress(ns, label_selector=sel).items,
        "roles": rbac.list_namespaced_role(ns, label_selector=sel).items,
        "rolebindings": rbac.list_namespaced_role_binding(ns, label_selector=sel).items,
        "hpas": release.autoscaling.list_namespaced_horizontal_pod_autoscaler(ns, label_selector=sel).items,
    }
    out = {kind: [o.metadata.name for o in items] for kind, items in found.items() if items}
    for group, version, plural in CUSTOM:
        try:
            items = release.custom.list_namespaced_custom_object(group, version, ns, plural, label_selector=sel)["items"]
        except client.ApiException:
            continue  # CRD not installed
        if items:
            out[plural] = [o["metadata"]["name"] for o in items]
    return out


def test_helm_uninstall_leaves_only_the_data_volumes(release: Release) -> None:
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("helm is not installed (make kind-tools)")
    ns = ["--namespace", release.namespace]
    values = subprocess.run([helm, "get", "values", release.name, *ns, "-o", "yaml"],
                            capture_output=True, text=True, check=True).stdout
    pvcs_before = {p.metadata.name for p in release.core.list_namespaced_persistent_volume_claim(release.namespace).items}
    try:
        proc = subprocess.run([helm, "uninstall", release.name, *ns, "--wait", "--timeout", "10m"],
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr
        wait_for(lambda: not leftovers(release), 600, "the release's objects to be gone", interval=5)
        pvcs_after = {p.metadata.name for p in release.core.list_namespaced_persistent_volume_claim(release.namespace).items}
        assert pvcs_after == pvcs_before, "helm uninstall must keep the data volumes (PVCs) and only those"
    finally:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(values)
            f.flush()
            subprocess.run([helm, "upgrade", "--install", release.name, str(CHART), *ns, "--values", f.name,
                            "--wait", "--timeout", "10m"], capture_output=True, text=True, timeout=900)
