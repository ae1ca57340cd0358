"""The throughput bench starts atomfleet the way the chart does: same commands, same settings.

Renders the chart at its defaults (real Helm engine, hack/render.py) and compares with
bench/_fleet.py, so a setting added to the chart's ConfigMap or a changed command line shows up
here instead of silently leaving the bench measuring something else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench._fleet import (
    DIFFERENT_FROM_CHART,
    FLEET_ENV,
    WORKER_CONCURRENCY,
    api_argv,
    beat_argv,
    worker_argv,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hack"))
import render as chart_render  # noqa: E402  (hack/render.py)

FROM_SECRETS = {"ATOMFLEET_SECRET_KEY"}


def _objects() -> list[dict[str, Any]]:
    return chart_render.render_objects(chart_render.load_values([], None))


def _container(objs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    dep = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == name)
    return dep["spec"]["template"]["spec"]["containers"][0]


def _command(argv: list[str]) -> list[str]:
    return [Path(argv[0]).name, *argv[1:]]


def test_bench_env_is_the_chart_configmap_except_what_it_documents() -> None:
    config = next(o for o in _objects() if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "atomfleet-config")
    data: dict[str, str] = config["data"]
    differing = {k: (FLEET_ENV.get(k), v) for k, v in data.items() if FLEET_ENV.get(k) != v and k not in DIFFERENT_FROM_CHART}
    assert differing == {}, "bench/_fleet.py FLEET_ENV differs from the chart's ConfigMap (bench value, chart value)"
    unknown = {k for k in FLEET_ENV if k.startswith("ATOMFLEET_") and k not in data and k not in FROM_SECRETS | set(DIFFERENT_FROM_CHART)}
    assert unknown == set(), "FLEET_ENV sets ATOMFLEET_ variables the chart does not"


def test_bench_commands_are_the_charts() -> None:
    objs = _objects()
    api, beat = _container(objs, "atomfleet-api"), _container(objs, "atomfleet-beat")
    assert _command(api_argv()) == api["command"] + api["args"]
    chart_beat = [a for a in beat["args"] if not a.startswith("--schedule=")]
    assert [a for a in _command(beat_argv(Path("s")))[1:] if not a.startswith("--schedule=")] == chart_beat
    chart_worker = _container(objs, "atomfleet-worker-default")["args"]
    expected = [a if not a.startswith("--concurrency=") else f"--concurrency={WORKER_CONCURRENCY}" for a in chart_worker]
    expected = [a.replace("$(POD_NAME)", "bench") for a in expected]
    assert _command(worker_argv("default", "default@bench")) == ["celery", *expected]
