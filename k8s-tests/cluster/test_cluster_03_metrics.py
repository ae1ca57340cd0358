"""Every worker pod and the API serve /metrics on their port named `metrics`; the API port (the one
the Ingress routes) serves none."""

from __future__ import annotations

import pytest
from _fleet import Release

# pyproject's 300 s default: one exec per pod.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

FETCH = (
    "import sys, urllib.request, urllib.error\n"
    "try:\n"
    "    print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())\n"
    "except urllib.error.HTTPError as e:\n"
    "    print(f'HTTP {e.code}')\n"
)


def _port(deploy, name: str) -> int:  # type: ignore[no-untyped-def]
    ports = {p.name: p.container_port for p in deploy.spec.template.spec.containers[0].ports or []}
    assert name in ports, f"{deploy.metadata.name}: no container port named {name}"
    return int(ports[name])


def test_every_worker_pod_serves_metrics_on_its_metrics_port(release: Release) -> None:
    checked = 0
    for queue, deploy in release.workers().items():
        port = _port(deploy, "metrics")
        for pod in release.ready_pods_of(deploy):
            rc, out, err = release.exec(pod.metadata.name, ["python3", "-c", FETCH, f"http://127.0.0.1:{port}/metrics"])
            assert rc == 0 and "# TYPE" in out, f"{pod.metadata.name} ({queue}): /metrics did not answer: {err[-500:]}"
            checked += 1
    assert checked, "no Ready worker pod to check"


def test_the_api_serves_metrics_on_its_metrics_port_and_not_on_the_api_port(release: Release) -> None:
    deploy = release.api_deployment()
    pod = release.ready_pods_of(deploy)[0].metadata.name
    rc, out, err = release.exec(pod, ["python3", "-c", FETCH, f"http://127.0.0.1:{_port(deploy, 'metrics')}/metrics"])
    assert rc == 0 and "atomfleet_api_requests_total" in out, err[-500:]
    rc, out, _ = release.exec(pod, ["python3", "-c", FETCH, f"http://127.0.0.1:{_port(deploy, 'http')}/metrics"])
    assert rc == 0 and out.strip() in ("HTTP 404", "HTTP 400"), out[:300]
