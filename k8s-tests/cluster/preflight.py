#!/usr/bin/env python3
"""Is there a release to run the cluster tests against? One line saying why not, exit 1.

    ATOMFLEET_E2E_RELEASE=atomfleet ATOMFLEET_E2E_NAMESPACE=atomfleet python k8s-tests/cluster/preflight.py

`make e2e` runs it first; the cluster tests' conftest runs the same check and stops the session
(fails, never skips) when it does not pass.
"""

from __future__ import annotations

import os
import sys
from typing import Any

RELEASE = os.environ.get("ATOMFLEET_E2E_RELEASE", "atomfleet")
NAMESPACE = os.environ.get("ATOMFLEET_E2E_NAMESPACE", "atomfleet")


def connect() -> tuple[Any, str | None]:
    """(kubernetes ApiClient, None) when the release answers, else (None, why not in one line)."""
    from kubernetes import client, config

    kubeconfig = os.environ.get("KUBECONFIG", "~/.kube/config")
    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            config.load_incluster_config()
        else:
            config.load_kube_config()
    except Exception as exc:  # noqa: BLE001 - any config problem means: no cluster configured
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        return None, f"no Kubernetes cluster configured (KUBECONFIG={kubeconfig}): {first}; run `make kind-up`"
    api = client.ApiClient()
    server = api.configuration.host
    try:
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as exc:  # noqa: BLE001
        return None, f"no Kubernetes cluster answers at {server} ({type(exc).__name__}); start it (`make kind-up`) or point KUBECONFIG at one"
    try:
        deployments = client.AppsV1Api(api).list_namespaced_deployment(
            NAMESPACE, label_selector=f"app.kubernetes.io/instance={RELEASE}", _request_timeout=10).items
    except Exception as exc:  # noqa: BLE001
        return None, f"cannot list the Deployments of namespace {NAMESPACE} on {server} ({type(exc).__name__})"
    if not deployments:
        return None, f"release {RELEASE} is not installed in namespace {NAMESPACE} on {server}; run `make deploy`"
    return api, None


def main() -> int:
    _, reason = connect()
    if reason:
        print(f"e2e: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
