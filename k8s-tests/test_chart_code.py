"""Chart <-> code: the rendered containers run as rendered.

For the migration Job, the API and every queue's worker (and beat), take the rendered container's
command, args and environment, resolve ConfigMap/Secret/downward-API references the way the
kubelet does (including `$(VAR)` expansion), point the services at 127.0.0.1 through values
(the test Redis, database 14; PostgreSQL database `atomfleet_chart`; a local S3 server), and start
it here. Then check that each worker consumes exactly its queue, serves metrics and passes its own
liveness and readiness commands, that the API answers its probes and serves /metrics on the metrics
port only, and run the rendered `helm test` Pods: they register their token and complete one run
per queue through the API.

What stands in for the pod: each process gets its own folder for `/tmp` (an emptyDir per pod) and
its own ports (a network namespace per pod); nothing else is changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from chartlib import container, find, one, render
from localpod import BIN, Pod, free_port, wait_until

from tests.support.examples import EXAMPLE_IMAGE, install_example

pytestmark = pytest.mark.fleet

REDIS = os.environ.get("ATOMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
BROKER_DB = 14
_PG = os.environ.get("ATOMFLEET_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/atomfleet")
PG_ADMIN = _PG.rsplit("/", 1)[0] + "/postgres"
# One database per worktree/CI job sharing a PostgreSQL server.
DB_NAME = f"{_PG.rsplit('/', 1)[1]}_chart"
QUEUES = ["default", "io_bound", "ml_training", "reports"]
# `reports` runs the example atoms package in an image of its own (examples/acme-atoms); here a
# folder the package is pip-installed into stands in for that image (PYTHONPATH).
REPORTS = {"image": EXAMPLE_IMAGE, "concurrency": 1, "terminationGracePeriodSeconds": 700,
           "test": {"atom": "reports.word_frequencies", "args": {"top": 3}, "files": {"file": "the cat and the hat"}}}


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    import boto3

    # The bucket exists before the chart is installed (as storage.s3.bucket must on a cluster).
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="atomfleet-chart")
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    yield _PG.rsplit("/", 1)[0] + f"/{DB_NAME}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


@pytest.fixture(scope="module")
def local_values(database: str, s3_endpoint: str) -> dict[str, Any]:
    from urllib.parse import urlsplit

    import redis

    redis.Redis.from_url(f"{REDIS}/{BROKER_DB}").flushdb()
    url = urlsplit(REDIS)
    return {
        "redis": {"enabled": False},
        "externalRedis": {"host": url.hostname, "port": url.port or 6379, "brokerDatabase": BROKER_DB},
        "externalDatabase": {"existingSecret": "", "url": database},
        "storage": {"backend": "s3", "s3": {"bucket": "atomfleet-chart", "endpointUrl": s3_endpoint,
                                           "accessKeyId": "testing", "secretAccessKey": "testing"}},
        # fewer pool processes than production on a shared CI machine; the command line is the chart's
        "workers": {"queues": {"default": {"concurrency": 2}, "io_bound": {"concurrency": 4}, "reports": REPORTS}},
        "config": {"logFormat": "console"},
    }


@pytest.fixture(scope="module")
def objs(local_values: dict[str, Any]) -> list[dict[str, Any]]:
    return render([], local_values)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Image name -> what stands in for its contents (the fleet image is this checkout)."""
    site = install_example(tmp_path_factory.mktemp("acme-image"))
    return {f"{EXAMPLE_IMAGE['repository']}:{EXAMPLE_IMAGE['tag']}": {"PYTHONPATH": str(site)}}


def _image_env(c: dict[str, Any], images: dict[str, dict[str, str]]) -> dict[str, str]:
    return images.get(c["image"], {})


