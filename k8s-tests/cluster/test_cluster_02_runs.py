"""One run per queue through the API Service; the ml_training pod runs on the GPU node only."""

from __future__ import annotations

import pytest
from _fleet import FleetApi, Release, wait_for

# pyproject's 300 s default is too short here: three runs of up to 420 s each (ml_training may start from zero).
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1500)]

GPU_LABEL = ("nvidia.com/gpu.present", "true")


def test_one_run_per_queue_completes_through_the_api_service(api: FleetApi) -> None:
    runs = {q: api.submit_for(q) for q in ("default", "io_bound", "ml_training")}
    # ml_training may start at 0 replicas (KEDA scales it from zero): allow for a pod start.
    finished = {q: api.wait(run_id, timeout=420) for q, run_id in runs.items()}
    assert {q: r["status"] for q, r in finished.items()} == dict.fromkeys(runs, "succeeded"), finished


def test_ml_training_runs_on_the_gpu_node_and_nothing_else_does(release: Release, api: FleetApi) -> None:
    ml = release.workers()["ml_training"]
    if not release.pods_of(ml):
        if ml.metadata.name in release.autoscaled_deployments():
            api.submit_for("ml_training")  # demand makes the autoscaler start a pod
        else:
            release.scale(ml.metadata.name, 1)
        wait_for(lambda: release.pods_of(release.workers()["ml_training"]), 300, "an ml_training pod")
    gpu_nodes = {
        n.metadata.name
        for n in release.core.list_node(label_selector="=".join(GPU_LABEL)).items
    }
    assert gpu_nodes, "no node is labelled nvidia.com/gpu.present=true (make kind-up)"

    def scheduled() -> list:
        pods = release.pods_of(release.workers()["ml_training"])
        return pods if pods and all(p.spec.node_name for p in pods) else []

    ml_pods = wait_for(scheduled, 300, "ml_training pods to be scheduled")
    assert {p.spec.node_name for p in ml_pods} <= gpu_nodes
    requests = ml_pods[0].spec.containers[0].resources.limits or {}
    assert "nvidia.com/gpu" in requests, "the ml_training container does not request a GPU"

    ml_names = {p.metadata.name for p in ml_pods}
    others = [
        p for p in release.core.list_namespaced_pod(release.namespace, label_selector=release.selector).items
        if p.metadata.name not in ml_names and p.spec.node_name
    ]
    on_gpu = [p.metadata.name for p in others if p.spec.node_name in gpu_nodes]
    assert not on_gpu, f"pods other than ml_training on the GPU node: {on_gpu}"
