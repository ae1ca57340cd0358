"""The API with the S3 backend (moto's S3 server over HTTP): uploads and presigned artifact links."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from moto.server import ThreadedMotoServer
from rest_framework.test import APIClient

from atomfleet_orchestrator.runs.models import AtomRun, RunStatus
from atomfleet_orchestrator.runs.storage import get_store
from atomfleet_orchestrator.tenancy.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3_backend(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="fleet")
    settings.ATOMFLEET_STORAGE = {"backend": "s3", "bucket": "fleet", "endpoint_url": endpoint, "region": "us-east-1"}
    get_store.cache_clear()
    yield endpoint
    get_store.cache_clear()
    server.stop()


def test_upload_and_presigned_artifact_links(s3_backend: str, api: APIClient, tenant: Tenant) -> None:
    upload = api.post("/api/v1/files", {"file": SimpleUploadedFile("in.csv", b"a\n1\n")}, format="multipart").json()
    assert get_store().get(upload["key"]) == b"a\n1\n"

    key = "tenants/acme/runs/r1/model.json"
    get_store().put(key, b'{"order": 2}', "application/json")
    run = AtomRun.objects.create(
        tenant=tenant, created_by="t", atom="forecast.autoregressive", queue="ml_training", args={},
        status=RunStatus.SUCCEEDED, result={"ok": True},
        artifacts=[{"name": "model.json", "key": key, "size": 12, "content_type": "application/json"}],
    )
    (artifact,) = api.get(f"/api/v1/runs/{run.id}/result").json()["artifacts"]
    assert artifact["url"].startswith(s3_backend) and "X-Amz-Signature" in artifact["url"]
    assert httpx.get(artifact["url"]).content == b'{"order": 2}'  # no API token needed
