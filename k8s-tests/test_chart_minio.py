"""S3 storage: external endpoint and credential Secret; optional in-chart MinIO for dev."""

from __future__ import annotations

from chartlib import container, env_of, find, one, render


def test_s3_settings_in_the_configmap_and_credentials_from_a_secret() -> None:
    objs = render(["production.yaml"])
    data = one(objs, "ConfigMap", "atomfleet-config")["data"]
    assert data["ATOMFLEET_STORAGE_BACKEND"] == "s3"
    assert data["ATOMFLEET_S3_BUCKET"] == "atomfleet-artifacts"
    assert "ATOMFLEET_S3_ENDPOINT_URL" not in data  # AWS
    env = env_of(container(one(objs, "Deployment", "atomfleet-worker-default")))
    assert env["AWS_ACCESS_KEY_ID"]["secretKeyRef"] == {"name": "atomfleet-s3", "key": "access-key-id"}
    assert env["AWS_SECRET_ACCESS_KEY"]["secretKeyRef"] == {"name": "atomfleet-s3", "key": "secret-access-key"}


def test_no_credentials_means_pod_identity() -> None:
    env = env_of(container(one(render(), "Deployment", "atomfleet-api")))
    assert "AWS_ACCESS_KEY_ID" not in env


def test_in_chart_minio_with_bucket_job() -> None:
    objs = render(["kind.yaml"])
    one(objs, "StatefulSet", "atomfleet-minio")
    one(objs, "Service", "atomfleet-minio")
    assert one(objs, "ConfigMap", "atomfleet-config")["data"]["ATOMFLEET_S3_ENDPOINT_URL"] == "http://atomfleet-minio:9000"
    job = one(objs, "Job", "atomfleet-minio-setup")
    assert "mc mb --ignore-existing \"fleet/atomfleet\"" in container(job)["args"][0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    env = env_of(container(one(objs, "Deployment", "atomfleet-api")))
    assert env["AWS_ACCESS_KEY_ID"]["secretKeyRef"] == {"name": "atomfleet-minio", "key": "root-user"}


def test_local_storage_needs_a_shared_claim(render_error) -> None:
    assert "set storage.local.existingClaim" in render_error({"storage": {"backend": "local"}})
    objs = render([], {"storage": {"backend": "local", "local": {"existingClaim": "shared"}}})
    c = container(one(objs, "Deployment", "atomfleet-worker-default"))
    assert {"name": "storage", "mountPath": "/data/storage"} in c["volumeMounts"]
    assert one(objs, "ConfigMap", "atomfleet-config")["data"]["ATOMFLEET_STORAGE_LOCAL_ROOT"] == "/data/storage"
    assert not find(objs, "Job", "atomfleet-minio-setup")


def test_bad_storage_values_are_rejected(render_error) -> None:
    assert "storage.s3.bucket is empty" in render_error({"storage": {"s3": {"bucket": ""}}})
    assert "the in-chart MinIO is the endpoint" in render_error({"minio": {"enabled": True}, "storage": {"s3": {"endpointUrl": "http://x"}}})
    assert "/storage/backend" in render_error({"storage": {"backend": "gcs"}})
