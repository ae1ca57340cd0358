"""`helm test`: the chart's test hook Pods register their token and complete one run per queue
through the API Service; successful test Pods are deleted (hook-succeeded)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from _fleet import Release

HELM_TEST_TIMEOUT = "15m"
# helm test waits for each Pod in turn; ml_training may start from zero (KEDA).
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1000)]


def test_helm_test_passes_and_leaves_no_test_pod(release: Release) -> None:
    helm = shutil.which("helm")
    assert helm, "helm is not installed (make kind-tools)"
    proc = subprocess.run([helm, "test", release.name, "--namespace", release.namespace, "--timeout", HELM_TEST_TIMEOUT],
                          capture_output=True, text=True, timeout=960)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    left = release.core.list_namespaced_pod(
        release.namespace, label_selector=f"app.kubernetes.io/instance={release.name},app.kubernetes.io/component=test").items
    assert [p.metadata.name for p in left if p.metadata.deletion_timestamp is None] == []