@pytest.fixture(scope="module")
def migrated(objs: list[dict[str, Any]], images: dict[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> None:
    """The pre-install hooks in weight order, as Helm runs them: migrations, then atom registration."""
    tmp = tmp_path_factory.mktemp("migrations")
    jobs = sorted((j for j in find(objs, "Job") if j["metadata"]["name"].startswith("atomfleet-migrations")),
                  key=lambda j: (int(j["metadata"]["annotations"]["helm.sh/hook-weight"]), j["metadata"]["name"]))
    assert [j["metadata"]["name"] for j in jobs] == ["atomfleet-migrations", "atomfleet-migrations-atoms-0",
                                                     "atomfleet-migrations-atoms-1"]
    for job in jobs:
        c = container(job)
        pod = Pod(job["metadata"]["name"], c, objs, tmp, **_image_env(c, images))
        rc = pod.run()
        pod.log.close()
        assert rc == 0, f"rendered hook Job {job['metadata']['name']} failed:\n{pod.logs()}"


@pytest.fixture(scope="module")
def fleet(objs: list[dict[str, Any]], migrated: None, images: dict[str, dict[str, str]],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Pod]]:
    tmp = tmp_path_factory.mktemp("pods")
    pods: dict[str, Pod] = {}
    try:
        # Each pod's own network namespace stands in as its own ports; nothing else is overridden but
        api = one(objs, "Deployment", "atomfleet-api")
        pods["api"] = Pod("api", container(api), objs, tmp, ATOMFLEET_API_PORT=str(free_port()), ATOMFLEET_API_HOST="127.0.0.1",
                          ATOMFLEET_METRICS_PORT=str(free_port())).start()
        pods["beat"] = Pod("beat", container(one(objs, "Deployment", "atomfleet-beat")), objs, tmp,
                           ATOMFLEET_METRICS_PORT=str(free_port())).start()
        for q in QUEUES:
            c = container(one(objs, "Deployment", f"atomfleet-worker-{q.replace('_', '-')}"))
            pods[q] = Pod(f"worker-{q}", c, objs, tmp, ATOMFLEET_METRICS_PORT=str(free_port()), **_image_env(c, images)).start()
        yield pods
    finally:
        for name in reversed(list(pods)):
            pods[name].stop()


# ------------------------------------------------------------------ tests
def test_rendered_migration_job_migrates_the_database(migrated: None, database: str) -> None:
    import psycopg

    with psycopg.connect(database) as conn:
        (count,) = conn.execute("SELECT count(*) FROM django_migrations").fetchone()
        registered = dict(conn.execute("SELECT name, queue FROM atoms_atomdefinition WHERE retired_at IS NULL").fetchall())
    assert count > 0
    # Each worker image registered its atoms before any worker ran: the fleet image's, and the
    # example package's on `reports` (the API could accept runs of a queue still at zero workers).
    assert registered["text.stats"] == "default" and registered["reports.column_summary"] == "reports"


@pytest.mark.parametrize("queue", QUEUES)
def test_rendered_worker_passes_its_probes_consumes_exactly_its_queue_and_serves_metrics(fleet: dict[str, Pod], queue: str) -> None:
    pod = fleet[queue]
    all_pods = list(fleet.values())
    wait_until(lambda: pod.probe("readiness") == 0, 120, f"{queue} readiness command", all_pods)
    assert pod.probe("liveness") == 0, pod.logs()
    assert pod.probe("startup") == 0, pod.logs()

    hostname = next(a.split("=", 1)[1] for a in pod.argv if a.startswith("--hostname="))
    assert hostname == f"{queue}@{pod.env['POD_NAME']}"
    proc = subprocess.run(
        [str(BIN / "celery"), "-A", "atomfleet_orchestrator", "inspect", "active_queues", "-d", hostname, "--json", "--timeout", "10"],
        env=pod.env, cwd=pod.tmp, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    replies = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [q["name"] for q in replies[hostname]] == [queue]

    url = f"http://127.0.0.1:{pod.env['ATOMFLEET_METRICS_PORT']}/metrics"
    body = httpx.get(url, timeout=10).text
    assert "# TYPE" in body
    assert f'queue_name="{queue}"' in body


def test_rendered_api_answers_its_probes_and_serves_metrics_on_the_metrics_port_only(fleet: dict[str, Pod], objs: list[dict[str, Any]]) -> None:
    api = fleet["api"]
    base = f"http://127.0.0.1:{api.env['ATOMFLEET_API_PORT']}"
    c = container(one(objs, "Deployment", "atomfleet-api"))

    def answers() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(base + c["readinessProbe"]["httpGet"]["path"], timeout=5).status_code == 200
        return False

    wait_until(answers, 90, "the API's readiness probe", [api])
    assert httpx.get(base + c["livenessProbe"]["httpGet"]["path"], timeout=5).status_code == 200
    assert httpx.get(base + "/metrics", timeout=10).status_code == 404
    metrics = httpx.get(f"http://127.0.0.1:{api.env['ATOMFLEET_METRICS_PORT']}/metrics", timeout=10)
    assert metrics.status_code == 200 and "# TYPE" in metrics.text


def test_rendered_beat_keeps_running(fleet: dict[str, Pod]) -> None:
    time.sleep(3)
    assert fleet["beat"].alive(), fleet["beat"].logs()


def test_rendered_helm_test_pods_pass_against_the_rendered_fleet(fleet: dict[str, Pod], objs: list[dict[str, Any]],
                                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    """`helm test`: the hook Pods in weight order, each to completion, as Helm runs them."""
    api = fleet["api"]
    base = f"http://127.0.0.1:{api.env['ATOMFLEET_API_PORT']}"
    wait_until(lambda: _ready(base), 90, "the API's readiness", [api])
    for q in QUEUES:
        wait_until(lambda q=q: fleet[q].probe("readiness") == 0, 120, f"{q} readiness", list(fleet.values()))
    hooks = sorted(find(objs, "Pod"), key=lambda p: (int(p["metadata"]["annotations"]["helm.sh/hook-weight"]), p["metadata"]["name"]))
    assert [p["metadata"]["annotations"]["helm.sh/hook"] for p in hooks] == ["test"] * (1 + len(QUEUES))
    tmp = tmp_path_factory.mktemp("helm-test")
    for hook in hooks:
        name = hook["metadata"]["name"]
        c = container(hook)
        # The API Service name resolves to the API pod (cluster DNS); nothing else is changed.
        c = {**c, "args": [a.replace("http://atomfleet-api:8000", base) for a in c["args"]]}
        pod = Pod(name, c, objs, tmp)
        rc = pod.run(timeout=240)
        pod.log.close()
        assert rc == 0, f"helm test Pod {name} failed:\n{pod.logs()}\n--- api\n{api.logs()}"
        if name != "atomfleet-test-token":
            assert "ok: queue" in pod.logs(), pod.logs()


def _ready(base: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    return False


def test_no_pod_name_or_secret_reference_is_left_unresolved(objs: list[dict[str, Any]], fleet: dict[str, Pod]) -> None:
    for pod in fleet.values():
        for value in list(pod.env.values()) + pod.argv:
            assert "$(" not in value, (pod.name, value)
    assert find(objs, "Secret", "atomfleet-secret")
