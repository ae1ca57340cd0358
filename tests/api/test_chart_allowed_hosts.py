"""The chart's default ``config.allowedHosts`` on the real API server: what ``helm install`` with
defaults is reached by still works — kubelet probes (``Host: <pod IP>:<port>``), in-cluster clients
and ``helm test`` (the Service's names), ``kubectl port-forward`` (loopback) — and any other Host
is refused."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_api import ApiServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "k8s-tests"))

from chartlib import one, render  # noqa: E402

pytestmark = pytest.mark.django_db  # the server reads the test database


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    allowed = one(render(), "ConfigMap", "atomfleet-config")["data"]["ATOMFLEET_ALLOWED_HOSTS"]
    api = ApiServer(tmp_path_factory.mktemp("allowed-hosts"), ATOMFLEET_ALLOWED_HOSTS=allowed)
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.mark.parametrize("host", [
    "atomfleet-api:8000", "atomfleet-api.atomfleet.svc:8000", "atomfleet-api.atomfleet.svc.cluster.local:8000",
    "127.0.0.1:8000", "localhost:8000",
])
def test_the_names_a_default_install_is_reached_by_are_accepted(server: ApiServer, host: str) -> None:
    response = httpx.get(f"{server.url}/api/v1/schema", headers={"Host": host}, timeout=10)
    assert response.status_code == 200, (host, response.status_code, response.text[:300])


def test_probes_answer_the_pod_ip_and_other_hosts_are_refused(server: ApiServer) -> None:
    for path in ("/healthz", "/readyz"):
        assert httpx.get(server.url + path, headers={"Host": "10.244.1.17:8000"}, timeout=10).status_code == 200
    for host in ("evil.example", "10.244.1.17:8000"):
        response = httpx.get(f"{server.url}/api/v1/schema", headers={"Host": host}, timeout=10)
        assert response.status_code == 400, (host, response.status_code)
