"""Storage backends: local filesystem and S3 (moto's server over real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from atomfleet.errors import ObjectAccessDenied, ObjectNotFound
from atomfleet.storage import LocalObjectStore, ObjectStore, RunArtifacts, TenantFiles, upload_key
from atomfleet.storage.s3 import S3ObjectStore


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path)
    endpoint = request.getfixturevalue("moto_endpoint")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    bucket = f"atomfleet-{tmp_path.name.lower().replace('_', '-')[:40]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return S3ObjectStore(bucket, endpoint_url=endpoint)


def test_put_get_roundtrip(store: ObjectStore) -> None:
    store.put("tenants/acme/uploads/1/a.csv", b"x,y\n1,2\n", "text/csv")
    assert store.get("tenants/acme/uploads/1/a.csv") == b"x,y\n1,2\n"
    assert store.exists("tenants/acme/uploads/1/a.csv")
    assert store.size("tenants/acme/uploads/1/a.csv") == 8
    assert b"".join(store.iter_chunks("tenants/acme/uploads/1/a.csv", 3)) == b"x,y\n1,2\n"


def test_missing_object(store: ObjectStore) -> None:
    assert not store.exists("tenants/acme/nothing")
    with pytest.raises(ObjectNotFound):
        store.get("tenants/acme/nothing")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/./b", "a/../b", "a b"])
def test_unsafe_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ObjectAccessDenied):
        store.put(key, b"x", "text/plain")


def test_presigned_url_downloads_over_http(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket="presign")
    store = S3ObjectStore("presign", endpoint_url=moto_endpoint)
    store.put("tenants/acme/runs/r/report.json", b'{"ok": true}', "application/json")
    url = store.presigned_url("tenants/acme/runs/r/report.json", 60)
    assert url and "X-Amz-Signature" in url
    assert httpx.get(url).content == b'{"ok": true}'


def test_tenant_files_never_read_another_tenants_upload(store: ObjectStore) -> None:
    theirs = upload_key("globex", "secret.csv")
    store.put(theirs, b"top secret", "text/csv")
    mine = TenantFiles(store, "acme")
    assert not mine.owns(theirs)
    with pytest.raises(ObjectAccessDenied, match="does not belong to this tenant"):
        mine.read_bytes(theirs)
    with pytest.raises(ObjectAccessDenied):
        mine.read_bytes("tenants/acme/../globex/uploads/x")
    assert TenantFiles(store, "globex").read_bytes(theirs) == b"top secret"


def test_upload_keys_are_tenant_scoped_and_sanitised() -> None:
    key = upload_key("acme", "../../we ird name.csv")
    assert key.startswith("tenants/acme/uploads/")
    assert ".." not in key and " " not in key


def test_run_artifacts_are_written_under_the_run(store: ObjectStore) -> None:
    artifacts = RunArtifacts(store, "acme", "run-1")
    ref = artifacts.put("report.json", b"{}", "application/json")
    assert ref.key == "tenants/acme/runs/run-1/report.json" and ref.size == 2
    artifacts.put("report.json", b"{ }", "application/json")
    assert [a.size for a in artifacts.written] == [3]
    with pytest.raises(ObjectAccessDenied):
        artifacts.put("../escape", b"", "text/plain")
