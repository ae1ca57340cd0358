"""Signals that tell the truth, checked against the real thing.

The project's real processes (three ``celery -A atomfleet_orchestrator worker``, beat, the gunicorn
API, Flower) run against the test database and Redis; a real Prometheus scrapes them with the
labels the chart's PodMonitors/ServiceMonitor give them (rendered from the chart, relabelings
applied as prometheus-operator does) and evaluates celery-exporter's alert rules and atomfleet's,
both unchanged but for a short ``for:``. A workload of known outcome runs through the API:
successes, atom failures (a burst on ml_training), transient failures retried, a run cancelled
while running and one while queued, a message naming an unregistered task, and a worker paused
with SIGSTOP. Then celery-exporter's dashboards (read unchanged from the mixin folder, variables
substituted as Grafana does) and atomfleet's own must return data on every panel and show the
true totals (counter totals after the final scrape, panels evaluated over the whole run).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.observability import _grafana as grafana
from tests.observability._support import (
    BROKER_DB,
    NAMESPACE,
    REPO,
    Api,
    Beat,
    Flower,
    Process,
    Prometheus,
    StaticExporter,
    Worker,
    fleet_env,
    monitor_scrape_config,
    redis_base,
    rules_copy,
    wait_for,
)
from tests.support.atoms import register_shipped_atoms
from tests.support.live_api import database_url

# The fleet's processes read the test database (created because these tests are marked).
pytestmark = [pytest.mark.fleet, pytest.mark.django_db]

MIXIN_DIR = Path(os.environ.get("ATOMFLEET_MIXIN_DIR") or REPO.parent / "shared" / "reference" / "celery-exporter-mixin")
DASHBOARDS = sorted((REPO / "charts/atomfleet/files/dashboards").glob("*.json"))
ALERTS = REPO / "charts/atomfleet/files/alerts/atomfleet-alerts.yaml"
QUEUES = {"default": 2, "io_bound": 1, "ml_training": 1}
TERMINAL = {"succeeded", "failed", "cancelled"}
UNKNOWN_TASK = "atomfleet.atom.not_registered"
KSM = """\
# TYPE kube_deployment_status_replicas_available gauge
kube_deployment_status_replicas_available{deployment="atomfleet-worker-default"} 1
kube_deployment_status_replicas_available{deployment="atomfleet-worker-io-bound"} 1
kube_deployment_status_replicas_available{deployment="atomfleet-worker-ml-training"} 1
# TYPE kube_deployment_spec_replicas gauge
kube_deployment_spec_replicas{deployment="atomfleet-worker-default"} 1
kube_deployment_spec_replicas{deployment="atomfleet-worker-io-bound"} 1
kube_deployment_spec_replicas{deployment="atomfleet-worker-ml-training"} 1
"""


def _render_chart() -> list[dict[str, Any]]:
    sys.path.insert(0, str(REPO / "hack"))
    import render as chart_render  # hack/render.py: the chart rendered by the real Helm engine

    values = {"monitoring": {"podMonitor": {"enabled": True}, "serviceMonitor": {"enabled": True}}}
    return list(chart_render.render_objects(chart_render.load_values([], values)))


def _one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _pod(objs: list[dict[str, Any]], deployment: str, address: str, **extra: str) -> dict[str, Any]:
    template = _one(objs, "Deployment", deployment)["spec"]["template"]
    return {"address": address, "pod": f"{deployment}-7d9f8-abcde", "labels": template["metadata"]["labels"],
            "container": template["spec"]["containers"][0]["name"], **extra}


@dataclass
class Fleet:
    workers: dict[str, Worker]
    beat: Beat
    api: Api
    flower: Flower
    prom: Prometheus
    started_at: float
    ready_at: float  # every target scraped at least once, nothing submitted yet

    @property
    def processes(self) -> list[Process]:
        return [*self.workers.values(), self.beat, self.api, self.flower]

    def logs(self) -> str:
        return "\n".join(f"----- {p.name}\n{p.log_text(3000)}" for p in self.processes)


@pytest.fixture(scope="module")
def fleet(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    redis.Redis.from_url(f"{redis_base()}/{BROKER_DB}").flushdb()
    workdir = tmp_path_factory.mktemp("signals")
    env = fleet_env(
        database_url(),
        ATOMFLEET_STORAGE_LOCAL_ROOT=str(workdir / "storage"),
        ATOMFLEET_DISPATCH_INTERVAL="1",
        ATOMFLEET_RECONCILE_INTERVAL="2",
        # A worker paused for the drill must not look lost to the reconciler.
        ATOMFLEET_STALE_AFTER_SECONDS="300",
        # The outbox leaves runs to their on-commit publish (no second message for the same run).
        ATOMFLEET_OUTBOX_GRACE_SECONDS="30",
        # A rejected unregistered name counts after its series was scraped at 0 (above 1 s scrapes).
        ATOMFLEET_METRICS_NEW_SERIES_DELAY="2",
        # Flower reads task events; the chart turns them on with Flower (flower.enabled).
        ATOMFLEET_TASK_EVENTS="true",
    )
    with django_db_blocker.unblock():
        # The chart's pre-install hook registers the atoms before any pod starts: the API and beat
        # create their series of every registered atom at 0 when they start.
        register_shipped_atoms()
    started_at = time.time()
    processes: list[Process] = []
    ksm = StaticExporter(KSM)
    prom: Prometheus | None = None
    try:
        # default replaces its pool child after every task: metric files must stay bounded
        workers = {q: Worker(q, env, workdir, concurrency=c, max_tasks_per_child=1 if q == "default" else None)
                   for q, c in QUEUES.items()}
        processes += workers.values()
        beat, api, flower = Beat(env, workdir), Api(env, workdir), Flower(env, workdir)
        processes += [beat, api, flower]
        for p in processes:
            wait_for(p.ready, 120, f"{p.name} ready")  # type: ignore[attr-defined]

        objs = _render_chart()
        address = {"api": api.metrics_url.split("/")[2]}
        configs = [
            monitor_scrape_config(_one(objs, "PodMonitor", "atomfleet-worker"), [
                _pod(objs, f"atomfleet-worker-{q.replace('_', '-')}", f"127.0.0.1:{w.port}")
                for q, w in workers.items()]),
            monitor_scrape_config(_one(objs, "PodMonitor", "atomfleet-beat"), [
                _pod(objs, "atomfleet-beat", f"127.0.0.1:{beat.port}")]),
            monitor_scrape_config(_one(objs, "ServiceMonitor", "atomfleet-api"), [
                _pod(objs, "atomfleet-api", address["api"], service="atomfleet-api")]),
            {"job_name": "kube-state-metrics", "scrape_interval": "1s", "scrape_timeout": "1s",
             "static_configs": [{"targets": [f"127.0.0.1:{ksm.port}"], "labels": {"namespace": NAMESPACE}}]},
        ]
        rules = [rules_copy(ALERTS, workdir / "atomfleet-alerts.yaml", "3s")]
        if (MIXIN_DIR / "prometheus_alerts.yaml").exists():
            rules.append(rules_copy(MIXIN_DIR / "prometheus_alerts.yaml", workdir / "celery-mixin-alerts.yaml", "3s"))
        prom = Prometheus(workdir, configs, rules)
        wait_for(prom.targets_up, 60, "every target scraped and up")
        time.sleep(2)  # a second scrape of every target: rate() windows have two points
        yield Fleet(workers, beat, api, flower, prom, started_at, time.time())
    except BaseException:
        print("\n".join(f"----- {p.name}\n{p.log_text(3000)}" for p in processes))
        raise
    finally:
        if prom is not None:
            prom.stop()
        for p in processes:
            p.stop()
        ksm.close()


@dataclass
class Observed:
    """What the workload did, by the API's account, and what the drills saw."""

    runs: dict[str, dict[str, Any]]  # run id -> final run
    expected: dict[str, Counter[str]]  # counter (succeeded...) -> task name -> count
    end: float
    drills: dict[str, set[str]] = field(default_factory=dict)  # alert -> states seen


