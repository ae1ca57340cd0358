"""With KEDA installed, a backlog scales io_bound up and draining it scales it back down."""

from __future__ import annotations

import re

import pytest
from _fleet import TERMINAL, FleetApi, Release, queue_of, wait_for

pytestmark = pytest.mark.cluster


def test_a_backlog_scales_io_bound_up_and_draining_it_scales_it_down(release: Release, api: FleetApi) -> None:
    deploy = release.workers()["io_bound"]
    so = release.scaled_object_for(deploy.metadata.name)
    if so is None:
        pytest.skip("no KEDA ScaledObject targets the io_bound workers (make monitoring-up; autoscaling.mode keda)")
    spec = so["spec"]
    min_replicas = int(spec.get("minReplicaCount", 0))
    max_replicas = int(spec.get("maxReplicaCount", 100))
    assert max_replicas > max(min_replicas, 1), "io_bound cannot scale up: maxReplicaCount too small"
    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
    stabilization = int(behavior.get("scaleDown", {}).get("stabilizationWindowSeconds", 300))
    polling = int(spec.get("pollingInterval", 30))
    cooldown = int(spec.get("cooldownPeriod", 300))
    concurrency = next(
        (int(m.group(1)) for part in deploy.spec.template.spec.containers[0].args or []
         if (m := re.fullmatch(r"--concurrency=(\d+)", part))), 16,
    )
    assert queue_of(deploy) == "io_bound"

    def replicas() -> int:
        return release.apps.read_namespaced_deployment_scale(deploy.metadata.name, release.namespace).spec.replicas or 0

    start = replicas()
    # A backlog of several pods' worth of work: each run reads a CSV of 200k rows.
    key = api.csv_key(rows=200_000)
    runs = [api.submit_for("io_bound", file=key) for _ in range(min(200, max(40, 6 * concurrency)))]
    wait_for(lambda: replicas() > max(start, 1), 300 + 2 * polling, "KEDA to scale io_bound up")

    def drained() -> bool:
        return all(api.status(r) in TERMINAL for r in runs)

    wait_for(drained, 1200, "the io_bound backlog to drain", interval=5)
    down_within = stabilization + polling * 2 + (cooldown if min_replicas == 0 else 0) + 120
    wait_for(lambda: replicas() <= max(min_replicas, 1), down_within, "KEDA to scale io_bound back down", interval=10)
