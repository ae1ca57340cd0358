"""Handles on an installed atomfleet release, found through the Kubernetes API.

Objects are found by the chart's standard labels (`app.kubernetes.io/instance=<release>`), and
worker Deployments by their container command (`celery ... worker --queues=<queue>`), so the tests
do not depend on resource names.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client
from kubernetes.stream import stream

CHART = Path(__file__).resolve().parents[2] / "charts" / "atomfleet"
TERMINAL = ("succeeded", "failed", "cancelled")
WAITING = ("queued", "retrying")

# One atom per queue, with arguments (io_bound's file is uploaded first, see FleetApi.submit_for).
ATOM_FOR_QUEUE = {
    "default": ("text.stats", {"text": "the fleet runs the fleet on kubernetes"}),
    "io_bound": ("data.validate_csv", {"columns": [{"name": "id", "type": "integer"}]}),
    "ml_training": ("forecast.autoregressive", {"series": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "order": 2, "horizon": 3}),
}


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last})" if last else ""))


def _command(deploy: client.V1Deployment) -> list[str]:
    c = deploy.spec.template.spec.containers[0]
    return [*(c.command or []), *(c.args or [])]


def queue_of(deploy: client.V1Deployment) -> str | None:
    cmd = _command(deploy)
    if "worker" not in cmd:
        return None
    for i, part in enumerate(cmd):
        if m := re.fullmatch(r"(?:--queues|-Q)=(.+)", part):
            return m.group(1)
        if part in ("--queues", "-Q") and i + 1 < len(cmd):
            return cmd[i + 1]
    return None


@dataclass
class Release:
    name: str
    namespace: str
    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi
    autoscaling: client.AutoscalingV2Api

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.name}"

    def deployments(self) -> list[client.V1Deployment]:
        return self.apps.list_namespaced_deployment(self.namespace, label_selector=self.selector).items

    def workers(self) -> dict[str, client.V1Deployment]:
        """Worker Deployments by queue name."""
        return {q: d for d in self.deployments() if (q := queue_of(d))}

    def api_deployment(self) -> client.V1Deployment:
        for d in self.deployments():
            if _command(d)[:2] == ["atomfleet", "api"] or d.metadata.labels.get("app.kubernetes.io/component") == "api":
                return d
        raise AssertionError(f"no API Deployment in release {self.name}")

    def pods_of(self, deploy: client.V1Deployment) -> list[client.V1Pod]:
        labels = deploy.spec.selector.match_labels
        sel = ",".join(f"{k}={v}" for k, v in labels.items())
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=sel).items
        return [p for p in pods if p.metadata.deletion_timestamp is None]

    def ready_pods_of(self, deploy: client.V1Deployment) -> list[client.V1Pod]:
        return [p for p in self.pods_of(deploy) if is_ready(p)]

    def api_service(self) -> client.V1Service:
        labels = self.api_deployment().spec.template.metadata.labels
        for svc in self.core.list_namespaced_service(self.namespace, label_selector=self.selector).items:
            sel = svc.spec.selector or {}
            if sel and all(labels.get(k) == v for k, v in sel.items()):
                return svc
        raise AssertionError("no Service selects the API pods")

    def autoscaled_deployments(self) -> dict[str, str]:
        """Deployment name -> 'keda' or 'hpa', for every Deployment an autoscaler owns."""
        owned: dict[str, str] = {}
        with contextlib.suppress(client.ApiException):
            for so in self.custom.list_namespaced_custom_object("keda.sh", "v1alpha1", self.namespace, "scaledobjects")["items"]:
                owned[so["spec"]["scaleTargetRef"]["name"]] = "keda"
        for hpa in self.autoscaling.list_namespaced_horizontal_pod_autoscaler(self.namespace).items:
            if hpa.spec.scale_target_ref.kind == "Deployment":
                owned.setdefault(hpa.spec.scale_target_ref.name, "hpa")
        return owned

    def scaled_object_for(self, deploy_name: str) -> dict[str, Any] | None:
        try:
            items = self.custom.list_namespaced_custom_object("keda.sh", "v1alpha1", self.namespace, "scaledobjects")["items"]
        except client.ApiException:
            return None
        return next((so for so in items if so["spec"]["scaleTargetRef"]["name"] == deploy_name), None)

    def scale(self, deploy_name: str, replicas: int) -> None:
        self.apps.patch_namespaced_deployment_scale(deploy_name, self.namespace, {"spec": {"replicas": replicas}})

    def exec(self, pod: str, command: list[str], container: str | None = None, timeout: int = 120) -> tuple[int, str, str]:
        kwargs = {"container": container} if container else {}
        resp = stream(
            self.core.connect_get_namespaced_pod_exec, pod, self.namespace, command=command,
            stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False, **kwargs,
        )
        resp.run_forever(timeout=timeout)
        out, err = resp.read_stdout() or "", resp.read_stderr() or ""
        rc = resp.returncode
        resp.close()
        return (rc if rc is not None else -1), out, err


def is_ready(pod: client.V1Pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])
    )


class FleetApi:
    """The atomfleet HTTP API reached through `kubectl port-forward` to the API Service."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self._csv_key: str | None = None

    def submit(self, atom: str, args: dict[str, Any]) -> str:
        response = self.http.post(f"/api/v1/atoms/{atom}/runs", json={"args": args})
        assert response.status_code in (200, 202), response.text
        return str(response.json()["id"])

    def csv_key(self, rows: int = 3) -> str:
        body = "id\n" + "".join(f"{i}\n" for i in range(rows))
        response = self.http.post("/api/v1/files", files={"file": ("e2e.csv", body.encode())})
        response.raise_for_status()
        return str(response.json()["key"])

    def submit_for(self, queue: str, **overrides: Any) -> str:
        atom, args = ATOM_FOR_QUEUE[queue]
        args = {**args, **overrides}
        if atom == "data.validate_csv" and "file" not in args:
            self._csv_key = self._csv_key or self.csv_key()
            args["file"] = self._csv_key
        return self.submit(atom, args)

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/runs/{run_id}")
        response.raise_for_status()
        return dict(response.json())

    def status(self, run_id: str) -> str:
        return str(self.run(run_id)["status"])

    def wait(self, run_id: str, timeout: float) -> dict[str, Any]:
        return dict(wait_for(lambda: (r := self.run(run_id))["status"] in TERMINAL and r, timeout, f"run {run_id} to finish"))


