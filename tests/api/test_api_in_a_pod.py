"""The API as a pod meets it: kubelet probes with the pod IP as Host, Prometheus on a metrics port
of its own, a TLS Ingress in front, and uploads of up to 100 MiB in a small pod."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import redis
from django.conf import settings
from django.test import Client
from moto.server import ThreadedMotoServer

from atomfleet.storage.s3 import S3ObjectStore
from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant
from tests.support.atoms import register_shipped_atoms
from tests.support.live_api import ApiServer

POD_HOST = "10.244.1.7:8000"  # what the kubelet sends: the pod IP and the probe's port
PUBLIC_HOST = "atomfleet.example.com"
API_REDIS_DB = 13  # the live API's broker database (the suite's own are 10/11)


# ------------------------------------------------------------------ in-process (Django test client)
@pytest.mark.django_db
def test_probes_answer_a_pod_ip_host_while_other_paths_keep_the_allow_list(settings: Any) -> None:
    settings.ALLOWED_HOSTS = [PUBLIC_HOST]
    client = Client()
    assert client.get("/healthz", HTTP_HOST=POD_HOST).status_code == 200
    ready = client.get("/readyz", HTTP_HOST=POD_HOST)
    assert ready.status_code == 200, ready.content
    # Host validation still applies to everything else.
    assert client.get("/api/v1/atoms", HTTP_HOST=POD_HOST).status_code == 400
    assert client.get("/api/v1/atoms", HTTP_HOST=PUBLIC_HOST).status_code == 401


@pytest.mark.django_db
def test_the_api_port_serves_no_metrics(settings: Any) -> None:
    settings.ALLOWED_HOSTS = [PUBLIC_HOST]
    response = Client().get("/metrics", HTTP_HOST=PUBLIC_HOST)
    assert response.status_code == 404
    assert b"# TYPE" not in response.content


# ------------------------------------------------------------------ the real server
@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket="uploads")
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def live_api(django_db_setup: None, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    broker = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + f"/{API_REDIS_DB}"
    redis.Redis.from_url(broker).flushdb()
    workdir = tmp_path_factory.mktemp("live-api")
    api = ApiServer(
        workdir,
        # Every address of the loopback network may connect (see the proxy tests).
        ATOMFLEET_API_HOST="0.0.0.0",
        ATOMFLEET_API_WORKERS="1",  # one worker, whose peak memory the upload test reads
        ATOMFLEET_DEBUG="false",
        ATOMFLEET_ALLOWED_HOSTS=PUBLIC_HOST,
        # Trusted proxies: the loopback address only (127.0.0.2 is another peer).
        ATOMFLEET_FORWARDED_ALLOW_IPS="127.0.0.1",
        ATOMFLEET_BROKER_URL=broker,
        ATOMFLEET_STORAGE_BACKEND="s3",
        ATOMFLEET_S3_BUCKET="uploads",
        ATOMFLEET_S3_ENDPOINT_URL=s3_endpoint,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        ATOMFLEET_LOG_FORMAT="console",
        TMPDIR=str(workdir),
    )
    api.start()
    try:
        yield api
    finally:
        api.stop()
        redis.Redis.from_url(broker).flushdb()


@pytest.fixture
def token(transactional_db: None) -> str:
    register_shipped_atoms()
    tenant = Tenant.objects.create(slug="podtest", name="Pod test")
    return ApiToken.issue(tenant, "pod-test")[1]


def _client(api: ApiServer, token: str, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=api.url, timeout=60, headers={"Host": PUBLIC_HOST, "Authorization": f"Bearer {token}"}, **kwargs)


def test_the_gunicorn_master_serves_the_api_metrics_on_their_own_port(live_api: ApiServer, token: str) -> None:
    with _client(live_api, token) as api:
        assert api.get("/api/v1/atoms").status_code == 200
        assert api.get("/metrics").status_code == 404
    metrics = httpx.get(live_api.metrics_url, headers={"Host": POD_HOST}, timeout=30)
    assert metrics.status_code == 200, live_api.tail()
    body = metrics.text
    # The counters of every gunicorn worker, read by the master from the multiprocess files.
    assert 'atomfleet_api_requests_total{method="GET",route="api/v1/atoms",status="200"}' in body
    assert httpx.get(live_api.metrics_url.replace("/metrics", "/other"), timeout=10).status_code == 404


def test_kubelet_probes_with_the_pod_ip_as_host_pass_on_the_real_server(live_api: ApiServer) -> None:
    for path in ("/healthz", "/readyz"):
        response = httpx.get(live_api.url + path, headers={"Host": POD_HOST}, timeout=10)
        assert response.status_code == 200, (path, response.text, live_api.tail())


@pytest.mark.parametrize(("peer", "scheme"), [("127.0.0.1", "https"), ("127.0.0.2", "http")],
                         ids=["trusted-proxy", "other-peer"])
def test_x_forwarded_proto_is_honoured_from_trusted_proxies_only(live_api: ApiServer, token: str, peer: str, scheme: str) -> None:
    transport = httpx.HTTPTransport(local_address=peer)
    with _client(live_api, token, transport=transport) as api:
        response = api.post("/api/v1/atoms/text.stats/runs", json={"args": {"text": "behind an ingress"}},
                            headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == response.json()["url"]
    assert response.json()["url"].startswith(f"{scheme}://{PUBLIC_HOST}/api/v1/runs/"), response.json()["url"]


def test_an_upload_is_streamed_to_storage_not_held_in_memory(live_api: ApiServer, token: str, s3_endpoint: str) -> None:
    size = 96 * 1024 * 1024
    (worker,) = live_api.worker_pids()
    with _client(live_api, token) as api:
        # Warm the worker (imports, first request) before measuring its peak.
        assert api.post("/api/v1/files", files={"file": ("warm.csv", b"a\n1\n")}).status_code == 201
        before = peak_rss_kib(worker)
        body = io.BytesIO(b"0123456789abcdef" * (size // 16))
        response = api.post("/api/v1/files", files={"file": ("big.csv", body, "text/csv")})
    assert response.status_code == 201, response.text
    assert response.json()["size"] == size
    growth_mib = (peak_rss_kib(worker) - before) / 1024
    # Reading the body whole would add at least its 96 MiB; streaming adds a few 8 MiB parts.
    assert growth_mib < 48, f"the API worker grew by {growth_mib:.0f} MiB for a 96 MiB upload"
    store = S3ObjectStore("uploads", endpoint_url=s3_endpoint, client=boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"))
    key = response.json()["key"]
    assert store.size(key) == size
    head = b"".join(c for _, c in zip(range(1), store.iter_chunks(key, 16), strict=False))
    assert head == b"0123456789abcdef"


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the highest resident set size the process ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for pid {pid}")


def test_stores_stream_from_seekable_and_unseekable_sources(tmp_path: Path, s3_endpoint: str) -> None:
    from atomfleet.storage import LocalObjectStore

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    data = os.urandom(9 * 1024 * 1024 + 7)  # above one multipart part

    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self._inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    for store in (LocalObjectStore(tmp_path), S3ObjectStore("uploads", client=client)):
        for name, source in (("seekable", io.BytesIO(data)), ("stream", io.BufferedReader(Unseekable()))):
            key = f"tenants/t/uploads/{type(store).__name__}-{name}"
            assert store.put_stream(key, source, "application/octet-stream") == len(data)
            assert store.get(key) == data
