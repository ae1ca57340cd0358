"""Proof of the autoscaling query: a real Prometheus scrapes a locally started fleet (the rendered
API, beat and `default` worker, see localpod.py) under a known demand, and the query rendered into
the ScaledObject — and the prometheus-adapter rule of values/prometheus-adapter.yaml — evaluate to
the runs waiting + running (beat's atomfleet_queue_demand), so the autoscaler's
ceil(value / concurrency) is the replica count we expect, with the worker up and once it is gone.

Needs `prometheus` on PATH (Debian: `apt-get install -y prometheus`); skipped with that reason
otherwise."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from chartlib import ROOT, container, one, render
from localpod import Pod, free_port, missing_modules, wait_until

pytestmark = pytest.mark.fleet

REDIS = os.environ.get("ATOMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
BROKER_DB = 12
_PG = os.environ.get("ATOMFLEET_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/atomfleet")
PG_ADMIN = _PG.rsplit("/", 1)[0] + "/postgres"
DB_NAME = f"{_PG.rsplit('/', 1)[1]}_chart_scaling"
CONCURRENCY = 2
RUNS = 5  # 2 running (busy slots) + 3 waiting (backlog, prefetched or in Redis)
NAMESPACE = "atomfleet"


@pytest.fixture(scope="module")
def prometheus_bin() -> str:
    found = shutil.which("prometheus")
    if not found:
        pytest.skip("prometheus is not installed (apt-get install -y prometheus)")
    return found


@pytest.fixture(scope="module")
def objs(prometheus_bin: str) -> list[dict[str, Any]]:
    missing = missing_modules("atomfleet.metrics", "atomfleet.probes.check")
    if missing:
        pytest.skip(f"the worker metrics/probes are not on this branch yet: {', '.join(missing)} (merge main once they land)")
    import psycopg
    import redis

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    from urllib.parse import urlsplit

    redis.Redis.from_url(f"{REDIS}/{BROKER_DB}").flushdb()
    url = urlsplit(REDIS)
    return render([], {
        "redis": {"enabled": False},
        "externalRedis": {"host": url.hostname, "port": url.port or 6379, "brokerDatabase": BROKER_DB},
        "externalDatabase": {"existingSecret": "", "url": _PG.rsplit("/", 1)[0] + f"/{DB_NAME}"},
        "storage": {"backend": "local", "local": {"existingClaim": "shared"}},
        "config": {"logFormat": "console", "dispatchInterval": 2},
        "autoscaling": {"prometheus": {"serverAddress": "http://prometheus:9090"}},
        "workers": {"queues": {"default": {"concurrency": CONCURRENCY, "autoscaling": {"mode": "keda", "maxReplicas": 10}}}},
    })


@pytest.fixture(scope="module")
def fleet(objs: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Pod]]:
    tmp = tmp_path_factory.mktemp("scaling")
    storage = tmp / "storage"
    storage.mkdir()
    migrate = Pod("migrations", container(one(objs, "Job", "atomfleet-migrations")), objs, tmp)
    assert migrate.run() == 0, migrate.logs()
    pods: dict[str, Pod] = {}
    local = {"ATOMFLEET_STORAGE_LOCAL_ROOT": str(storage)}
    try:
        pods["api"] = Pod("api", container(one(objs, "Deployment", "atomfleet-api")), objs, tmp,
                          ATOMFLEET_API_PORT=str(free_port()), ATOMFLEET_API_HOST="127.0.0.1",
                          ATOMFLEET_METRICS_PORT=str(free_port()), **local).start()
        pods["beat"] = Pod("beat", container(one(objs, "Deployment", "atomfleet-beat")), objs, tmp,
                           ATOMFLEET_METRICS_PORT=str(free_port()), **local).start()
        pods["worker"] = Pod("worker-default", container(one(objs, "Deployment", "atomfleet-worker-default")), objs, tmp,
                             ATOMFLEET_METRICS_PORT=str(free_port()), **local).start()
        yield pods
    finally:
        for p in reversed(list(pods.values())):
            p.stop()


@pytest.fixture(scope="module")
def prometheus(prometheus_bin: str, fleet: dict[str, Pod], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("prometheus")
    # What the chart's PodMonitors give a real Prometheus: each pod's metrics port, namespace label.
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "celery",
            "static_configs": [{"targets": [f"127.0.0.1:{fleet[name].env['ATOMFLEET_METRICS_PORT']}"],
                                "labels": {"namespace": NAMESPACE, "pod": fleet[name].env["POD_NAME"], "component": name}}
                               for name in ("beat", "worker")],
        }],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen([prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def query(url: str, promql: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert r["status"] == "success", r
    return r["data"]["result"]


def submit_runs(api: Pod, n: int) -> None:
    token_pod_env = api.env
    for cmd in (["manage", "create_tenant", "scaling"], ["manage", "create_token", "scaling", "scaling"]):
        out = subprocess.run(["atomfleet", *cmd], env=token_pod_env, cwd=api.tmp, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
    token = out.stdout.strip().splitlines()[-1]
    base = f"http://127.0.0.1:{api.env['ATOMFLEET_API_PORT']}"
    for i in range(n):
        r = httpx.post(f"{base}/api/v1/atoms/diagnostics.sleep/runs", json={"args": {"seconds": 600, "steps": 600}, "idempotency_key": f"s{i}"},
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code in (200, 201, 202), r.text


def test_rendered_query_yields_backlog_plus_busy_slots_and_the_expected_replicas(objs, fleet, prometheus) -> None:
    so = one(objs, "ScaledObject", "atomfleet-worker-default")
    trigger = so["spec"]["triggers"][0]
    promql = trigger["metadata"]["query"]
    threshold = float(trigger["metadata"]["threshold"])
    assert threshold == CONCURRENCY

    pods = list(fleet.values())
    wait_until(lambda: fleet["worker"].probe("readiness") == 0, 120, "the worker to be ready", pods)
    api_base = f"http://127.0.0.1:{fleet['api'].env['ATOMFLEET_API_PORT']}"
    wait_until(lambda: httpx.get(api_base + "/readyz", timeout=5).status_code == 200, 90, "the API", pods)

    # Idle: nothing waiting, nothing running (the series exist: scale-to-min works).
    wait_until(lambda: [float(r["value"][1]) for r in query(prometheus, promql)] == [0.0], 60, "an idle demand of 0", pods)

    submit_runs(fleet["api"], RUNS)

    def demand() -> float | None:
        result = query(prometheus, promql)
        return float(result[0]["value"][1]) if result else None

    busy = f'sum(atomfleet_worker_busy_slots{{queue_name="default",namespace="{NAMESPACE}"}})'
    seen: list[tuple[float | None, list[float]]] = []

    def settled() -> bool:
        observed = (demand(), [float(r["value"][1]) for r in query(prometheus, busy)])
        seen.append(observed)
        return observed == (RUNS, [CONCURRENCY])

    try:
        wait_until(settled, 120, f"demand {RUNS} with {CONCURRENCY} busy slots", pods)
    except AssertionError as exc:
        raise AssertionError(f"last (demand, busy) observed: {seen[-5:]}\n{exc}") from None
    value = demand()
    assert value == RUNS
    assert math.ceil(value / threshold) == math.ceil(RUNS / CONCURRENCY) == 3

    # The HPA-mode rule of values/prometheus-adapter.yaml gives the same number for the same selector.
    adapter = yaml.safe_load((ROOT / "values" / "prometheus-adapter.yaml").read_text())
    rule = adapter["rules"]["external"][0]["metricsQuery"]
    rule = rule.replace("<<.LabelMatchers>>", f'namespace="{NAMESPACE}",queue_name="default"')
    result = query(prometheus, rule)
    assert [(r["metric"].get("queue_name"), float(r["value"][1])) for r in result] == [("default", float(RUNS))]

    # When the queue's only worker pod vanishes (SIGKILL: no shutdown), the demand is still there
    # (its runs are still running in the database until the reconciler sees them stale): 0 -> N works.
    os.killpg(fleet["worker"].proc.pid, signal.SIGKILL)
    fleet["worker"].proc.wait()
    up = f'up{{component="worker",namespace="{NAMESPACE}"}}'
    wait_until(lambda: [float(r["value"][1]) for r in query(prometheus, up)] == [0.0], 30, "the worker target down",
               [fleet["api"], fleet["beat"]])
    assert demand() == RUNS
