"""A kubelet stand-in on Docker: runs a rendered Pod template as a container, as Kubernetes would.

- The container: the rendered image, `command` as entrypoint and `args` after it, both with
  Kubernetes `$(VAR)` expansion; env resolved from ConfigMaps (envFrom), Secrets (secretKeyRef),
  the downward API (metadata.name) and literal values, in order.
- Its securityContext (container over pod): user and group, read-only root filesystem, dropped
  capabilities, no privilege escalation, fsGroup as a supplementary group; memory and CPU limits.
- Its volumes: emptyDir as tmpfs, Secret and ConfigMap volumes as read-only files (items, modes,
  group fsGroup).
- Its probes, as the kubelet runs them: httpGet to `<pod IP>:<port><path>` (so the Host header is
  the pod IP and port), tcpSocket to the pod IP, exec inside the container; within the budget the
  probe's timing gives (initialDelaySeconds + periodSeconds x failureThreshold).

One Docker network stands for the namespace; Service names are network aliases of the pods they
select.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.container.conftest import docker

__all__ = ["DockerPod", "Namespace", "ProbeFailed"]


class ProbeFailed(AssertionError):
    pass


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: defined variables are replaced, `$$` escapes, others stay."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


def _bytes(quantity: str | int) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}
    text = str(quantity)
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(float(text))


def _cpus(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


@dataclass
class Namespace:
    """A Docker network, the Secrets and ConfigMaps of a rendered release (plus pre-existing ones)."""

    objs: list[dict[str, Any]]
    workdir: Path
    existing_secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"af-rh-{uuid.uuid4().hex[:8]}")
    pods: list[DockerPod] = field(default_factory=list)

    @property
    def network(self) -> str:
        return self.prefix

    def create(self) -> Namespace:
        docker("network", "create", self.network)
        return self

    def gateway(self) -> str:
        """The host's address on the network (where host processes are reachable from pods)."""
        return docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", self.network).stdout.strip()

    def secret(self, name: str) -> dict[str, bytes]:
        if name in self.existing_secrets:
            return {k: v.encode() for k, v in self.existing_secrets[name].items()}
        found = [o for o in self.objs if o["kind"] == "Secret" and o["metadata"]["name"] == name]
        assert found, f"Secret {name} is neither rendered nor created beforehand"
        return {k: base64.b64decode(v) for k, v in (found[0].get("data") or {}).items()}

    def configmap(self, name: str) -> dict[str, str]:
        found = [o for o in self.objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name]
        assert found, f"ConfigMap {name} is not rendered"
        return dict(found[0]["data"])

    def run(self, obj: dict[str, Any], *, aliases: tuple[str, ...] = (), extra_env: dict[str, str] | None = None,
            detach: bool = True) -> DockerPod:
        pod = DockerPod(self, obj, aliases=aliases, extra_env=extra_env or {})
        self.pods.append(pod)
        pod.start(detach=detach)
        return pod

    def logs(self) -> str:
        return "\n".join(p.describe() for p in self.pods)

    def delete(self) -> None:
        names = [p.container for p in self.pods if p.started]
        if names:
            docker("rm", "-f", "-v", *names, check=False)
        docker("network", "rm", self.network, check=False)


