"""Small queries over rendered objects, shared by the chart tests (k8s-tests/)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hack"))

import render as chart_render  # noqa: E402  (hack/render.py, the project render command)

RENDER = [sys.executable, str(ROOT / "hack" / "render.py")]
VALUES_FILES = [p.name for p in chart_render.values_files()]
# Scenario values files of k8s-tests/scenarios/ (named relative to the repository root).
SCENARIO_FILES = [str(p.relative_to(ROOT)) for p in chart_render.scenario_files()]
# Secret keys the chart fills with random values (kept with `lookup` on a cluster): they differ
# between any two renders without a cluster, so comparisons of renders mask them.
GENERATED_SECRET_KEYS = frozenset({"secret-key", "redis-password", "postgres-password", "root-password",
                                   "basic-auth", "token"})
# CI runs with shared/ beside the clone.
CRD_DIR = ROOT.parent / "shared" / "crds"


def render(files: list[str] | None = None, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Objects of `hack/render.py -f values/<file>... ` plus `values` (merged last)."""
    paths = [ROOT / f if "/" in f else ROOT / "values" / f for f in files or []]
    return chart_render.render_objects(chart_render.load_values(paths, values))


def comparable(objs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Objects by (kind, namespace, name), generated Secret values masked: two renders of the same
    values must be equal in this form."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for obj in objs:
        meta = obj["metadata"]
        key = (obj["kind"], meta.get("namespace", ""), meta["name"])
        assert key not in out, f"rendered twice: {key}"
        if obj["kind"] == "Secret":
            obj = {**obj, "data": {k: "<generated>" if k in GENERATED_SECRET_KEYS else v
                                   for k, v in (obj.get("data") or {}).items()}}
        out[key] = obj
    return out


# ------------------------------------------------------------------ small object queries
def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(objs, kind, name)
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found; have {[(o['kind'], o['metadata']['name']) for o in objs]}"
    return found[0]


def container(obj: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    containers = pod_spec(obj)["containers"]
    return containers[0] if name is None else next(c for c in containers if c["name"] == name)


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    """name -> value, or the valueFrom dict."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def by_component(objs: list[dict[str, Any]], component: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component]


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "Pod")  # Pods: the `helm test` hooks


def uninstall_leftovers(manifest: list[dict[str, Any]], hooks: list[dict[str, Any]]) -> dict[str, list[str]]:
    """What `helm uninstall` leaves of a release: objects annotated `helm.sh/resource-policy: keep`,
    and hooks that no delete policy removes once they succeeded (Helm never uninstalls hooks).
    PVCs of volumeClaimTemplates are not in either list: Helm never owned them. {kind: [names]}"""
    out: dict[str, list[str]] = {}
    for obj in manifest:
        if (obj["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep":
            out.setdefault(obj["kind"], []).append(obj["metadata"]["name"])
    for obj in hooks:
        policy = (obj["metadata"].get("annotations") or {}).get("helm.sh/hook-delete-policy", "before-hook-creation")
        if "hook-succeeded" not in policy:
            out.setdefault(obj["kind"], []).append(obj["metadata"]["name"])
    return {k: sorted(v) for k, v in out.items()}


def is_hook(obj: dict[str, Any]) -> bool:
    return "helm.sh/hook" in (obj["metadata"].get("annotations") or {})
