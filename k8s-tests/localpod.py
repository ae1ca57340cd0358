"""Run a rendered container as a local process: the kubelet's env resolution (ConfigMap, Secret,
downward API, `$(VAR)` expansion), a private folder for the pod's `/tmp` emptyDir, and its own ports.
Shared by the chart <-> code and scaling-query tests."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chartlib import one

BIN = Path(sys.executable).parent


def missing_modules(*modules: str) -> list[str]:
    """The modules that cannot be imported (a folder of stale bytecode does not count)."""
    import importlib.util

    missing = []
    for name in modules:
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is None or spec.origin is None:
            missing.append(name)
    return missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ kubelet-like resolution
def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: defined variables are replaced, `$$` escapes, others stay."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


def resolve_env(c: dict[str, Any], objs: list[dict[str, Any]], pod_name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for src in c.get("envFrom", []):
        env.update(one(objs, "ConfigMap", src["configMapRef"]["name"])["data"])
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = _expand(e["value"], env)
        elif "secretKeyRef" in e["valueFrom"]:
            ref = e["valueFrom"]["secretKeyRef"]
            secret = one(objs, "Secret", ref["name"])
            env[e["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        elif "fieldRef" in e["valueFrom"]:
            assert e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            env[e["name"]] = pod_name
        else:
            raise AssertionError(f"unresolvable env {e}")
    return env


class Pod:
    """One rendered container started as a local process."""

    def __init__(self, name: str, c: dict[str, Any], objs: list[dict[str, Any]], tmp: Path, **overrides: str) -> None:
        self.name = name
        self.tmp = tmp / name
        self.tmp.mkdir(parents=True)
        self.container = c
        env = resolve_env(c, objs, pod_name=f"{name}-7d9f8-abcde")
        # /tmp is the pod's own emptyDir
        env = {k: v.replace("/tmp", str(self.tmp)) if v.startswith("/tmp") else v for k, v in env.items()}
        env.update(overrides)
        self.env = {"PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1", **env}
        self.argv = [_expand(a, self.env).replace("/tmp/", f"{self.tmp}/") for a in c.get("command", []) + c.get("args", [])]
        self.log = (tmp / f"{name}.log").open("wb")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Pod:
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.tmp, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def run(self, timeout: float = 180) -> int:
        return subprocess.run(self.argv, env=self.env, cwd=self.tmp, stdout=self.log, stderr=subprocess.STDOUT, timeout=timeout).returncode

    def probe(self, kind: str) -> int:
        command = self.container[f"{kind}Probe"]["exec"]["command"]
        return subprocess.run(command, env=self.env, cwd=self.tmp, capture_output=True, timeout=30).returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.tmp.parent / f"{self.name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # what the kubelet sends
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode if self.proc else None


def wait_until(predicate, timeout: float, what: str, pods: list[Pod]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for p in pods:
            assert p.alive(), f"{p.name} exited while waiting for {what}:\n{p.logs()}"
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}:\n" + "\n".join(f"--- {p.name}\n{p.logs()}" for p in pods))
