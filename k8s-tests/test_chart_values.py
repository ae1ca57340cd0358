"""values.yaml / values.schema.json / the validation helper, labels, selectors, checksums, the
shared ConfigMap."""

from __future__ import annotations

import json

import pytest
from chartlib import WORKLOAD_KINDS, find, one, pod_spec, render

SELECTOR_KEYS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"redis": {"enabeld": True}}, "additional properties 'enabeld' not allowed"),
        ({"workers": {"queues": {"io_bound": {"concurency": 3}}}}, "/workers/queues/io_bound"),
        ({"workers": {"queues": {"reports": {"concurrency": "four"}}}}, "/workers/queues/reports/concurrency"),
        ({"workers": {"queues": {"io_bound": {"autoscaling": {"mode": "auto"}}}}}, "/workers/queues/io_bound/autoscaling/mode"),
        ({"workers": {"queues": {"Reports": {}}}}, "'Reports' does not match pattern"),
        ({"api": {"replicas": -1}}, "/api/replicas"),
        ({"config": {"logFormat": "xml"}}, "/config/logFormat"),
        ({"imagee": {}}, "additional properties 'imagee' not allowed"),
        ({"externalDatabase": {"url": "mysql://x"}}, "/externalDatabase/url"),
    ],
)
def test_schema_rejects_typos_and_wrong_types_naming_the_value(render_error, values, message) -> None:
    error = render_error(values)
    assert "values don't meet the specifications of the schema" in error
    assert message in error


def test_validation_helper_gathers_every_cross_field_error_in_one_failure(render_error) -> None:
    error = render_error(
        {
            "redis": {"enabled": False},
            "externalDatabase": {"existingSecret": ""},
            "workers": {"queues": {"default": {"softTimeLimit": 400, "timeLimit": 300, "terminationGracePeriodSeconds": 300}}},
        }
    )
    assert "atomfleet: invalid values (4):" in error
    assert "redis.enabled is false: set externalRedis.host" in error
    assert "no database" in error
    assert "workers.queues.default.softTimeLimit (400) must be below timeLimit (300)" in error
    assert "terminationGracePeriodSeconds (300) must exceed softTimeLimit (400)" in error


def test_every_object_carries_the_standard_labels(default_manifest) -> None:
    objs = render()
    for o in objs:
        labels = o["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by", "app.kubernetes.io/component", "helm.sh/chart"):
            assert key in labels, (o["kind"], o["metadata"]["name"], key)
        assert o["metadata"]["namespace"] == "atomfleet"
    # the pytest-helm index over the project render command sees the same objects
    assert default_manifest.get("apps/v1/Deployment/atomfleet-api").metadata.labels["app.kubernetes.io/component"] == "api"


def test_selectors_use_only_immutable_labels() -> None:
    for o in render(["kind.yaml"], {"flower": {"enabled": True}}):
        if o["kind"] in ("Deployment", "StatefulSet"):
            selector = o["spec"]["selector"]["matchLabels"]
            extra = set(selector) - SELECTOR_KEYS
            assert extra <= {"atomfleet.io/queue"}, (o["metadata"]["name"], selector)
            assert "app.kubernetes.io/version" not in selector and "helm.sh/chart" not in selector
            assert selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
        if o["kind"] in ("Service", "PodDisruptionBudget"):
            sel = o["spec"]["selector"] if o["kind"] == "Service" else o["spec"]["selector"]["matchLabels"]
            assert set(sel) - SELECTOR_KEYS <= {"atomfleet.io/queue"}


def test_config_changes_roll_every_fleet_pod() -> None:
    def checksums(objs):
        return {
            o["metadata"]["name"]: o["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for o in objs
            if o["kind"] in WORKLOAD_KINDS
            and o["metadata"]["labels"]["app.kubernetes.io/component"] in ("api", "worker", "beat", "migrations", "flower")
        }

    before = checksums(render([], {"flower": {"enabled": True}}))
    after = checksums(render([], {"flower": {"enabled": True}, "config": {"logLevel": "DEBUG"}}))
    assert set(before) == set(after) and len(before) == 9  # api, beat, flower, migrations, atom registration, 3 workers, webhook senders
    assert all(before[n] != after[n] for n in before)
    assert checksums(render([], {"flower": {"enabled": True}})) == before  # stable


def test_one_configmap_carries_the_queue_list_to_api_beat_and_workers() -> None:
    objs = render([], {"workers": {"queues": {"reports": {}}}})
    cm = one(objs, "ConfigMap", "atomfleet-config")
    assert json.loads(cm["data"]["ATOMFLEET_QUEUES"]) == ["default", "io_bound", "ml_training", "reports"]
    for o in find(objs, "Deployment"):
        env_from = pod_spec(o)["containers"][0]["envFrom"]
        assert {"configMapRef": {"name": "atomfleet-config"}} in env_from


def test_removing_a_queue_with_null_drops_it_everywhere() -> None:
    objs = render([], {"workers": {"queues": {"io_bound": None}}})
    assert json.loads(one(objs, "ConfigMap", "atomfleet-config")["data"]["ATOMFLEET_QUEUES"]) == ["default", "ml_training"]
    assert not find(objs, "Deployment", "atomfleet-worker-io-bound")


def test_config_values_reach_the_configmap() -> None:
    cm = one(render([], {"config": {"visibilityTimeout": 7200, "extraEnv": {"FOO": "bar"}}}), "ConfigMap", "atomfleet-config")
    data = cm["data"]
    assert data["ATOMFLEET_VISIBILITY_TIMEOUT"] == "7200"
    assert data["FOO"] == "bar"
    assert data["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
    assert data["ATOMFLEET_PROBE_DIR"].startswith("/tmp/")
    assert data["HOME"] == "/tmp"
    assert all(isinstance(v, str) for v in data.values())


def test_image_defaults_to_the_app_version_and_honours_digest_and_registry() -> None:
    image = pod_spec(one(render(), "Deployment", "atomfleet-api"))["containers"][0]["image"]
    assert image == "atomfleet:0.1.0"
    objs = render([], {"image": {"registry": "ghcr.io/acme", "digest": "sha256:" + "a" * 64}})
    images = {pod_spec(o)["containers"][0]["image"] for o in find(objs, "Deployment")}
    assert images == {"ghcr.io/acme/atomfleet@sha256:" + "a" * 64}


def test_common_labels_reach_every_object() -> None:
    for o in render([], {"commonLabels": {"team": "ml"}}):
        assert o["metadata"]["labels"]["team"] == "ml"


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"heartbeatSeconds": 40, "staleAfterSeconds": 90},
         "config.staleAfterSeconds (90) must exceed 3 x config.heartbeatSeconds (40)"),
        ({"reconcileInterval": 120}, "config.dispatchTimeoutSeconds (120) must exceed config.reconcileInterval (120)"),
        ({"dispatchInterval": 200, "dispatchTimeoutSeconds": 150},
         "config.dispatchTimeoutSeconds (150) must exceed config.dispatchInterval (200)"),
    ],
)
def test_contradictory_lifecycle_deadlines_fail_the_render_naming_both_values(render_error, config: dict[str, int], error: str) -> None:
    assert error in render_error({"config": config})
