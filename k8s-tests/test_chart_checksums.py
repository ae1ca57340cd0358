"""Pod templates carry a checksum of every Secret and ConfigMap they read, so that changing a
credential (database URL, Redis password, S3 keys, ...) or any configuration rolls the pods that
read it, and nothing else does."""

from __future__ import annotations

from typing import Any

import pytest
from chartlib import VALUES_FILES, find, one, pod_spec, render

ROLLING = ("Deployment", "StatefulSet")
EXTERNAL = {  # credentials given as values: they land in the chart's Secret
    "redis": {"enabled": False},
    "externalRedis": {"host": "redis.internal", "password": "redis-pw"},
    "externalDatabase": {"existingSecret": "", "url": "postgres://u:db-pw@db:5432/a"},
    "storage": {"s3": {"accessKeyId": "AKIA1", "secretAccessKey": "s3-secret"}},
}


def _reads(obj: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(Secret names, ConfigMap names) a pod template reads: env, envFrom, volumes."""
    spec = pod_spec(obj)
    secrets: set[str] = set()
    configmaps: set[str] = set()
    for c in spec["containers"] + spec.get("initContainers", []):
        for e in c.get("env", []):
            ref = e.get("valueFrom", {})
            if "secretKeyRef" in ref:
                secrets.add(ref["secretKeyRef"]["name"])
            if "configMapKeyRef" in ref:
                configmaps.add(ref["configMapKeyRef"]["name"])
        for src in c.get("envFrom", []):
            if "secretRef" in src:
                secrets.add(src["secretRef"]["name"])
            if "configMapRef" in src:
                configmaps.add(src["configMapRef"]["name"])
    for v in spec.get("volumes", []):
        if "secret" in v:
            secrets.add(v["secret"]["secretName"])
        if "configMap" in v:
            configmaps.add(v["configMap"]["name"])
    return secrets, configmaps


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return obj["spec"]["template"]["metadata"].get("annotations", {})


@pytest.mark.parametrize("files", [[], *[[f] for f in VALUES_FILES]])
def test_every_pod_template_reading_a_chart_secret_or_configmap_carries_its_checksums(files: list[str]) -> None:
    objs = render(files, {"flower": {"enabled": True}})
    rendered_secrets = {o["metadata"]["name"] for o in find(objs, "Secret")}
    rendered_configmaps = {o["metadata"]["name"] for o in find(objs, "ConfigMap")}
    for obj in objs:
        if obj["kind"] not in ROLLING:
            continue
        secrets, configmaps = _reads(obj)
        annotations = _annotations(obj)
        name = obj["metadata"]["name"]
        if secrets & rendered_secrets:
            assert "checksum/secrets" in annotations, (name, secrets & rendered_secrets)
        if configmaps & rendered_configmaps:
            assert {"checksum/config"} <= set(annotations) or "checksum/redis-conf" in annotations, name


def _checksums(values: dict[str, Any]) -> dict[str, dict[str, str]]:
    objs = render([], values)
    return {o["metadata"]["name"]: {k: v for k, v in _annotations(o).items() if k.startswith("checksum/")}
            for o in objs if o["kind"] in ROLLING}


@pytest.mark.parametrize(("path", "changed"), [
    ("externalRedis.password", "redis-pw-2"),
    ("externalDatabase.url", "postgres://u:db-pw-2@db:5432/a"),
    ("storage.s3.secretAccessKey", "s3-secret-2"),
    ("storage.s3.accessKeyId", "AKIA2"),
])
def test_changing_a_credential_rolls_every_fleet_pod(path: str, changed: str) -> None:
    before = _checksums(EXTERNAL)
    values: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in EXTERNAL.items()}
    node = values
    *parents, leaf = path.split(".")
    for key in parents:
        node[key] = dict(node.get(key, {}))
        node = node[key]
    node[leaf] = changed
    after = _checksums(values)
    for name in ("atomfleet-api", "atomfleet-beat", "atomfleet-worker-default", "atomfleet-worker-io-bound"):
        assert before[name]["checksum/secrets"] != after[name]["checksum/secrets"], (path, name)
        assert before[name]["checksum/config"] == after[name]["checksum/config"], (path, name)


def test_changing_an_existing_secret_reference_rolls_and_an_unrelated_value_does_not() -> None:
    base = _checksums({})
    renamed = _checksums({"externalDatabase": {"existingSecret": "other-db"}})
    assert base["atomfleet-api"]["checksum/secrets"] != renamed["atomfleet-api"]["checksum/secrets"]
    scaled = _checksums({"api": {"replicas": 5}, "workers": {"queues": {"default": {"concurrency": 9}}}})
    assert scaled == base


def test_renders_without_a_cluster_give_the_same_checksums() -> None:
    """Generated values are random in every render; the checksums see a stable stand-in for them."""
    assert _checksums({"flower": {"enabled": True}}) == _checksums({"flower": {"enabled": True}})


def test_in_chart_redis_and_flower_checksum_their_own_secret_and_config() -> None:
    objs = render(["kind.yaml"])
    redis = _annotations(one(objs, "StatefulSet", "atomfleet-redis"))
    assert {"checksum/redis-conf", "checksum/secrets"} <= set(redis)
    changed = _annotations(one(render(["kind.yaml"], {"redis": {"appendfsync": "always"}}), "StatefulSet", "atomfleet-redis"))
    assert changed["checksum/redis-conf"] != redis["checksum/redis-conf"]
    flower = _annotations(one(objs, "Deployment", "atomfleet-flower"))
    other = _annotations(one(render(["kind.yaml"], {"flower": {"basicAuth": {"username": "root"}}}), "Deployment", "atomfleet-flower"))
    assert flower["checksum/secrets"] != other["checksum/secrets"]
