"""`kubectl scale` of a manual-mode queue to 0 leaves its runs queued; scaling back completes them."""

from __future__ import annotations

import time

import pytest
from _fleet import WAITING, FleetApi, Release, wait_for

# pyproject's 300 s default is too short here: pods stopping (600 s) + 30 s + the run (300 s).
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]


def test_scaling_a_manual_queue_to_zero_holds_its_runs_and_scaling_up_completes_them(
    release: Release, api: FleetApi
) -> None:
    owned = release.autoscaled_deployments()
    manual = {q: d for q, d in release.workers().items() if d.metadata.name not in owned}
    if not manual:
        pytest.skip("every queue is autoscaled in this release: no manual-mode queue to scale")
    queue = "default" if "default" in manual else sorted(manual)[0]
    deploy = manual[queue]
    name, replicas = deploy.metadata.name, deploy.spec.replicas or 1
    try:
        release.scale(name, 0)
        wait_for(lambda: not release.core.list_namespaced_pod(
            release.namespace, label_selector=",".join(f"{k}={v}" for k, v in deploy.spec.selector.match_labels.items())
        ).items, 600, f"the {queue} pods to stop")
        run_id = api.submit_for(queue)
        time.sleep(30)
        assert api.status(run_id) in WAITING, f"run on a queue with no workers is {api.status(run_id)}"
    finally:
        release.scale(name, replicas)
    finished = api.wait(run_id, timeout=300)
    assert finished["status"] == "succeeded", finished