def _submit(client: httpx.Client, atom: str, args: dict[str, Any]) -> str:
    response = client.post(f"/api/v1/atoms/{atom}/runs", json={"args": args})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _status(client: httpx.Client, run_id: str) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/runs/{run_id}").json())


def _wait_alerts(prom: Prometheus, names: list[str], timeout: float) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}

    def all_pending() -> bool:
        seen.update({name: prom.alert_states(name, "5m") for name in names})
        return all(seen[name] for name in names)

    with contextlib.suppress(AssertionError):  # the tests below say which one never went pending
        wait_for(all_pending, timeout, f"alerts {names} pending", interval=1)
    return seen


@pytest.fixture(scope="module")
def observed(fleet: Fleet, django_db_blocker: Any) -> Iterator[Observed]:
    from atomfleet_orchestrator.celery import app
    from atomfleet_orchestrator.runs.models import AtomRun
    from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant
    from atomfleet_orchestrator.workflows.models import Workflow

    with django_db_blocker.unblock():
        tenant = Tenant.objects.create(slug="signals", name="Signals")
        _, token = ApiToken.issue(tenant, "signals-user")
    client = httpx.Client(base_url=fleet.api.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    try:
        yield _run_workload(fleet, client, app)
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        client.close()
        with django_db_blocker.unblock():
            AtomRun.objects.filter(tenant=tenant).delete()
            Workflow.objects.filter(tenant=tenant).delete()  # after its runs (they protect it)
            ApiToken.objects.filter(tenant=tenant).delete()
            tenant.delete()


def _run_workload(fleet: Fleet, client: httpx.Client, app: Any) -> Observed:
    prom, io_worker = fleet.prom, fleet.workers["io_bound"]
    upload = client.post("/api/v1/files", files={"file": ("numbers.csv", b"id,value\n1,2.5\n2,3.5\n", "text/csv")})
    assert upload.status_code in (200, 201), upload.text
    csv_args = {"file": upload.json()["key"], "columns": [{"name": "id", "type": "integer"},
                                                           {"name": "value", "type": "number"}]}
    runs: list[str] = []
    # A failure burst on ml_training: 8 of 10 forecasts fail (series too short for order 3).
    for i in range(10):
        series = [1.0, 2.0, 3.0] if i % 5 else [float(v % 7) for v in range(30)]
        runs.append(_submit(client, "forecast.autoregressive", {"series": series}))
    for i in range(6):
        runs.append(_submit(client, "text.stats", {"text": f"to be or not to be {i}"}))
    # A workflow of two steps (the second released when the first ends): the Workflows row.
    workflow = client.post("/api/v1/workflows", json={"steps": [
        {"name": "first", "atom": "text.stats", "args": {"text": "a workflow's first step"}},
        {"name": "second", "atom": "text.stats", "after": ["first"], "args": {"text": "and its second"}},
    ]})
    assert workflow.status_code == 202, workflow.text
    for _ in range(2):  # two transient failures each, then success: 4 retries
        runs.append(_submit(client, "diagnostics.sleep", {"seconds": 0.2, "steps": 2, "fail_attempts": 2}))
    long_run = _submit(client, "diagnostics.sleep", {"seconds": 120, "steps": 240})
    runs.append(long_run)
    first_io = _submit(client, "data.validate_csv", csv_args)
    runs.append(first_io)
    # A message naming a task no worker registered (a client outside the fleet published it).
    with app.connection_for_write(f"{redis_base()}/{BROKER_DB}") as connection:
        app.send_task(UNKNOWN_TASK, args=["x"], queue="default", connection=connection)

    # A run cancelled while it runs.
    wait_for(lambda: _status(client, long_run)["status"] == "running", 60, "the long run running")
    assert client.post(f"/api/v1/runs/{long_run}/cancel").status_code in (200, 202)

    # The worker-down drill: io_bound's only worker paused (SIGSTOP) while a run waits for it and
    # another one is cancelled while queued.
    wait_for(lambda: _status(client, first_io)["status"] in TERMINAL, 60, "the first io_bound run finished")
    io_worker.signal_group(signal.SIGSTOP)
    try:
        cancelled_queued = _submit(client, "data.validate_csv", csv_args)
        waiting = _submit(client, "data.validate_csv", csv_args)
        runs += [cancelled_queued, waiting]
        assert client.post(f"/api/v1/runs/{cancelled_queued}/cancel").status_code in (200, 202)
        drills = _wait_alerts(prom, ["AtomfleetWorkerDown", "CeleryWorkerDown", "AtomfleetQueueWithoutConsumer"], 60)
    finally:
        io_worker.signal_group(signal.SIGCONT)
    # The failure burst finished long ago: the failure-ratio alerts had time to go pending.
    drills.update(_wait_alerts(prom, ["CeleryTaskHighFailRate", "AtomfleetTaskFailureRatioHigh"], 15))

    def finished() -> bool:
        return all(_status(client, r)["status"] in TERMINAL for r in runs)

    wait_for(finished, 120, "every run finished", interval=0.5)
    ended = wait_for(lambda: (w := client.get(workflow.headers["Location"]).json())["status"] != "running" and w,
                     60, "the workflow ended", interval=0.5)
    assert ended["status"] == "succeeded", ended
    runs += [step["run_id"] for step in ended["steps"]]
    final = {r: _status(client, r) for r in runs}
    # The last counter changes reach Prometheus: a few more scrapes of every target, all up.
    time.sleep(3)
    wait_for(prom.targets_up, 30, "every target up after the workload")
    time.sleep(2)

    by_status: dict[tuple[str, str], int] = Counter((r["atom"], r["status"]) for r in final.values())
    assert by_status == {
        ("forecast.autoregressive", "succeeded"): 2, ("forecast.autoregressive", "failed"): 8,
        ("text.stats", "succeeded"): 8, ("diagnostics.sleep", "succeeded"): 2,
        ("diagnostics.sleep", "cancelled"): 1, ("data.validate_csv", "succeeded"): 2,
        ("data.validate_csv", "cancelled"): 1,
    }, f"the workload did not end as designed: {by_status}"
    expected: dict[str, Counter[str]] = {name: Counter() for name in ("succeeded", "failed", "revoked", "retried")}
    for run in final.values():
        task = f"atomfleet.atom.{run['atom']}"
        outcome = {"succeeded": "succeeded", "failed": "failed", "cancelled": "revoked"}[run["status"]]
        expected[outcome][task] += 1
        if int(run.get("attempts") or 0) > 1:
            expected["retried"][task] += int(run["attempts"]) - 1
    assert expected["retried"] == {"atomfleet.atom.diagnostics.sleep": 4}, expected["retried"]
    expected["rejected"] = Counter({UNKNOWN_TASK: 1})
    return Observed(final, expected, time.time(), drills)


# ------------------------------------------------------------------------------ from start, at 0


def test_every_known_label_set_exists_at_zero_from_process_start(fleet: Fleet) -> None:
    # Given the fleet just started (every target scraped, nothing submitted yet)
    from django.conf import settings

    from atomfleet.catalog import load_catalog
    from atomfleet.metrics import known_exceptions
    from atomfleet_orchestrator.observability.metrics import RECONCILER_ACTIONS

    prom, at = fleet.prom, fleet.ready_at
    catalog = load_catalog(settings.ATOMFLEET_QUEUES, settings.ATOMFLEET_VISIBILITY_TIMEOUT)  # what workers load
    atoms_on = Counter(spec.queue for spec in catalog)

    def count(expr: str) -> dict[str, float]:
        # The series as last scraped (last_over_time): a scrape that timed out on the busy test
        # machine leaves staleness markers, which an instant query at `at` reads as "no series".
        expr = re.sub(r"^count by \(queue_name\) \((.*)\)$", r"count by (queue_name) (last_over_time(\1[30s]))", expr)
        return {s["metric"].get("queue_name", ""): float(s["value"][1]) for s in prom.query(expr, at)}

    # Then every worker has every counter of every atom routed to its queue, all at 0
    for counter in ("sent", "received", "started", "succeeded", "rejected", "revoked", "retried"):
        assert count(f'count by (queue_name) (celery_task_{counter}_total{{component="worker"}})') == atoms_on, counter
    assert count('count by (queue_name) (celery_task_runtime_count{component="worker"})') == atoms_on
    failed = count('count by (queue_name) (celery_task_failed_total{component="worker"})')
    assert failed == {q: n * len(known_exceptions()) for q, n in atoms_on.items()}
    assert count('count by (queue_name) (atomfleet_runs_total{component="worker"})') == {q: 6 * n for q, n in atoms_on.items()}
    # And the API and beat have the sent series of every atom on its queue; the API its submissions
    for component in ("api", "beat"):
        assert count(f'count by (queue_name) (celery_task_sent_total{{component="{component}"}})') == atoms_on
    assert count('count by (queue_name) (atomfleet_runs_submitted_total{component="api"})') == atoms_on
    assert prom.scalar('count(atomfleet_reconciler_actions_total{component="beat"})', at) == len(RECONCILER_ACTIONS)
    # And every process that can end a workflow (workers: a step's end; beat: a repair; the API: a
    # cancel) has atomfleet_workflows_total of each status at 0
    ended = prom.query('count by (component, status) (last_over_time(atomfleet_workflows_total[30s]) == 0)', at)
    assert {(s["metric"]["component"], s["metric"]["status"]): float(s["value"][1]) for s in ended} == {
        (component, status): float(n) for component, n in (("worker", len(QUEUES)), ("beat", 1), ("api", 1))
        for status in ("succeeded", "failed", "cancelled")}
    assert prom.scalar('sum({__name__=~"celery_task_.*_total|atomfleet_runs_total|atomfleet_runs_submitted_total"})', at) == 0


# ---------------------------------------------------------------------- one exporter, true gauges


def test_fleet_wide_gauges_have_one_exporter_and_workers_are_up(fleet: Fleet, observed: Observed) -> None:
    prom = fleet.prom
    fleet_wide = ('celery_queue_length|atomfleet_queue_backlog|atomfleet_queue_prefetched|'
                  'atomfleet_queue_oldest_age_seconds|atomfleet_queue_demand|atomfleet_queue_runs|'
                  'celery_worker_up|atomfleet_outbox_waiting|atomfleet_outbox_oldest_age_seconds|'
                  'atomfleet_tenant_runs_waiting|atomfleet_tenant_runs_running|atomfleet_tenant_oldest_waiting_age_seconds')
    exporters = prom.query(f'count by (__name__, component) ({{__name__=~"{fleet_wide}"}})')
    assert {s["metric"]["component"] for s in exporters} == {"beat"}, exporters
    # Every series once: sum and max agree, per queue and per worker
    assert not prom.query(f'count by (__name__, queue_name, state, hostname) ({{__name__=~"{fleet_wide}"}}) > 1')
    # Everything finished: no demand, nothing waiting; every worker reports fresh
    assert {s["metric"]["queue_name"]: float(s["value"][1]) for s in prom.query("atomfleet_queue_demand")} == {
        q: 0.0 for q in QUEUES}
    assert {s["metric"]["hostname"]: float(s["value"][1]) for s in prom.query("celery_worker_up")} == {
        w.hostname: 1.0 for w in fleet.workers.values()}
    assert prom.scalar('sum(atomfleet_queue_backlog)') == 0
    # Per-pod gauges stay per pod
    assert {s["metric"]["queue_name"]: float(s["value"][1]) for s in prom.query("sum by (queue_name) (atomfleet_worker_slots)")} == {
        q: float(c) for q, c in QUEUES.items()}


def test_tenant_gauges_count_the_tenants_runs_while_they_last(fleet: Fleet, observed: Observed) -> None:
    prom, window = fleet.prom, f"[{math.ceil(observed.end - fleet.ready_at)}s:1s]"
    # While the workload ran, beat counted the tenant's runs under its own name: a run waiting on
    # io_bound while its only worker was paused, runs holding slots
    assert prom.scalar(f'max_over_time(max(atomfleet_tenant_runs_waiting{{tenant="signals",queue_name="io_bound"}}){window})', observed.end) >= 1
    assert prom.scalar(f'max_over_time(sum(atomfleet_tenant_runs_running{{tenant="signals"}}){window})', observed.end) >= 1
    assert prom.scalar(f'max_over_time(max(atomfleet_tenant_oldest_waiting_age_seconds{{tenant="signals"}}){window})', observed.end) > 0
    # And at every scrape the tenants' runs added up to the queue's (one query feeds both)
    for state in ("waiting", "running"):
        drift = (f'sum by (queue_name) (atomfleet_tenant_runs_{state}) - on (queue_name) '
                 f'max by (queue_name) (atomfleet_queue_runs{{state="{state}"}})')
        assert not prom.query(f'max_over_time(abs({drift}){window}) > 0', observed.end), state
    # Once every run ended, the tenant has no series any more (not a 0 kept forever)
    assert not prom.query('{__name__=~"atomfleet_tenant_.*", tenant="signals"}')


def test_worker_metric_files_stay_bounded_under_child_recycling(fleet: Fleet, observed: Observed) -> None:
    # Given the default worker replaced its pool child after each of its tasks (about 20 children)
    worker = fleet.workers["default"]
    assert fleet.prom.scalar(f'sum(celery_task_started_total{{hostname="{worker.hostname}"}})') >= 10
    # Then its multiprocess folder holds one file per metric type and pool slot, not per child
    (group_dir,) = worker.metrics_dir.iterdir()  # one folder per worker process group
    files = sorted(p.name for p in group_dir.iterdir())
    slots = {"main"} | {f"c{i}" for i in range(QUEUES["default"])}
    assert {f.rsplit("_", 1)[-1].removesuffix(".db") for f in files} <= slots, files
    assert len(files) <= 2 * len(slots), files  # counter and histogram files (no live gauges)


def test_api_counts_requests_by_route_and_publishes_as_sent(fleet: Fleet, observed: Observed) -> None:
    prom = fleet.prom
    assert prom.scalar('sum(atomfleet_api_requests_total{route="api/v1/runs/<uuid:run_id>",method="GET",status="200"})') > 0
    assert prom.scalar('sum(atomfleet_runs_submitted_total)') == len(observed.runs)
    # Publishes carry the fleet's job: the mixin's "sent" panels see them. A run is published by the
    # process whose transaction gave it its turn (runs.fairness): the API when its queue had room,
    # else the worker whose claim or ending made room (a workflow step: the worker that ended its
    # parent), or beat (a retry that came due). Every attempt that started was published.
    sent = {c: prom.scalar(f'sum(celery_task_sent_total{{job="celery",component="{c}"}})') or 0.0
            for c in ("api", "worker", "beat")}
    started = sum(int(run["attempts"]) for run in observed.runs.values())
    assert sent["api"] >= 1 and sent["worker"] >= 1, sent
    assert sum(sent.values()) >= started, (sent, started)
    # And no label carries a run or task id
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    for series in prom.api("series", **{"match[]": '{__name__=~"atomfleet_.*|celery_.*"}'})["data"]:
        assert not any(uuid.search(v) for v in series.values()), series


# ------------------------------------------------------------------- celery-exporter's dashboards


def _mixin() -> list[Path]:
    if not MIXIN_DIR.is_dir():
        pytest.skip(f"celery-exporter mixin not found at {MIXIN_DIR} (set ATOMFLEET_MIXIN_DIR)")
    return sorted(MIXIN_DIR.glob("*.json"))


# Expressions that cannot return data with this workload, by design of the dashboard (not of the
# fleet): the old dashboard lists `$task` from celery_task_sent_total, and the unregistered task was
# published by a client outside the scraped fleet, so its rejection row is filtered out there.
_NO_DATA_BY_DESIGN = {("Celery / Tasks", "Task Stats", "celery_task_rejected_total")}


def _no_data(board: grafana.Grafana, dashboard: dict[str, Any]) -> list[str]:
    variables = board.variables(dashboard)
    empty = []
    for target in grafana.targets(dashboard):
        metrics = set(re.findall(r"celery_task_\w+_total", target.expr))
        if len(metrics) == 1 and (target.dashboard, target.panel, metrics.pop()) in _NO_DATA_BY_DESIGN:
            continue
        if not grafana.has_data(board.evaluate(target, variables)):
            empty.append(f"{target}: {board.expand(target.expr, variables)}")
    return empty


def test_every_panel_of_celery_exporters_dashboards_returns_data(fleet: Fleet, observed: Observed) -> None:
    board = grafana.Grafana(fleet.prom, fleet.started_at, observed.end)
    empty = []
    for path in _mixin():
        dashboard = grafana.load(path)
        empty += _no_data(board, dashboard)
        # The overview's $job comes from celery_worker_up and is single-valued: one job for the
        # whole fleet is what makes Grafana's default selection show the API's and beat's sends.
        if "job" in board.options:
            assert board.options["job"] == ["celery"], board.options
    assert not empty, "panels without data:\n" + "\n".join(empty)


_WINDOW = re.compile(r"(?:increase|rate)\(\s*(celery_task_\w+_total\{[^}]*\})\s*\[[^\]]*\]\s*\)")


def _totals(board: grafana.Grafana, dashboard: dict[str, Any], panel: str, by: str) -> dict[str, dict[str, tuple[float, float]]]:
    """counter -> label value -> (total, shown) for the single-counter targets of a table panel.

    *shown* is the panel's own value (``round(increase(...[$__range]))``); *total* is the same
    expression with the counter read directly instead of through the window: the panel's label
    selection and aggregation, without ``increase()``'s extrapolation (every series of this fleet
    started at 0 inside the range, so the two differ only by that extrapolation).
    """
    variables = board.variables(dashboard)
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for target in grafana.targets(dashboard):
        counter = grafana.counter_of(target.expr)
        if target.panel != panel or counter is None:
            continue
        exact = grafana.Target(target.dashboard, target.panel, target.ref, _WINDOW.sub(r"\1", target.expr), True)
        shown = {s["metric"].get(by, ""): s["values"][-1] for s in board.evaluate(target, variables)}
        total = {s["metric"].get(by, ""): s["values"][-1] for s in board.evaluate(exact, variables)}
        out[counter] = {key: (total[key], shown.get(key, math.nan)) for key in total}
    return out


def test_celery_exporters_dashboards_show_the_true_totals(fleet: Fleet, observed: Observed) -> None:
    paths = {p.name: p for p in _mixin()}
    board = grafana.Grafana(fleet.prom, fleet.started_at, observed.end)
    prom, expected = fleet.prom, observed.expected
    raw = {c: prom.scalar(f'sum(celery_task_{c}_total{{job="celery"}})') for c in
           ("sent", "received", "succeeded", "failed", "retried", "revoked", "rejected")}
    wrong: list[str] = []

    def check(what: str, rows: dict[str, tuple[float, float]] | None, truth: dict[str, float]) -> None:
        rows = rows or {}
        totals = {k: total for k, (total, _) in rows.items() if total}
        if totals != {k: v for k, v in truth.items() if v}:
            wrong.append(f"{what}: total shown {totals}, truth {truth}")
            return
        # The panel's own increase() over the range: never below the truth (a series created late
        # would be), above it by at most the extrapolation of the last scrape interval.
        for key, (_, shown) in rows.items():
            if not truth.get(key, 0) <= shown <= truth.get(key, 0) + 1:
                wrong.append(f"{what} [{key}]: panel shows {shown}, truth {truth.get(key, 0)}")

    # Raw counter totals equal the API's outcomes
    for counter in ("succeeded", "failed", "retried", "revoked", "rejected"):
        if raw[counter] != sum(expected[counter].values()):
            wrong.append(f"sum(celery_task_{counter}_total): {raw[counter]}, truth {sum(expected[counter].values())}")

    # Overview "Task Stats" (per job, over the dashboard range): one job, every counter
    overview = _totals(board, grafana.load(paths["celery-tasks-overview.json"]), "Task Stats", "job")
    for counter in ("succeeded", "failed", "retried", "revoked", "rejected"):
        check(f"overview Task Stats {counter}", overview.get(counter), {"celery": float(sum(expected[counter].values()))})
    for counter in ("sent", "received"):
        check(f"overview Task Stats {counter}", overview.get(counter), {"celery": raw[counter] or 0.0})

    # By-task "Task Stats [1w]" and the old dashboard's "Task Stats": per task name
    for name, panel in (("celery-tasks-by-task.json", "Task Stats [1w]"), ("celery-tasks.json", "Task Stats")):
        shown = _totals(board, grafana.load(paths[name]), panel, "name")
        for counter in ("succeeded", "failed", "retried", "revoked"):
            check(f"{name} {panel} {counter}", shown.get(counter), {k: float(v) for k, v in expected[counter].items()})

    # Overview stats: workers up and queues
    overview_board = grafana.load(paths["celery-tasks-overview.json"])
    variables = board.variables(overview_board)
    for target in grafana.targets(overview_board):
        if target.panel in ("Workers", "Queues"):
            series = board.evaluate(target, variables)
            last = series[0]["values"][-1] if series else None
            if last != float(len(QUEUES)):
                wrong.append(f"overview {target.panel} (last value): {last}, truth {len(QUEUES)}")
    assert not wrong, "celery-exporter's dashboards disagree with the truth:\n" + "\n".join(wrong)


# -------------------------------------------------------------------------- atomfleet's dashboards


def test_every_panel_of_atomfleets_dashboards_returns_data(fleet: Fleet, observed: Observed) -> None:
    board = grafana.Grafana(fleet.prom, fleet.started_at, observed.end)
    empty = []
    for path in DASHBOARDS:
        empty += _no_data(board, grafana.load(path))
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_atomfleets_dashboards_show_the_true_run_outcomes(fleet: Fleet, observed: Observed) -> None:
    prom = fleet.prom
    statuses = Counter(r["status"] for r in observed.runs.values())
    # Runs submitted and finished runs by outcome, as the atom dashboard counts them
    assert prom.scalar("sum(atomfleet_runs_submitted_total)") == len(observed.runs)
    shown = {s["metric"]["outcome"]: float(s["value"][1])
             for s in prom.query('sum by (outcome) (atomfleet_runs_total{outcome=~"succeeded|failed|retrying"}) > 0')}
    assert shown == {"succeeded": statuses["succeeded"], "failed": statuses["failed"], "retrying": 4.0}


# ----------------------------------------------------------------------------------- alert drills


def test_failure_ratio_alerts_go_pending_under_a_failure_burst(fleet: Fleet, observed: Observed) -> None:
    if not (MIXIN_DIR / "prometheus_alerts.yaml").exists():
        pytest.skip(f"celery-exporter mixin not found at {MIXIN_DIR} (set ATOMFLEET_MIXIN_DIR)")
    states = {name: observed.drills.get(name, set()) for name in ("CeleryTaskHighFailRate", "AtomfleetTaskFailureRatioHigh")}
    assert all("pending" in s for s in states.values()), f"alert states seen during the burst: {states}"


def test_worker_down_alerts_go_pending_when_a_worker_is_paused(fleet: Fleet, observed: Observed) -> None:
    names = ["AtomfleetWorkerDown", "AtomfleetQueueWithoutConsumer"]
    if (MIXIN_DIR / "prometheus_alerts.yaml").exists():
        names.append("CeleryWorkerDown")
    states = {name: observed.drills.get(name, set()) for name in names}
    assert all("pending" in s for s in states.values()), f"alert states seen during the pause: {states}"
    # And the paused worker came back: up again, its runs done (the fixture waited for them)
    assert fleet.prom.scalar(f'celery_worker_up{{hostname="{fleet.workers["io_bound"].hostname}"}}') == 1


def test_every_rule_loaded_and_evaluates(fleet: Fleet, observed: Observed) -> None:
    groups = fleet.prom.api("rules")["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert rules and all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


# ------------------------------------------------------------------------------------------ Flower


def test_flower_shows_failed_runs_as_failure(fleet: Fleet, observed: Observed) -> None:
    failed = {r["celery_task_id"] for r in observed.runs.values() if r["status"] == "failed"}
    succeeded = {r["celery_task_id"] for r in observed.runs.values() if r["status"] == "succeeded"}
    tasks = wait_for(lambda: fleet.flower.api("/api/tasks") or None, 30, "Flower's task list")
    states = {task_id: info.get("state") for task_id, info in tasks.items()}  # type: ignore[union-attr]
    assert {states.get(t) for t in succeeded} == {"SUCCESS"}, states
    assert {t: states.get(t) for t in failed} == {t: "FAILURE" for t in failed}
