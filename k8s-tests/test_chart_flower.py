"""Flower: optional, behind basic auth from a Secret."""

from __future__ import annotations

import base64

from chartlib import container, env_of, find, one, render


def test_flower_is_off_by_default() -> None:
    assert not [o for o in render() if o["metadata"]["labels"]["app.kubernetes.io/component"] == "flower"]


def test_flower_runs_behind_generated_basic_auth() -> None:
    objs = render([], {"flower": {"enabled": True}})
    c = container(one(objs, "Deployment", "atomfleet-flower"))
    assert c["command"] == ["celery"] and c["args"] == ["-A", "atomfleet_orchestrator", "flower", "--port=5555"]
    assert env_of(c)["FLOWER_BASIC_AUTH"]["secretKeyRef"] == {"name": "atomfleet-flower", "key": "basic-auth"}
    user, _, password = base64.b64decode(one(objs, "Secret", "atomfleet-flower")["data"]["basic-auth"]).decode().partition(":")
    assert user == "admin" and len(password) >= 20
    assert one(objs, "Service", "atomfleet-flower")["spec"]["ports"][0]["port"] == 5555
    one(objs, "PodDisruptionBudget", "atomfleet-flower")


def test_flower_with_an_existing_secret() -> None:
    objs = render([], {"flower": {"enabled": True, "basicAuth": {"existingSecret": "fl", "existingSecretKey": "auth"}}})
    assert not find(objs, "Secret", "atomfleet-flower")
    assert env_of(container(one(objs, "Deployment", "atomfleet-flower")))["FLOWER_BASIC_AUTH"]["secretKeyRef"] == {"name": "fl", "key": "auth"}


def test_bad_flower_values_are_rejected(render_error) -> None:
    assert "/flower/basicAuth/username" in render_error({"flower": {"enabled": True, "basicAuth": {"username": "a:b"}}})
