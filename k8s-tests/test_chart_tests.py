"""`helm test`: hook Pods of the chart's own image — one registering the tests' token, one per queue
with a test atom — with the token from a Secret; rendered only when tests.enabled. (The Pods run
for real in test_chart_code.py, and in Docker in tests/container/test_production_rehearsal.py.)"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from chartlib import SCENARIO_FILES, container, env_of, find, one, pod_spec, render

HOOK_PODS = ["atomfleet-test-token", "atomfleet-test-default", "atomfleet-test-io-bound", "atomfleet-test-ml-training"]


def test_one_registration_pod_then_one_pod_per_queue_as_test_hooks() -> None:
    objs = render()
    pods = find(objs, "Pod")
    assert sorted(p["metadata"]["name"] for p in pods) == sorted(HOOK_PODS)
    for pod in pods:
        ann = pod["metadata"]["annotations"]
        assert ann["helm.sh/hook"] == "test"
        assert ann["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
        assert pod["spec"]["restartPolicy"] == "Never"
        assert container(pod)["image"] == "atomfleet:0.1.0"  # the chart's own image
        assert env_of(container(pod))["ATOMFLEET_TOKEN"]["secretKeyRef"] == {"name": "atomfleet-test", "key": "token"}
        assert not any("af_" in a for a in container(pod).get("args", []))
    weights = {p["metadata"]["name"]: int(p["metadata"]["annotations"]["helm.sh/hook-weight"]) for p in pods}
    assert weights["atomfleet-test-token"] < min(w for n, w in weights.items() if n != "atomfleet-test-token")


def test_the_token_secret_is_generated_and_registered_by_the_first_pod() -> None:
    objs = render()
    token = base64.b64decode(one(objs, "Secret", "atomfleet-test")["data"]["token"]).decode()
    assert token.startswith("af_") and len(token) > 40
    c = container(one(objs, "Pod", "atomfleet-test-token"))
    assert c["args"] == ["manage", "ensure_token", "helm-test", "helm-test", "--token-env", "ATOMFLEET_TOKEN"]
    assert "DATABASE_URL" in env_of(c)


def test_each_queue_pod_submits_its_atom_through_the_api_service() -> None:
    objs = render()
    api = one(objs, "Service", "atomfleet-api")
    c = container(one(objs, "Pod", "atomfleet-test-io-bound"))
    assert c["command"] == ["python3", "-m", "atomfleet_orchestrator.cli.selftest"]
    args = dict(a.split("=", 1) for a in c["args"])
    assert args["--url"] == f"http://{api['metadata']['name']}:{api['spec']['ports'][0]['port']}"
    assert args["--queue"] == "io_bound" and args["--atom"] == "data.validate_csv"
    assert json.loads(args["--args"]) == {"columns": [{"name": "id", "type": "integer"}]}
    assert args["--file"] == "file=id\n1\n2\n3\n"
    assert args["--timeout"] == "600"
    # No database or broker credentials: only the API, with the token.
    assert set(env_of(c)) == {"ATOMFLEET_TOKEN", "HOME"}


def test_queues_without_a_test_atom_get_no_pod_and_tests_can_be_off() -> None:
    objs = render([SCENARIO_FILES[0]])
    assert not find(objs, "Pod", "atomfleet-test-reports")
    assert one(objs, "Pod", "atomfleet-test-default")
    custom = render([], {"workers": {"queues": {"reports": {"test": {"atom": "text.stats", "args": {"text": "x"}}}}}})
    assert one(custom, "Pod", "atomfleet-test-reports")
    off = render([], {"tests": {"enabled": False}})
    assert not find(off, "Pod") and not find(off, "Secret", "atomfleet-test")


def test_test_pods_run_as_locked_down_as_the_fleet() -> None:
    for pod in find(render(["production.yaml"]), "Pod"):
        spec = pod_spec(pod)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert container(pod)["securityContext"]["readOnlyRootFilesystem"] is True


def test_bad_test_values_are_rejected(render_error) -> None:
    assert "/tests/tenant" in render_error({"tests": {"tenant": "Helm Test"}})
    assert "/workers/queues/default/test/atom" in render_error({"workers": {"queues": {"default": {"test": {"atom": "Not An Atom"}}}}})


def test_what_helm_uninstall_leaves_is_what_the_operations_guide_says() -> None:
    """Hook objects are never uninstalled: every hook of this chart deletes itself once it succeeded;
    the only kept object is the in-chart PostgreSQL's password Secret (docs/operations.md)."""
    from chartlib import is_hook, uninstall_leftovers

    for files, kept in ((["kind.yaml"], {"Secret": ["atomfleet-postgresql"]}), (["production.yaml"], {}), ([], {})):
        objs = render(files)
        assert uninstall_leftovers([o for o in objs if not is_hook(o)], [o for o in objs if is_hook(o)]) == kept, files
    docs = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text()
    assert "helm.sh/resource-policy: keep" in docs and "hook" in docs