@contextlib.contextmanager
def port_forward(release: Release, service: str, port: int) -> Iterator[str]:
    """`kubectl port-forward svc/<service> :<port>`; yields the local base URL.

    kubectl prints a line per connection ("Handling connection for ..."): its output is read to the
    end by a thread, or the pipe fills (~64 KiB, some 2,000 connections) and kubectl blocks."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed for the port-forward to the API Service (make kind-tools)"
    proc = subprocess.Popen(
        [kubectl, "port-forward", "--namespace", release.namespace, f"svc/{service}", f":{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert m, f"kubectl port-forward said: {line}"
        threading.Thread(target=_drain, args=(proc.stdout,), name="port-forward-output", daemon=True).start()
        yield f"http://127.0.0.1:{m.group(1)}"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def issue_token(release: Release) -> str:
    """A fresh tenant and API token, made with the management commands inside an API pod."""
    pod = release.ready_pods_of(release.api_deployment())[0].metadata.name
    tenant = f"e2e-{uuid.uuid4().hex[:8]}"
    rc, out, err = release.exec(pod, ["atomfleet", "manage", "create_tenant", tenant])
    assert rc == 0, f"create_tenant: {out}{err}"
    rc, out, err = release.exec(pod, ["atomfleet", "manage", "create_token", tenant, "e2e"])
    assert rc == 0, f"create_token: {out}{err}"
    return out.strip().splitlines()[-1]
