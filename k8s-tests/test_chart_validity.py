"""Every rendered object of the defaults, of every values/ file, of every k8s-tests/scenarios/ file and
of an "everything on" scenario validates strictly against the Kubernetes schemas of 1.29 to 1.35
(the chart's kubeVersion floor to the pinned kind node; unknown fields are errors), and
KEDA / prometheus-operator objects against their CRD schemas in ../shared/crds/."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from chartlib import CRD_DIR, SCENARIO_FILES, VALUES_FILES, chart_render, render

K8S_VERSIONS = ["1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35"]
CRD_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring.coreos.com_podmonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
}

# Everything optional switched on, on top of production.yaml.
EVERYTHING = {
    "flower": {"enabled": True},
    "workers": {
        "queues": {
            "reports": {"concurrency": 2, "autoscaling": {"mode": "hpa"}},
            "io_bound": {"timeLimit": 280, "softTimeLimit": 250, "maxTasksPerChild": 100},
        }
    },
}
SAMPLE_ALERTS = {
    "groups": [
        {
            "name": "atomfleet.sample",
            "rules": [{"alert": "AtomfleetSample", "expr": "vector(1) > 2", "for": "5m", "labels": {"severity": "warning"}}],
        }
    ]
}


def scenarios() -> list[tuple[str, list[str], dict[str, Any]]]:
    out: list[tuple[str, list[str], dict[str, Any]]] = [("defaults", [], {})]
    out += [(f, [f], {}) for f in VALUES_FILES + SCENARIO_FILES]
    out.append(("everything", ["production.yaml"], EVERYTHING))
    out.append(("everything-dev", ["kind.yaml"], {"monitoring": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}},
                                                  "workers": {"defaults": {"autoscaling": {"mode": "keda"}}}}))
    return out


SCENARIOS = scenarios()


@cache
def objects(label: str) -> list[dict[str, Any]]:
    _, files, values = next(s for s in SCENARIOS if s[0] == label)
    return render(files, values)


def test_every_scenario_renders_a_complete_fleet() -> None:
    for label, *_ in SCENARIOS:
        kinds = {o["kind"] for o in objects(label)}
        assert {"Deployment", "ConfigMap", "Service", "Job"} <= kinds, label


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("label", [s[0] for s in SCENARIOS])
def test_builtin_objects_validate_strictly(label: str, version: str) -> None:
    errors = []
    for obj in objects(label):
        if (obj["apiVersion"], obj["kind"]) in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not errors, "\n".join(errors)


def _strict(schema: Any) -> Any:
    """The API server prunes unknown fields of structural schemas: make them validation errors."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load((CRD_DIR / CRD_KINDS[(api_version, kind)]).read_text())
    version = api_version.split("/")[1]
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"]
    schema = _strict(schema)
    # metadata is validated by the API server's ObjectMeta, not the CRD schema
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


@pytest.mark.parametrize("label", [s[0] for s in SCENARIOS])
def test_custom_resources_validate_against_crds(label: str) -> None:
    if not CRD_DIR.is_dir():
        pytest.skip(f"CRD schemas not found at {CRD_DIR} (CI puts shared/ beside the clone)")
    errors = []
    for obj in objects(label):
        key = (obj["apiVersion"], obj["kind"])
        if key not in CRD_KINDS:
            continue
        for err in crd_validator(*key).iter_errors(obj):
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, err.path))}: {err.message}")
    assert not errors, "\n".join(errors)


def test_prometheus_rule_from_alert_file_validates(tmp_path: Path) -> None:
    """files/alerts/atomfleet-alerts.yaml (the observability issue's) becomes a valid PrometheusRule."""
    if not CRD_DIR.is_dir():
        pytest.skip(f"CRD schemas not found at {CRD_DIR} (CI puts shared/ beside the clone)")
    chart = tmp_path / "atomfleet"
    shutil.copytree(chart_render.CHART, chart)
    alerts = chart / "files" / "alerts" / "atomfleet-alerts.yaml"
    if not alerts.exists() or not alerts.read_text().strip():
        alerts.write_text(yaml.safe_dump(SAMPLE_ALERTS))
    text = chart_render.manifest_text(
        chart_render.render_templates(chart_render.load_values([chart_render.VALUES_DIR / "production.yaml"]), chart=chart)
    )
    rules = [o for o in yaml.safe_load_all(text) if o and o["kind"] == "PrometheusRule"]
    assert len(rules) == 1
    assert rules[0]["spec"]["groups"] == yaml.safe_load(alerts.read_text())["groups"]
    assert rules[0]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    errors = [e.message for e in crd_validator("monitoring.coreos.com/v1", "PrometheusRule").iter_errors(rules[0])]
    assert not errors


def test_the_validators_reject_unknown_fields() -> None:
    """Guard against a silently permissive validator."""
    deployment = next(o for o in objects("defaults") if o["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.29", strict=True)
    if CRD_DIR.is_dir():
        scaled = next(o for o in objects("production.yaml") if o["kind"] == "ScaledObject")
        broken = yaml.safe_load(yaml.safe_dump(scaled))
        broken["spec"]["fallback"]["replica"] = 1
        assert list(crd_validator("keda.sh/v1alpha1", "ScaledObject").iter_errors(broken))
