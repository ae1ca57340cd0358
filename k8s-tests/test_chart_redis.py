"""Redis: in-chart StatefulSet (AOF, noeviction, password Secret, PVC) or external (host + password
Secret, TLS, or complete URLs from a Secret)."""

from __future__ import annotations

from chartlib import container, env_of, find, one, pod_spec, render


def test_in_chart_redis_is_durable_and_never_evicts() -> None:
    objs = render()
    sts = one(objs, "StatefulSet", "atomfleet-redis")
    c = container(sts)
    args = c["args"]
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["--appendonly"] == "yes" and pairs["--appendfsync"] == "everysec"
    assert pairs["--maxmemory-policy"] == "noeviction"
    assert pairs["--requirepass"] == "$(REDIS_PASSWORD)"
    assert env_of(c)["REDIS_PASSWORD"]["secretKeyRef"] == {"name": "atomfleet-redis", "key": "redis-password"}
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]
    secret = one(objs, "Secret", "atomfleet-redis")
    assert len(secret["data"]["redis-password"]) > 20
    one(objs, "Service", "atomfleet-redis")


def test_fleet_urls_use_the_password_through_env_expansion() -> None:
    env = env_of(container(one(render(), "Deployment", "atomfleet-worker-default")))
    names = list(env)
    assert names.index("REDIS_PASSWORD") < names.index("ATOMFLEET_BROKER_URL")  # $(VAR) needs it first
    assert env["ATOMFLEET_BROKER_URL"] == "redis://:$(REDIS_PASSWORD)@atomfleet-redis:6379/0"
    assert env["ATOMFLEET_RESULT_BACKEND_URL"] == "redis://:$(REDIS_PASSWORD)@atomfleet-redis:6379/1"


def test_existing_password_secret_and_no_persistence() -> None:
    objs = render([], {"redis": {"auth": {"existingSecret": "mine", "existingSecretPasswordKey": "pw"}, "persistence": {"enabled": False}}})
    assert not find(objs, "Secret", "atomfleet-redis")
    sts = one(objs, "StatefulSet", "atomfleet-redis")
    assert "volumeClaimTemplates" not in sts["spec"]
    assert {"name": "data", "emptyDir": {}} in pod_spec(sts)["volumes"]
    assert env_of(container(one(objs, "Deployment", "atomfleet-api")))["REDIS_PASSWORD"]["secretKeyRef"] == {"name": "mine", "key": "pw"}


def test_external_redis_with_tls_and_a_ca() -> None:
    objs = render([], {"redis": {"enabled": False}, "externalRedis": {
        "host": "redis.internal", "port": 6380, "existingSecret": "ext", "tls": {"enabled": True, "caSecret": "redis-ca"}}})
    assert not find(objs, "StatefulSet")
    dep = one(objs, "Deployment", "atomfleet-worker-default")
    env = env_of(container(dep))
    assert env["ATOMFLEET_BROKER_URL"] == (
        "rediss://:$(REDIS_PASSWORD)@redis.internal:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/atomfleet/redis-ca/ca.crt")
    assert env["REDIS_PASSWORD"]["secretKeyRef"]["name"] == "ext"
    assert {"name": "redis-ca", "secret": {"secretName": "redis-ca"}} in pod_spec(dep)["volumes"]


def test_external_redis_without_password_and_custom_databases() -> None:
    env = env_of(container(one(render([], {"redis": {"enabled": False}, "externalRedis": {"host": "127.0.0.1", "brokerDatabase": 14, "resultDatabase": 15}}),
                               "Deployment", "atomfleet-api")))
    assert "REDIS_PASSWORD" not in env
    assert env["ATOMFLEET_BROKER_URL"] == "redis://127.0.0.1:6379/14"
    assert env["ATOMFLEET_RESULT_BACKEND_URL"] == "redis://127.0.0.1:6379/15"


def test_external_redis_urls_from_a_secret() -> None:
    env = env_of(container(one(render([], {"redis": {"enabled": False}, "externalRedis": {"urlSecret": {"name": "urls"}}}), "Deployment", "atomfleet-beat")))
    assert env["ATOMFLEET_BROKER_URL"]["secretKeyRef"] == {"name": "urls", "key": "broker-url"}
    assert env["ATOMFLEET_RESULT_BACKEND_URL"]["secretKeyRef"] == {"name": "urls", "key": "result-backend-url"}


def test_bad_redis_values_are_rejected(render_error) -> None:
    assert "redis.enabled is false: set externalRedis.host" in render_error({"redis": {"enabled": False}})
    assert "set redis.enabled=false to use an external Redis" in render_error({"externalRedis": {"host": "x"}})
    assert "/redis/appendfsync" in render_error({"redis": {"appendfsync": "sometimes"}})
    assert "/externalRedis/tls/certReqs" in render_error({"redis": {"enabled": False}, "externalRedis": {"host": "x", "tls": {"enabled": True, "certReqs": "yes"}}})
