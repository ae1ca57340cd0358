"""Every worker pod's metrics endpoint (port 9808, /metrics) answers."""

from __future__ import annotations

import pytest
from _fleet import Release

pytestmark = pytest.mark.cluster

FETCH = (
    "import urllib.request;"
    "print(urllib.request.urlopen('http://127.0.0.1:9808/metrics', timeout=10).read().decode())"
)


def test_every_worker_pod_serves_metrics_on_9808(release: Release) -> None:
    checked = 0
    for queue, deploy in release.workers().items():
        ports = {p.container_port for p in deploy.spec.template.spec.containers[0].ports or []}
        assert 9808 in ports, f"{queue}: the worker container does not declare port 9808"
        for pod in release.ready_pods_of(deploy):
            rc, out, err = release.exec(pod.metadata.name, ["python3", "-c", FETCH])
            assert rc == 0 and "# TYPE" in out, f"{pod.metadata.name}: /metrics did not answer: {err[-500:]}"
            checked += 1
    assert checked, "no Ready worker pod to check"
