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
# CI runs with shared/ beside the clone.
CRD_DIR = ROOT.parent / "shared" / "crds"


def render(files: list[str] | None = None, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Objects of `hack/render.py -f values/<file>... ` plus `values` (merged last)."""
    paths = [ROOT / "values" / f for f in files or []]
    return chart_render.render_objects(chart_render.load_values(paths, values))


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
    return obj["spec"]["template"]["spec"]


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    """name -> value, or the valueFrom dict."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def by_component(objs: list[dict[str, Any]], component: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component]


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
