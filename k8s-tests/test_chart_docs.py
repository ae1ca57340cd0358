"""Every value is documented where it is declared, the README values table is generated from those
comments and up to date, and the docs the issue asks for exist."""

from __future__ import annotations

import re

import yaml
from chartlib import ROOT, chart_render

VALUES_YAML = chart_render.CHART / "values.yaml"


def leaf_paths(node, prefix=""):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from leaf_paths(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix


def test_every_value_is_documented_with_a_param_line() -> None:
    params = set(re.findall(r"^\s*## @param (\S+)", VALUES_YAML.read_text(), re.M))
    defaults = yaml.safe_load(VALUES_YAML.read_text())
    # workers.queues entries are documented by workers.defaults.* (same keys)
    undocumented = [
        p for p in leaf_paths(defaults)
        if not p.startswith("workers.queues.")
        and not any(p == q or p.startswith(q + ".") for q in params)
    ]
    assert undocumented == []
    unknown = [p for p in params if not any(lp == p or lp.startswith(p + ".") for lp in leaf_paths(defaults))]
    assert unknown == []


def test_readme_values_table_is_up_to_date() -> None:
    readme = chart_render.README.read_text()
    assert readme == chart_render.readme_with_table(readme), "run `make chart-readme`"
    assert "`workers.defaults.autoscaling.mode`" in readme


def test_scaling_and_security_docs_exist() -> None:
    scaling = (ROOT / "docs" / "scaling.md").read_text()
    for word in ("keda", "hpa", "kubectl scale", "atomfleet_queue_backlog", "atomfleet_worker_busy_slots", "stabilization"):
        assert word in scaling.lower() or word in scaling
    security = (ROOT / "docs" / "security.md").read_text()
    for word in ("readOnlyRootFilesystem", "NetworkPolicy", "10001", "seccomp"):
        assert word in security
