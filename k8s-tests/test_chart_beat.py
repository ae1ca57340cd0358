"""Beat: exactly one replica, Recreate, the contract's command line."""

from __future__ import annotations

from chartlib import container, find, one, render


def test_beat_is_a_single_recreate_deployment() -> None:
    dep = one(render(), "Deployment", "atomfleet-beat")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    c = container(dep)
    assert c["command"] == ["celery"]
    assert c["args"] == ["-A", "atomfleet_orchestrator", "beat", "--schedule=/tmp/celerybeat-schedule", "--loglevel=INFO"]
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]


def test_beat_never_autoscales_and_its_pdb_never_blocks_drains() -> None:
    objs = render(["production.yaml"])
    assert not [o for o in find(objs, "ScaledObject") if o["spec"]["scaleTargetRef"]["name"] == "atomfleet-beat"]
    assert one(objs, "PodDisruptionBudget", "atomfleet-beat")["spec"]["maxUnavailable"] == 1


def test_the_default_queue_is_required_with_or_without_beat(render_error) -> None:
    # Every process refuses to start when ATOMFLEET_QUEUES lacks `default` (Celery's default queue),
    # so the chart refuses to render such a release rather than install pods that crash-loop.
    for beat in (True, False):
        error = render_error({"beat": {"enabled": beat}, "workers": {"queues": {"default": None}}})
        assert "workers.queues.default is missing" in error
