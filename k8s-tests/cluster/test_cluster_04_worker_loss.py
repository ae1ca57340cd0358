"""Deleting a worker pod in the middle of an idempotent run still completes the run.

`diagnostics.sleep` is idempotent. A graceful delete (what a drain or a scale-down does) lets the
warm shutdown finish the run; a forced delete (grace 0, as a node loss) kills it, and the run is
redelivered (acks_late) or re-dispatched by the reconciler once its heartbeat goes stale.
"""

from __future__ import annotations

import pytest
from _fleet import FleetApi, Release, wait_for

# pyproject's 300 s default is too short here: run start (120 s) + stale heartbeat and redelivery (600 s) + pod replacement (300 s).
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]


@pytest.mark.parametrize("grace", [None, 0], ids=["graceful-delete", "forced-delete"])
def test_deleting_the_worker_pod_mid_run_still_completes_an_idempotent_run(
    release: Release, api: FleetApi, grace: int | None
) -> None:
    run_id = api.submit("diagnostics.sleep", {"seconds": 40, "steps": 40})
    wait_for(lambda: api.status(run_id) == "running", 120, f"run {run_id} to start")
    run = api.run(run_id)
    deploy = release.workers()["default"]
    pods = release.pods_of(deploy)
    # The run reports its worker (`<queue>@<pod name>`) where the API shows it; else delete them all.
    worker = str(run.get("worker") or "")
    victims = [p for p in pods if p.metadata.name in worker] or pods
    for pod in victims:
        release.core.delete_namespaced_pod(pod.metadata.name, release.namespace, grace_period_seconds=grace)
    # Stale heartbeat (90 s) + reconcile period + the rest of the sleep, with room to spare.
    finished = api.wait(run_id, timeout=600)
    assert finished["status"] == "succeeded", finished
    wait_for(lambda: len(release.ready_pods_of(release.workers()["default"])) >= (deploy.spec.replicas or 1),
             300, "the default workers to be replaced")
