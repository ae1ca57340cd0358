"""What `helm uninstall` leaves behind is exactly what docs/operations.md says:

- the data volumes (PVCs of the StatefulSets' volumeClaimTemplates: Helm never owned them);
- objects annotated `helm.sh/resource-policy: keep` (the in-chart PostgreSQL's password Secret,
  which must match the data volume on a reinstall);
- hook objects whose delete policy did not remove them (Helm never uninstalls hooks): with this
  chart, none after successful hooks (migrations, bucket Job and test Pods are `hook-succeeded`).

The expectation is read from the release itself (`helm get manifest` / `helm get hooks`), then
checked against the cluster. Destructive: runs last (file order), then reinstalls the release with
the values it had, so the cluster ends as it started (its data volumes are reused).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from _fleet import CHART, Release, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from chartlib import uninstall_leftovers  # noqa: E402

# helm uninstall --wait (900 s) + objects going (600 s) + the reinstall --wait (900 s).
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(2700)]
PLURAL = {"Secret": "secrets", "ConfigMap": "configmaps", "ServiceAccount": "serviceaccounts", "Job": "jobs",
          "Pod": "pods", "Service": "services", "Deployment": "deployments", "StatefulSet": "statefulsets"}

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


def expected_leftovers(helm: str, release: Release) -> dict[str, list[str]]:
    """From Helm's own record of the release (chartlib.uninstall_leftovers), as leftovers() lists them."""
    ns = ["--namespace", release.namespace]
    manifest = subprocess.run([helm, "get", "manifest", release.name, *ns], capture_output=True, text=True, check=True).stdout
    hooks = subprocess.run([helm, "get", "hooks", release.name, *ns], capture_output=True, text=True, check=True).stdout
    kept = uninstall_leftovers([o for o in yaml.safe_load_all(manifest) if o], [o for o in yaml.safe_load_all(hooks) if o])
    return {PLURAL.get(kind, kind.lower() + "s"): names for kind, names in kept.items()}


def test_helm_uninstall_leaves_the_data_volumes_and_what_the_release_says_it_keeps(release: Release) -> None:
    helm = shutil.which("helm")
    assert helm, "helm is not installed (make kind-tools)"
    ns = ["--namespace", release.namespace]
    values = subprocess.run([helm, "get", "values", release.name, *ns, "-o", "yaml"],
                            capture_output=True, text=True, check=True).stdout
    expected = expected_leftovers(helm, release)
    pvcs_before = {p.metadata.name for p in release.core.list_namespaced_persistent_volume_claim(release.namespace).items}
    try:
        proc = subprocess.run([helm, "uninstall", release.name, *ns, "--wait", "--timeout", "10m"],
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr
        wait_for(lambda: {k: sorted(v) for k, v in leftovers(release).items()} == expected, 600,
                 f"exactly {expected or 'nothing'} to be left", interval=5)
        pvcs_after = {p.metadata.name for p in release.core.list_namespaced_persistent_volume_claim(release.namespace).items}
        assert pvcs_after == pvcs_before, "helm uninstall must keep the data volumes (PVCs) and only those"
    finally:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(values)
            f.flush()
            subprocess.run([helm, "upgrade", "--install", release.name, str(CHART), *ns, "--values", f.name,
                            "--wait", "--timeout", "10m"], capture_output=True, text=True, timeout=900)
