"""`helm upgrade` with changed configuration rolls the pods."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest
from _fleet import CHART, Release, wait_for

# pyproject's 300 s default is too short here: helm upgrade --wait (900 s) + the roll (600 s).
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]


def test_helm_upgrade_with_changed_config_rolls_every_fleet_pod(release: Release) -> None:
    helm = shutil.which("helm")
    if helm is None:
        pytest.skip("helm is not installed (make kind-tools)")
    before = {d.metadata.name: {p.metadata.name for p in release.pods_of(d)} for d in release.deployments()}
    fleet = list(before)
    marker = uuid.uuid4().hex[:8]
    proc = subprocess.run(
        [helm, "upgrade", release.name, str(CHART), "--namespace", release.namespace, "--reuse-values",
         "--set", f"config.extraEnv.ATOMFLEET_E2E_MARK={marker}", "--wait", "--timeout", "10m"],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr

    def rolled() -> bool:
        for name in fleet:
            d = release.apps.read_namespaced_deployment(name, release.namespace)
            pods = release.pods_of(d)
            if (d.spec.replicas or 0) and (not pods or {p.metadata.name for p in pods} & before.get(name, set())):
                return False
        return True

    wait_for(rolled, 600, "every fleet Deployment to replace its pods")
    # The new pods see the changed configuration.
    api_pod = release.ready_pods_of(release.api_deployment())[0].metadata.name
    rc, out, _ = release.exec(api_pod, ["printenv", "ATOMFLEET_E2E_MARK"])
    assert rc == 0 and out.strip() == marker
