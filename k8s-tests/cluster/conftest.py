"""Cluster tests: a live atomfleet release, reached through KUBECONFIG (`make e2e`).

Collected only when asked for (`make e2e` sets ATOMFLEET_E2E=1; `make test` never collects them).
When no cluster or no release answers, the session stops with one line saying why: these tests
fail, never skip, when they cannot run.
  ATOMFLEET_E2E_RELEASE    Helm release name (default atomfleet)
  ATOMFLEET_E2E_NAMESPACE  its namespace (default atomfleet)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _fleet import FleetApi, Release, issue_token, port_forward  # noqa: E402
from preflight import NAMESPACE, RELEASE, connect  # noqa: E402


@pytest.fixture(scope="session")
def release() -> Release:
    api_client, reason = connect()
    if reason:
        pytest.exit(f"e2e: {reason}", returncode=1)
    from kubernetes import client

    return Release(
        name=RELEASE,
        namespace=NAMESPACE,
        core=client.CoreV1Api(api_client),
        apps=client.AppsV1Api(api_client),
        custom=client.CustomObjectsApi(api_client),
        autoscaling=client.AutoscalingV2Api(api_client),
    )


@pytest.fixture(scope="session")
def api(release: Release) -> Iterator[FleetApi]:
    svc = release.api_service()
    port = next(p.port for p in svc.spec.ports if p.name == "http")
    token = issue_token(release)
    with port_forward(release, svc.metadata.name, port) as base_url:
        fleet_api = FleetApi(base_url, token)
        yield fleet_api
        fleet_api.http.close()
