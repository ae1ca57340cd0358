"""With an autoscaler on io_bound (KEDA, or an HPA on prometheus-adapter's External metric with
AUTOSCALER=hpa), a backlog scales io_bound up and draining it scales it back down."""

from __future__ import annotations

import re

import pytest
from _fleet import TERMINAL, FleetApi, Release, queue_of, wait_for

SCALE_UP_S = 300
DRAIN_S = 1200
SLACK_S = 120
TIMEOUT_S = 2400
# pyproject's 300 s default is far too short: scale-up, the drain, then the scale-down stabilization
# window, polling and (from zero) KEDA's cooldown; the test checks its waits fit in TIMEOUT_S.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(TIMEOUT_S)]


def _scaling(release: Release, name: str) -> dict[str, int]:
    """min, max, stabilization, polling and cooldown of whichever autoscaler owns the Deployment."""
    so = release.scaled_object_for(name)
    if so is not None:
        spec = so["spec"]
        behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
        return {"min": int(spec.get("minReplicaCount", 0)), "max": int(spec.get("maxReplicaCount", 100)),
                "stabilization": int(behavior.get("scaleDown", {}).get("stabilizationWindowSeconds", 300)),
                "polling": int(spec.get("pollingInterval", 30)), "cooldown": int(spec.get("cooldownPeriod", 300))}
    for hpa in release.autoscaling.list_namespaced_horizontal_pod_autoscaler(release.namespace).items:
        if hpa.spec.scale_target_ref.name == name:
            behavior = hpa.spec.behavior
            window = behavior.scale_down.stabilization_window_seconds if behavior and behavior.scale_down else 300
            # The HPA controller syncs every 15 s (kube-controller-manager default).
            return {"min": hpa.spec.min_replicas or 1, "max": hpa.spec.max_replicas, "stabilization": window or 0,
                    "polling": 15, "cooldown": 0}
    pytest.fail(f"no ScaledObject or HorizontalPodAutoscaler targets {name}: install one (make monitoring-up; autoscaling.mode keda|hpa)")


def test_a_backlog_scales_io_bound_up_and_draining_it_scales_it_down(release: Release, api: FleetApi) -> None:
    deploy = release.workers()["io_bound"]
    assert queue_of(deploy) == "io_bound"
    s = _scaling(release, deploy.metadata.name)
    assert s["max"] > max(s["min"], 1), "io_bound cannot scale up: its maximum is too small"
    down_within = s["stabilization"] + 2 * s["polling"] + (s["cooldown"] if s["min"] == 0 else 0) + SLACK_S
    budget = SCALE_UP_S + 2 * s["polling"] + DRAIN_S + down_within
    assert budget < TIMEOUT_S, (f"the autoscaler's windows ({s}) need {budget}s, more than this test's {TIMEOUT_S}s: "
                                "shorten io_bound's grace period / stabilization on this cluster (values/kind.yaml does)")
    concurrency = next(
        (int(m.group(1)) for part in deploy.spec.template.spec.containers[0].args or []
         if (m := re.fullmatch(r"--concurrency=(\d+)", part))), 8,
    )

    def replicas() -> int:
        return release.apps.read_namespaced_deployment_scale(deploy.metadata.name, release.namespace).spec.replicas or 0

    start = replicas()
    # A backlog of several pods' worth of work: each run reads a CSV of 200k rows.
    key = api.csv_key(rows=200_000)
    runs = [api.submit_for("io_bound", file=key) for _ in range(min(200, max(40, 6 * concurrency)))]
    wait_for(lambda: replicas() > max(start, 1), SCALE_UP_S + 2 * s["polling"], "io_bound to scale up")

    def drained() -> bool:
        return all(api.status(r) in TERMINAL for r in runs)

    wait_for(drained, DRAIN_S, "the io_bound backlog to drain", interval=5)
    wait_for(lambda: replicas() <= max(s["min"], 1), down_within, "io_bound to scale back down", interval=10)
