"""The cluster tests run only when asked for: `make test` never collects k8s-tests/cluster (it would
uninstall the release of whatever cluster KUBECONFIG names), and `make e2e` without a cluster or a
release fails — never skips — with one line saying why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from chartlib import ROOT

CLOSED_PORT_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users: [{name: u, user: {token: not-a-token}}]
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ATOMFLEET_E2E", "KUBERNETES_SERVICE_HOST", "MAKEFLAGS", "MAKELEVEL")}
    return {**env, **extra}


def test_the_default_test_run_does_not_collect_the_cluster_tests() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "k8s-tests"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "k8s-tests/cluster/" not in proc.stdout
    assert "test_chart_cli.py" in proc.stdout
    e2e = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "k8s-tests/cluster"],
                         cwd=ROOT, env=_env(ATOMFLEET_E2E="1"), capture_output=True, text=True, timeout=300)
    assert "k8s-tests/cluster/test_cluster_09_uninstall.py" in e2e.stdout


@pytest.mark.parametrize(("kubeconfig", "why"), [
    ("", "e2e: no Kubernetes cluster configured"),
    (CLOSED_PORT_KUBECONFIG, "e2e: no Kubernetes cluster answers at https://127.0.0.1:1"),
], ids=["no-kubeconfig", "nothing-answers"])
def test_make_e2e_without_a_cluster_fails_with_one_line(tmp_path: Path, kubeconfig: str, why: str) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(kubeconfig)
    proc = subprocess.run(["make", "-s", "--no-print-directory", "e2e"], cwd=ROOT, env=_env(KUBECONFIG=str(config)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip() and not line.startswith("make: ***")]
    assert len(ours) == 1 and ours[0].startswith(why), proc.stdout + proc.stderr
