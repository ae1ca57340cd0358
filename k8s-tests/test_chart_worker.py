"""Workers: one Deployment per queue merged over workers.defaults; exec'd celery consuming exactly
its queue; shutdown mode and grace period; GPU queue; adding a queue needs no template change."""

from __future__ import annotations

import pytest
from chartlib import container, env_of, find, one, pod_spec, render

QUEUES = {"default": "atomfleet-worker-default", "io_bound": "atomfleet-worker-io-bound", "ml_training": "atomfleet-worker-ml-training"}


def worker(objs, queue):
    return one(objs, "Deployment", QUEUES.get(queue, f"atomfleet-worker-{queue.replace('_', '-')}"))


def test_defaults_ship_default_io_bound_and_ml_training() -> None:
    deps = [o["metadata"]["name"] for o in find(render(), "Deployment") if o["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"]
    # ...and the webhook senders (the service's `webhooks` queue, test_chart_webhooks.py).
    assert sorted(deps) == sorted([*QUEUES.values(), "atomfleet-worker-webhooks"])


@pytest.mark.parametrize(("queue", "concurrency", "pool", "prefetch"), [("default", 4, "prefork", 1), ("io_bound", 8, "prefork", 1), ("ml_training", 1, "prefork", 1)])
def test_each_worker_execs_celery_on_exactly_its_queue(queue, concurrency, pool, prefetch) -> None:
    c = container(worker(render(), queue))
    assert c["command"] == ["celery"]  # exec form: celery is PID 1 and receives SIGTERM
    assert c["args"] == [
        "-A", "atomfleet_orchestrator", "worker",
        f"--queues={queue}", f"--hostname={queue}@$(POD_NAME)",
        f"--concurrency={concurrency}", f"--prefetch-multiplier={prefetch}", f"--pool={pool}",
        "--without-mingle", "--without-gossip", "--loglevel=INFO",
    ]
    assert env_of(c)["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_worker_metrics_port_probes_and_tmp() -> None:
    dep = worker(render(), "default")
    c = container(dep)
    assert c["ports"] == [{"name": "metrics", "containerPort": 9808, "protocol": "TCP"}]
    assert c["livenessProbe"]["exec"]["command"] == ["atomfleet-probe", "liveness"]
    assert c["readinessProbe"]["exec"]["command"] == ["atomfleet-probe", "readiness"]
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300  # generous
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert dep["spec"]["template"]["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"


def test_time_limits_only_on_the_command_line_when_set() -> None:
    assert not [a for a in container(worker(render(), "default"))["args"] if "time-limit" in a]
    args = container(worker(render([], {"workers": {"queues": {"default": {"timeLimit": 250, "softTimeLimit": 200, "maxTasksPerChild": 50}}}}), "default"))["args"]
    assert {"--time-limit=250", "--soft-time-limit=200", "--max-tasks-per-child=50"} <= set(args)


def test_warm_shutdown_by_default_soft_shutdown_with_remapped_sigterm() -> None:
    objs = render()
    env = env_of(container(worker(objs, "default")))
    assert "REMAP_SIGTERM" not in env
    # The worker checks its grace period against the soft limits of its queue's atoms.
    for queue in QUEUES:
        dep = worker(objs, queue)
        grace = pod_spec(dep)["terminationGracePeriodSeconds"]
        assert env_of(container(dep))["ATOMFLEET_TERMINATION_GRACE_SECONDS"] == str(grace)
    ml = worker(objs, "ml_training")
    env = env_of(container(ml))
    assert env["REMAP_SIGTERM"] == "SIGQUIT"
    assert env["ATOMFLEET_SOFT_SHUTDOWN_TIMEOUT"] == "3600"
    assert pod_spec(ml)["terminationGracePeriodSeconds"] > 3600


def test_ml_training_requests_a_gpu_on_gpu_nodes() -> None:
    spec = pod_spec(worker(render(), "ml_training"))
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert "--concurrency=1" in spec["containers"][0]["args"] and "--prefetch-multiplier=1" in spec["containers"][0]["args"]


def test_cpu_only_turns_gpus_off() -> None:
    spec = pod_spec(worker(render(["cpu-only.yaml"]), "ml_training"))
    assert "nvidia.com/gpu" not in spec["containers"][0]["resources"]["limits"]
    assert "nodeSelector" not in spec and "tolerations" not in spec


def test_kind_places_ml_training_on_the_kind_gpu_node() -> None:
    """hack/kind/cluster.yaml labels and taints its GPU node like a real one; fake-gpu.sh advertises the resource."""
    spec = pod_spec(worker(render(["kind.yaml"]), "ml_training"))
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_adding_reports_renders_deployment_autoscaler_and_pdb() -> None:
    objs = render([], {"workers": {"queues": {"reports": {"concurrency": 3, "autoscaling": {"mode": "keda", "maxReplicas": 5}}}}})
    dep = worker(objs, "reports")
    c = container(dep)
    assert "--queues=reports" in c["args"] and "--concurrency=3" in c["args"]
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 600  # from defaults
    assert one(objs, "ScaledObject", "atomfleet-worker-reports")["spec"]["maxReplicaCount"] == 5
    assert one(objs, "PodDisruptionBudget", "atomfleet-worker-reports")["spec"]["selector"]["matchLabels"]["atomfleet.io/queue"] == "reports"


def test_queue_settings_override_defaults_including_false_and_zero() -> None:
    objs = render([], {"workers": {"defaults": {"pdb": {"enabled": True}}, "queues": {"default": {"pdb": {"enabled": False}, "replicas": 3}}}})
    assert not find(objs, "PodDisruptionBudget", "atomfleet-worker-default")
    assert worker(objs, "default")["spec"]["replicas"] == 3


def test_scheduling_knobs_per_queue() -> None:
    tsc = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}]
    spec = pod_spec(worker(render([], {"workers": {"queues": {"io_bound": {
        "nodeSelector": {"pool": "io"}, "affinity": {"nodeAffinity": {}}, "topologySpreadConstraints": tsc,
        "tolerations": [{"key": "io", "operator": "Exists"}]}}}}), "io_bound"))
    assert spec["nodeSelector"] == {"pool": "io"}
    assert spec["affinity"] == {"nodeAffinity": {}}
    assert spec["tolerations"] == [{"key": "io", "operator": "Exists"}]
    # the queue's own selector is filled in when none is given
    assert spec["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]["atomfleet.io/queue"] == "io_bound"


@pytest.mark.parametrize(
    ("queue", "message"),
    [
        ({"shutdown": {"mode": "soft", "softTimeout": 900}, "terminationGracePeriodSeconds": 600},
         "workers.queues.default.terminationGracePeriodSeconds (600) must exceed shutdown.softTimeout (900)"),
        ({"softTimeLimit": 700, "timeLimit": 800, "terminationGracePeriodSeconds": 300},
         "terminationGracePeriodSeconds (300) must exceed softTimeLimit (700)"),
        ({"timeLimit": 50000, "terminationGracePeriodSeconds": 60000}, "timeLimit (50000) must be below config.visibilityTimeout (43200)"),
        ({"pool": "threads"}, "at '/workers/queues/default/pool': value must be 'prefork'"),
        ({"pool": "solo", "timeLimit": 100}, "at '/workers/queues/default/pool': value must be 'prefork'"),
        ({"shutdown": {"mode": "cold"}}, "/workers/queues/default/shutdown/mode"),
        ({"gpu": {"count": 0}}, "/workers/queues/default/gpu/count"),
    ],
)
def test_bad_worker_values_are_rejected(render_error, queue, message) -> None:
    assert message in render_error({"workers": {"queues": {"default": queue}}})


def test_a_queue_with_its_own_image_runs_it_and_registers_its_atoms_from_it() -> None:
    values = {"workers": {"queues": {"reports": {"image": {"registry": "ghcr.io/acme", "repository": "acme-atoms", "tag": "1.2.0"},
                                                 "atomPackages": ["acme"], "terminationGracePeriodSeconds": 700}}}}
    objs = render([], values)
    reports = container(worker(objs, "reports"))
    assert reports["image"] == "ghcr.io/acme/acme-atoms:1.2.0"
    assert {"name": "ATOMFLEET_ATOM_PACKAGES", "value": '["acme"]'} in reports["env"]
    assert container(worker(objs, "default"))["image"] == "atomfleet:0.1.0"  # the fleet's image
    jobs = {j["metadata"]["name"]: container(j) for j in find(objs, "Job") if "-atoms-" in j["metadata"]["name"]}
    by_image = {c["image"]: c for c in jobs.values()}
    assert set(by_image) == {"atomfleet:0.1.0", "ghcr.io/acme/acme-atoms:1.2.0"}
    assert by_image["atomfleet:0.1.0"]["args"] == ["manage", "register_atoms", "--queues", "default,io_bound,ml_training", "--retire-missing"]
    assert by_image["ghcr.io/acme/acme-atoms:1.2.0"]["args"][3] == "reports"
    for job in find(objs, "Job"):
        if "-atoms-" in job["metadata"]["name"]:  # after the migrations, in the same hook phase
            assert job["metadata"]["annotations"]["helm.sh/hook-weight"] == "1"
