"""Migrations run as a Helm hook Job that works before the release's own objects exist."""

from __future__ import annotations

import base64

from chartlib import container, env_of, find, one, pod_spec, render


def hooks(o):
    return o["metadata"]["annotations"]["helm.sh/hook"]


def test_external_database_migrates_pre_install_and_pre_upgrade_without_release_objects() -> None:
    objs = render([], {"externalDatabase": {"existingSecret": "", "url": "postgres://u:p@db:5432/fleet"}})
    job = one(objs, "Job", "atomfleet-migrations")
    assert hooks(job) == "pre-install,pre-upgrade"
    c = container(job)
    assert c["command"] == ["atomfleet"] and c["args"] == ["migrate"]
    # nothing from the release that does not exist yet at pre-install time
    assert "envFrom" not in c
    assert pod_spec(job)["serviceAccountName"] == "atomfleet-migrations"
    env = env_of(c)
    assert env["ATOMFLEET_QUEUES"] == '["default","io_bound","ml_training"]'  # config inlined
    assert env["DATABASE_URL"]["secretKeyRef"] == {"name": "atomfleet-migrations", "key": "database-url"}
    assert env["ATOMFLEET_SECRET_KEY"]["secretKeyRef"]["name"] == "atomfleet-migrations"
    # ... and those come from hook objects created just before the Job
    secret = one(objs, "Secret", "atomfleet-migrations")
    sa = one(objs, "ServiceAccount", "atomfleet-migrations")
    for hook_obj in (secret, sa):
        assert hooks(hook_obj) == "pre-install,pre-upgrade"
        assert int(hook_obj["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert base64.b64decode(secret["data"]["database-url"]).decode() == "postgres://u:p@db:5432/fleet"
    assert "hook-succeeded" in secret["metadata"]["annotations"]["helm.sh/hook-delete-policy"]


def test_existing_database_secret_is_read_directly() -> None:
    job = one(render(), "Job", "atomfleet-migrations")
    assert env_of(container(job))["DATABASE_URL"]["secretKeyRef"] == {"name": "atomfleet-database", "key": "database-url"}


def test_in_chart_postgresql_migrates_post_install_because_it_does_not_exist_before() -> None:
    objs = render(["kind.yaml"])
    job = one(objs, "Job", "atomfleet-migrations")
    assert hooks(job) == "post-install,pre-upgrade"
    env = env_of(container(job))
    assert env["POSTGRES_PASSWORD"]["secretKeyRef"]["name"] == "atomfleet-postgresql"
    assert env["DATABASE_URL"] == "postgres://atomfleet:$(POSTGRES_PASSWORD)@atomfleet-postgresql:5432/atomfleet"


def test_migrations_can_be_turned_off() -> None:
    objs = render([], {"migrations": {"enabled": False}})
    assert not [o for o in objs if o["metadata"]["labels"]["app.kubernetes.io/component"] == "migrations"]


def test_bad_migration_values_are_rejected(render_error) -> None:
    assert "/migrations/backoffLimit" in render_error({"migrations": {"backoffLimit": "three"}})
    assert not find(render(), "Job", "nonexistent")
