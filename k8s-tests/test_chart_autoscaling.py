"""Per-queue autoscaling: none / keda / hpa; replicas omitted when an autoscaler owns the
Deployment; the demand query (atomfleet_queue_demand, exported by beat); stabilization >= grace
period (at most 3600 s, the API server's maximum); fallback; activation threshold."""

from __future__ import annotations

import pytest
from chartlib import find, one, render


def test_mode_none_sets_replicas_and_renders_no_autoscaler() -> None:
    objs = render([], {"workers": {"queues": {"io_bound": {"replicas": 3}}}})
    assert one(objs, "Deployment", "atomfleet-worker-io-bound")["spec"]["replicas"] == 3
    assert not find(objs, "ScaledObject") and not find(objs, "HorizontalPodAutoscaler")


def test_keda_scaled_object_scales_on_the_queues_demand_per_concurrency() -> None:
    objs = render(["production.yaml"])
    dep = one(objs, "Deployment", "atomfleet-worker-io-bound")
    assert "replicas" not in dep["spec"]  # helm upgrade does not fight KEDA
    so = one(objs, "ScaledObject", "atomfleet-worker-io-bound")
    spec = so["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "atomfleet-worker-io-bound"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 40)
    trigger = spec["triggers"][0]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    meta = trigger["metadata"]
    assert meta["threshold"] == "8"  # the queue's concurrency: slots per pod
    assert meta["activationThreshold"] == "0"
    assert meta["serverAddress"] == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    m = 'queue_name="io_bound",namespace="atomfleet"'
    # Waiting + running runs, from beat alone: max and sum agree, and the series exist without workers
    assert meta["query"] == f"max(atomfleet_queue_demand{{{m}}})"
    assert spec["fallback"] == {"failureThreshold": 3, "replicas": 2}
    grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= grace


def test_keda_can_scale_ml_training_from_zero_with_an_activation_threshold() -> None:
    so = one(render(["production.yaml"], {"workers": {"queues": {"ml_training": {"autoscaling": {"activationThreshold": 2}}}}}),
             "ScaledObject", "atomfleet-worker-ml-training")
    assert so["spec"]["minReplicaCount"] == 0
    assert so["spec"]["triggers"][0]["metadata"]["activationThreshold"] == "2"
    # The grace period (3900 s) exceeds the API server's maximum window: capped at 3600.
    assert so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 3600


def test_hpa_mode_uses_the_adapter_external_metric() -> None:
    import yaml
    from chartlib import ROOT

    adapter = yaml.safe_load((ROOT / "values" / "prometheus-adapter.yaml").read_text())["rules"]["external"][0]
    assert adapter["name"]["as"] == "atomfleet_queue_demand"
    assert adapter["metricsQuery"] == "max by (namespace, queue_name) (atomfleet_queue_demand{<<.LabelMatchers>>})"
    objs = render(["hpa.yaml"])
    hpa = one(objs, "HorizontalPodAutoscaler", "atomfleet-worker-default")
    assert "replicas" not in one(objs, "Deployment", "atomfleet-worker-default")["spec"]
    metric = hpa["spec"]["metrics"][0]["external"]
    assert metric["metric"] == {"name": "atomfleet_queue_demand", "selector": {"matchLabels": {"queue_name": "default"}}}
    assert metric["target"] == {"type": "AverageValue", "averageValue": "4"}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert not find(objs, "ScaledObject")


def test_explicit_stabilization_longer_than_grace_is_kept() -> None:
    so = one(render(["production.yaml"], {"workers": {"queues": {"io_bound": {"autoscaling": {"scaleDownStabilizationSeconds": 2400}}}}}),
             "ScaledObject", "atomfleet-worker-io-bound")
    assert so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 2400


def test_every_rendered_stabilization_window_is_one_the_api_server_accepts() -> None:
    for files in (["production.yaml"], ["hpa.yaml"], ["kind.yaml"]):
        objs = render(files)
        windows = [o["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
                   for o in find(objs, "ScaledObject")]
        windows += [o["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] for o in find(objs, "HorizontalPodAutoscaler")]
        assert windows and all(0 <= w <= 3600 for w in windows), (files, windows)


def test_extra_label_matchers_are_templated() -> None:
    so = one(render(["production.yaml"], {"autoscaling": {"prometheus": {"labelMatchers": 'cluster="eu",namespace="{{ .Release.Namespace }}"'}}}),
             "ScaledObject", "atomfleet-worker-default")
    assert 'atomfleet_queue_demand{queue_name="default",cluster="eu",namespace="atomfleet"}' in so["spec"]["triggers"][0]["metadata"]["query"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"workers": {"queues": {"io_bound": {"autoscaling": {"mode": "hpa", "minReplicas": 0}}}}},
         "workers.queues.io_bound.autoscaling.minReplicas must be >= 1 in hpa mode"),
        ({"workers": {"queues": {"io_bound": {"autoscaling": {"mode": "keda", "scaleDownStabilizationSeconds": 60}}}}},
         "workers.queues.io_bound.autoscaling.scaleDownStabilizationSeconds (60) must be at least terminationGracePeriodSeconds (1800"),
        ({"workers": {"queues": {"io_bound": {"autoscaling": {"mode": "keda", "scaleDownStabilizationSeconds": 7200}}}}},
         "/workers/queues/io_bound/autoscaling/scaleDownStabilizationSeconds"),
        ({"workers": {"queues": {"io_bound": {"autoscaling": {"mode": "keda", "minReplicas": 5, "maxReplicas": 2}}}}},
         "workers.queues.io_bound.autoscaling.minReplicas (5) exceeds maxReplicas (2)"),
        ({"autoscaling": {"prometheus": {"serverAddress": ""}}, "workers": {"queues": {"io_bound": {"autoscaling": {"mode": "keda"}}}}},
         "autoscaling.prometheus.serverAddress is empty"),
        ({"workers": {"queues": {"io_bound": {"autoscaling": {"mode": "auto"}}}}}, "/workers/queues/io_bound/autoscaling/mode"),
    ],
)
def test_bad_autoscaling_values_are_rejected(render_error, values, message) -> None:
    assert message in render_error(values)


def test_default_queue_may_scale_to_zero() -> None:
    # Beat runs the maintenance jobs itself, so no queue needs a standing worker.
    objs = render(["production.yaml"], {"workers": {"queues": {"default": {"autoscaling": {"mode": "keda", "minReplicas": 0}}}}})
    assert one(objs, "ScaledObject", "atomfleet-worker-default")["spec"]["minReplicaCount"] == 0