class DockerPod:
    def __init__(self, ns: Namespace, obj: dict[str, Any], *, aliases: tuple[str, ...], extra_env: dict[str, str]) -> None:
        self.ns, self.obj = ns, obj
        self.spec: dict[str, Any] = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
        (self.c,) = self.spec["containers"]  # the chart's pods have one container each
        self.name = f"{obj['metadata']['name']}-rh{uuid.uuid4().hex[:5]}"  # the pod name (downward API)
        self.container = f"{ns.prefix}-{obj['metadata']['name']}"
        self.aliases, self.extra_env = aliases, extra_env
        self.started = False
        self.env: dict[str, str] = {}
        self.ip = ""

    # ------------------------------------------------------------------ kubelet-like resolution
    def _resolve_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for src in self.c.get("envFrom", []):
            if "configMapRef" in src:
                env.update(self.ns.configmap(src["configMapRef"]["name"]))
            if "secretRef" in src:
                env.update({k: v.decode() for k, v in self.ns.secret(src["secretRef"]["name"]).items()})
        for e in self.c.get("env", []):
            if "value" in e:
                env[e["name"]] = expand(e["value"], env)
                continue
            ref = e["valueFrom"]
            if "secretKeyRef" in ref:
                env[e["name"]] = self.ns.secret(ref["secretKeyRef"]["name"])[ref["secretKeyRef"]["key"]].decode()
            elif "configMapKeyRef" in ref:
                env[e["name"]] = self.ns.configmap(ref["configMapKeyRef"]["name"])[ref["configMapKeyRef"]["key"]]
            elif ref.get("fieldRef", {}).get("fieldPath") == "metadata.name":
                env[e["name"]] = self.name
            else:
                raise AssertionError(f"{self.container}: cannot resolve env {e}")
        env.update(self.extra_env)
        return env

    def _security_flags(self) -> list[str]:
        psc, sc = self.spec.get("securityContext", {}), self.c.get("securityContext", {})
        user, group = sc.get("runAsUser", psc.get("runAsUser")), sc.get("runAsGroup", psc.get("runAsGroup"))
        assert user not in (None, 0) or not sc.get("runAsNonRoot", psc.get("runAsNonRoot")), "runAsNonRoot with uid 0"
        flags: list[str] = []
        if user is not None:
            flags += ["--user", f"{user}:{group if group is not None else user}"]
        if psc.get("fsGroup") is not None:
            flags += ["--group-add", str(psc["fsGroup"])]
        if sc.get("readOnlyRootFilesystem"):
            flags.append("--read-only")
        for cap in sc.get("capabilities", {}).get("drop", []):
            flags += ["--cap-drop", cap]
        for cap in sc.get("capabilities", {}).get("add", []):
            flags += ["--cap-add", cap]
        if sc.get("allowPrivilegeEscalation") is False:
            flags += ["--security-opt", "no-new-privileges"]
        assert not sc.get("privileged"), f"{self.container} asks to be privileged"
        limits = self.c.get("resources", {}).get("limits", {})
        if "memory" in limits:
            flags += ["--memory", str(_bytes(limits["memory"]))]
        if "cpu" in limits:  # capped at this machine's CPUs (a node this small would not schedule more)
            flags += ["--cpus", f"{min(_cpus(limits['cpu']), float(os.cpu_count() or 1)):g}"]
        return flags

    def _volume_flags(self) -> list[str]:
        volumes = {v["name"]: v for v in self.spec.get("volumes", [])}
        fs_group = self.spec.get("securityContext", {}).get("fsGroup")
        flags: list[str] = []
        for mount in self.c.get("volumeMounts", []):
            vol = volumes[mount["name"]]
            path = mount["mountPath"]
            if "emptyDir" in vol:
                size = vol["emptyDir"].get("sizeLimit", "512Mi")
                flags += ["--tmpfs", f"{path}:rw,nosuid,nodev,size={_bytes(size)},mode=1777"]
                continue
            if "secret" in vol:
                src = vol["secret"]
                data = self.ns.secret(src["secretName"])
            elif "configMap" in vol:
                src = vol["configMap"]
                data = {k: v.encode() for k, v in self.ns.configmap(src["name"]).items()}
            else:
                raise AssertionError(f"{self.container}: volume {vol} has no stand-in here")
            folder = self.ns.workdir / self.container / mount["name"]
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o755)
            items = src.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                target = folder / item["path"]
                target.write_bytes(data[item["key"]])
                mode = item.get("mode", src.get("defaultMode", 0o644))
                # Kubernetes: owned by root, group fsGroup; without root here, readable by all.
                try:
                    os.chown(target, 0, fs_group if fs_group is not None else 0)
                except PermissionError:
                    mode |= 0o444
                target.chmod(mode)
            flags += ["-v", f"{folder}:{path}:ro"]
        return flags

    # ------------------------------------------------------------------ life cycle
    def start(self, *, detach: bool = True) -> None:
        self.env = self._resolve_env()
        command = [expand(a, self.env) for a in self.c.get("command", [])]
        args = [expand(a, self.env) for a in self.c.get("args", [])]
        flags = ["--name", self.container, "--network", self.ns.network, "--hostname", self.name[:63]]
        for alias in self.aliases:
            flags += ["--network-alias", alias]
        flags += self._security_flags() + self._volume_flags()
        for key, value in self.env.items():
            flags += ["-e", f"{key}={value}"]
        if command:
            flags += ["--entrypoint", command[0]]
        docker("run", "-d", *flags, self.c["image"], *command[1:], *args)
        self.started = True
        self.ip = docker("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{self.ns.network}\").IPAddress}}}}",
                         self.container).stdout.strip()

    def state(self) -> tuple[str, int]:
        out = docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", self.container).stdout.split()
        return out[0], int(out[1])

    def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, code = self.state()
            if status == "exited":
                return code
            time.sleep(1)
        raise AssertionError(f"{self.container} still running after {timeout:.0f}s:\n{self.describe()}")

    def logs(self, tail: int = 80) -> str:
        proc = docker("logs", "--tail", str(tail), self.container, check=False)
        return proc.stdout + proc.stderr

    def describe(self) -> str:
        status = " ".join(map(str, self.state())) if self.started else "not started"
        return f"===== {self.container} ({status})\n{self.logs()[-4000:]}"

    # ------------------------------------------------------------------ probes
    def port(self, ref: int | str) -> int:
        if isinstance(ref, int):
            return ref
        return next(int(p["containerPort"]) for p in self.c.get("ports", []) if p["name"] == ref)

    def probe_once(self, kind: str) -> bool:
        probe = self.c[f"{kind}Probe"]
        timeout = float(probe.get("timeoutSeconds", 1))
        if "httpGet" in probe:
            get = probe["httpGet"]
            url = f"http://{self.ip}:{self.port(get['port'])}{get.get('path', '/')}"
            with contextlib.suppress(httpx.HTTPError):
                # httpx sends Host: <pod IP>:<port>, exactly what the kubelet sends.
                return 200 <= httpx.get(url, timeout=timeout).status_code < 400
            return False
        if "tcpSocket" in probe:
            with contextlib.suppress(OSError), socket.create_connection((self.ip, self.port(probe["tcpSocket"]["port"])), timeout=timeout):
                return True
            return False
        if "exec" in probe:
            return docker("exec", self.container, *probe["exec"]["command"], check=False, timeout=timeout + 30).returncode == 0
        raise AssertionError(f"{self.container}: unknown probe {probe}")

    def wait_probe(self, kind: str, minimum_budget: float = 0) -> float:
        """Seconds until the probe first passed; fails past the probe's own budget."""
        probe = self.c[f"{kind}Probe"]
        budget = probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
        started = time.monotonic()
        deadline = started + max(budget, minimum_budget)
        while True:
            status, _ = self.state()
            if status != "running":
                raise ProbeFailed(f"{self.container} exited while waiting for its {kind} probe:\n{self.describe()}")
            if self.probe_once(kind):
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise ProbeFailed(f"{self.container}: {kind} probe still failing after {budget:.0f}s:\n{self.describe()}")
            time.sleep(1)
