"""Webhook senders: a worker Deployment of the `webhooks` queue rendered by the workers' own
template (security context, probes, checksums, resources), never autoscaled, never declared as an
atom queue; the SSRF allow-list reaches every process through the ConfigMap."""

from __future__ import annotations

from chartlib import container, find, one, render

SENDERS = "atomfleet-worker-webhooks"


def test_senders_are_a_worker_deployment_of_the_webhooks_queue() -> None:
    objs = render()
    dep, default = one(objs, "Deployment", SENDERS), one(objs, "Deployment", "atomfleet-worker-default")
    c, d = container(dep), container(default)
    assert "--queues=webhooks" in c["args"] and "--concurrency=8" in c["args"]
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    # Exactly the workers' template: the same probes, security, checksums, mounts.
    for key in ("livenessProbe", "readinessProbe", "startupProbe", "securityContext", "volumeMounts", "ports"):
        assert c[key] == d[key], key
    pod, default_pod = dep["spec"]["template"], default["spec"]["template"]
    assert pod["metadata"]["annotations"] == default_pod["metadata"]["annotations"]
    assert pod["spec"]["securityContext"] == default_pod["spec"]["securityContext"]
    assert one(objs, "PodDisruptionBudget", SENDERS)


def test_senders_never_autoscale_and_webhooks_is_no_atom_queue() -> None:
    objs = render(["production.yaml"])
    targets = [o["spec"]["scaleTargetRef"]["name"] for o in find(objs, "ScaledObject") + find(objs, "HorizontalPodAutoscaler")]
    assert SENDERS not in targets
    config = one(objs, "ConfigMap", "atomfleet-config")["data"]
    assert "webhooks" not in config["ATOMFLEET_QUEUES"]


def test_allowed_networks_and_disabling(render_error) -> None:
    objs = render(values={"webhooks": {"allowedNetworks": ["10.0.0.0/8", "fd00::/8"]}})
    assert one(objs, "ConfigMap", "atomfleet-config")["data"]["ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS"] == "10.0.0.0/8,fd00::/8"
    assert not [o for o in find(render(values={"webhooks": {"enabled": False}}), "Deployment") if o["metadata"]["name"] == SENDERS]
    assert "webhooks` is the webhook senders' own queue" in render_error({"workers": {"queues": {"webhooks": {}}}})
    assert "allowedNetworks" in render_error({"webhooks": {"allowedNetworks": ["not a cidr"]}})
