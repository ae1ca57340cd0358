"""PostgreSQL: external by default (URL from a Secret), optional in-chart single instance for dev."""

from __future__ import annotations

import base64

from chartlib import container, env_of, find, one, render


def test_external_database_is_the_default() -> None:
    objs = render()
    assert not find(objs, "StatefulSet", "atomfleet-postgresql")
    env = env_of(container(one(objs, "Deployment", "atomfleet-api")))
    assert env["DATABASE_URL"]["secretKeyRef"] == {"name": "atomfleet-database", "key": "database-url"}


def test_database_url_given_as_a_value_lands_in_the_chart_secret() -> None:
    objs = render([], {"externalDatabase": {"existingSecret": "", "url": "postgres://a:b@db:5432/x"}})
    secret = one(objs, "Secret", "atomfleet-secret")
    assert base64.b64decode(secret["data"]["database-url"]).decode() == "postgres://a:b@db:5432/x"
    assert env_of(container(one(objs, "Deployment", "atomfleet-api")))["DATABASE_URL"]["secretKeyRef"]["name"] == "atomfleet-secret"


def test_in_chart_postgresql_for_dev_clusters() -> None:
    objs = render(["kind.yaml"])
    sts = one(objs, "StatefulSet", "atomfleet-postgresql")
    c = container(sts)
    env = env_of(c)
    assert env["POSTGRES_USER"] == "atomfleet" and env["POSTGRES_DB"] == "atomfleet"
    assert env["POSTGRES_PASSWORD"]["secretKeyRef"] == {"name": "atomfleet-postgresql", "key": "postgres-password"}
    assert c["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    secret = one(objs, "Secret", "atomfleet-postgresql")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"  # initdb stored it in the volume
    api_env = env_of(container(one(objs, "Deployment", "atomfleet-api")))
    assert api_env["DATABASE_URL"] == "postgres://atomfleet:$(POSTGRES_PASSWORD)@atomfleet-postgresql:5432/atomfleet"
    one(objs, "Service", "atomfleet-postgresql")


def test_bad_database_values_are_rejected(render_error) -> None:
    assert "no database" in render_error({"externalDatabase": {"existingSecret": ""}})
    assert "keep one database" in render_error({"postgresql": {"enabled": True}})
    assert "externalDatabase.url and externalDatabase.existingSecret are both set" in render_error({"externalDatabase": {"url": "postgres://x"}})
