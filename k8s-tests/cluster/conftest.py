"""Cluster tests: a live atomfleet release, reached through KUBECONFIG (`make e2e`).

When no cluster answers, or the release is not installed, every test skips with a one-line
reason, so these tests never fail a machine without Kubernetes.
  ATOMFLEET_E2E_RELEASE    Helm release name (default atomfleet)
  ATOMFLEET_E2E_NAMESPACE  its namespace (default atomfleet)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _fleet import FleetApi, Release, issue_token, port_forward  # noqa: E402

RELEASE = os.environ.get("ATOMFLEET_E2E_RELEASE", "atomfleet")
NAMESPACE = os.environ.get("ATOMFLEET_E2E_NAMESPACE", "atomfleet")


def _connect() -> tuple[object, str | None]:
    """(kubernetes ApiClient, None) or (None, why not)."""
    try:
        from kubernetes import client, config
    except ImportError:
        return None, "the kubernetes Python client is not installed"
    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
            config.load_incluster_config()
        else:
            config.load_kube_config()
    except Exception as exc:  # noqa: BLE001 - any config problem means: no cluster here
        return None, f"no Kubernetes cluster configured (KUBECONFIG): {str(exc).splitlines()[0][:120]}"
    try:
        client.VersionApi().get_code(_request_timeout=5)
    except Exception as exc:  # noqa: BLE001
        return None, f"no Kubernetes cluster answers: {type(exc).__name__}"
    return client.ApiClient(), None


@pytest.fixture(scope="session")
def release() -> Release:
    api_client, reason = _connect()
    if reason:
        pytest.skip(reason)
    from kubernetes import client

    rel = Release(
        name=RELEASE,
        namespace=NAMESPACE,
        core=client.CoreV1Api(api_client),
        apps=client.AppsV1Api(api_client),
        custom=client.CustomObjectsApi(api_client),
        autoscaling=client.AutoscalingV2Api(api_client),
    )
    if not rel.deployments():
        pytest.skip(f"release {RELEASE} is not installed in namespace {NAMESPACE} (make deploy)")
    return rel


@pytest.fixture(scope="session")
def api(release: Release) -> Iterator[FleetApi]:
    svc = release.api_service()
    port = svc.spec.ports[0].port
    token = issue_token(release)
    with port_forward(release, svc.metadata.name, port) as base_url:
        fleet_api = FleetApi(base_url, token)
        yield fleet_api
        fleet_api.http.close()
