"""Redis: in-chart StatefulSet (AOF, noeviction, password from a mounted Secret file, PVC) or
external (host + password Secret, TLS, or the complete broker URL from a Secret)."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from chartlib import container, env_of, find, one, pod_spec, render
from localpod import free_port


def test_in_chart_redis_is_durable_and_never_evicts() -> None:
    objs = render()
    sts = one(objs, "StatefulSet", "atomfleet-redis")
    conf = one(objs, "ConfigMap", "atomfleet-redis")["data"]["redis.conf"].splitlines()
    assert {"appendonly yes", "appendfsync everysec", "maxmemory-policy noeviction", "dir /data"} <= set(conf)
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    c = container(sts)
    assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]
    secret = one(objs, "Secret", "atomfleet-redis")
    assert len(secret["data"]["redis-password"]) > 20
    one(objs, "Service", "atomfleet-redis")
    annotations = sts["spec"]["template"]["metadata"]["annotations"]
    assert {"checksum/redis-conf", "checksum/secrets"} <= set(annotations)


def test_the_redis_password_is_a_mounted_file_never_an_argument_or_variable() -> None:
    sts = one(render(), "StatefulSet", "atomfleet-redis")
    c = container(sts)
    assert "requirepass" not in "".join(c.get("command", []))
    assert not any("$(REDIS_PASSWORD)" in a or "--requirepass" in a for a in c["args"])
    assert "env" not in c  # no REDIS_PASSWORD / REDISCLI_AUTH variables
    auth = next(v for v in pod_spec(sts)["volumes"] if v["name"] == "auth")
    assert auth["secret"] == {"secretName": "atomfleet-redis", "defaultMode": 0o440,
                              "items": [{"key": "redis-password", "path": "password"}]}
    assert {"name": "auth", "mountPath": "/etc/atomfleet/redis-auth", "readOnly": True} in c["volumeMounts"]


def _redis_server() -> str:
    for candidate in ("/usr/bin/redis-server", shutil.which("redis-server")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("redis-server is not installed (apt-get install redis-server; `make services-up` needs it too)")


def test_the_rendered_redis_command_starts_redis_with_the_password_and_hides_it(tmp_path: Path) -> None:
    """Run the rendered container command (its shell script, the mounted files at their paths under
    a temporary root) with a real redis-server, then probe it as the kubelet would."""
    objs = render([], {"redis": {"auth": {"existingSecret": "mine", "existingSecretPasswordKey": "pw"}}})
    sts = one(objs, "StatefulSet", "atomfleet-redis")
    c = container(sts)
    port = free_port()
    password = "s3cretPassw0rdFromTheSecret"
    root = tmp_path / "root"
    (root / "etc/atomfleet/redis").mkdir(parents=True)
    (root / "etc/atomfleet/redis-auth").mkdir(parents=True)
    (root / "data").mkdir()
    conf = one(objs, "ConfigMap", "atomfleet-redis")["data"]["redis.conf"]
    conf = conf.replace("port 6379", f"port {port}\nbind 127.0.0.1").replace("dir /data", f"dir {root / 'data'}")
    (root / "etc/atomfleet/redis/redis.conf").write_text(conf)
    (root / "etc/atomfleet/redis-auth/password").write_text(password)
    local = lambda text: text.replace("/etc/atomfleet/", f"{root}/etc/atomfleet/")  # noqa: E731
    script = local(c["args"][0]).replace("exec redis-server", f"exec {_redis_server()}")
    cli = shutil.which("redis-cli") or pytest.fail("redis-cli is not installed (apt-get install redis-tools)")
    proc = subprocess.Popen([*c["command"], script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while subprocess.run([cli, "-p", str(port), "ping"], capture_output=True, text=True).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode() if proc.stdout else ""
            time.sleep(0.2)
        noauth = subprocess.run([cli, "-p", str(port), "ping"], capture_output=True, text=True).stdout
        assert "NOAUTH" in noauth
        authed = subprocess.run([cli, "-p", str(port), "config", "get", "maxmemory-policy"], capture_output=True, text=True,
                                env={**os.environ, "REDISCLI_AUTH": password}).stdout.split()
        assert authed == ["maxmemory-policy", "noeviction"]
        # exec: redis-server is the process the container started (PID 1 in the pod), and no
        # process of it shows the password on its command line.
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "redis-server" in cmdline and password not in cmdline
        # The readiness probe, exactly as rendered, against this Redis.
        probe = [local(a).replace("redis-cli ping", f"redis-cli -p {port} ping") for a in c["readinessProbe"]["exec"]["command"]]
        assert subprocess.run(probe, capture_output=True).returncode == 0
        (root / "etc/atomfleet/redis-auth/password").write_text("wrong")
        assert subprocess.run(probe, capture_output=True).returncode != 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_fleet_urls_use_the_password_through_env_expansion() -> None:
    env = env_of(container(one(render(), "Deployment", "atomfleet-worker-default")))
    names = list(env)
    assert names.index("REDIS_PASSWORD") < names.index("ATOMFLEET_BROKER_URL")  # $(VAR) needs it first
    assert env["ATOMFLEET_BROKER_URL"] == "redis://:$(REDIS_PASSWORD)@atomfleet-redis:6379/0"
    # The Redis result backend is gone: the database is the record of every run.
    assert "ATOMFLEET_RESULT_BACKEND_URL" not in env


def test_existing_password_secret_and_no_persistence() -> None:
    objs = render([], {"redis": {"auth": {"existingSecret": "mine", "existingSecretPasswordKey": "pw"}, "persistence": {"enabled": False}}})
    assert not find(objs, "Secret", "atomfleet-redis")
    sts = one(objs, "StatefulSet", "atomfleet-redis")
    assert "volumeClaimTemplates" not in sts["spec"]
    assert {"name": "data", "emptyDir": {}} in pod_spec(sts)["volumes"]
    auth = next(v for v in pod_spec(sts)["volumes"] if v["name"] == "auth")
    assert auth["secret"]["secretName"] == "mine" and auth["secret"]["items"] == [{"key": "pw", "path": "password"}]
    assert env_of(container(one(objs, "Deployment", "atomfleet-api")))["REDIS_PASSWORD"]["secretKeyRef"] == {"name": "mine", "key": "pw"}


def test_a_generated_password_uses_the_configured_key() -> None:
    objs = render([], {"redis": {"auth": {"existingSecretPasswordKey": "pass"}}})
    secret = one(objs, "Secret", "atomfleet-redis")
    assert list(secret["data"]) == ["pass"] and len(base64.b64decode(secret["data"]["pass"])) == 32
    assert env_of(container(one(objs, "Deployment", "atomfleet-api")))["REDIS_PASSWORD"]["secretKeyRef"] == {"name": "atomfleet-redis", "key": "pass"}


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


def test_external_redis_without_password_and_a_custom_database() -> None:
    env = env_of(container(one(render([], {"redis": {"enabled": False}, "externalRedis": {"host": "127.0.0.1", "brokerDatabase": 14}}),
                               "Deployment", "atomfleet-api")))
    assert "REDIS_PASSWORD" not in env
    assert env["ATOMFLEET_BROKER_URL"] == "redis://127.0.0.1:6379/14"


def test_external_redis_password_given_as_a_value_goes_to_the_chart_secret() -> None:
    objs = render([], {"redis": {"enabled": False}, "externalRedis": {"host": "r", "password": "pw"}})
    env = env_of(container(one(objs, "Deployment", "atomfleet-api")))
    assert env["REDIS_PASSWORD"]["secretKeyRef"] == {"name": "atomfleet-secret", "key": "redis-password"}
    assert base64.b64decode(one(objs, "Secret", "atomfleet-secret")["data"]["redis-password"]) == b"pw"


def test_external_redis_url_from_a_secret() -> None:
    env = env_of(container(one(render([], {"redis": {"enabled": False}, "externalRedis": {"urlSecret": {"name": "urls"}}}), "Deployment", "atomfleet-beat")))
    assert env["ATOMFLEET_BROKER_URL"]["secretKeyRef"] == {"name": "urls", "key": "broker-url"}
    assert "ATOMFLEET_RESULT_BACKEND_URL" not in env


def test_bad_redis_values_are_rejected(render_error) -> None:
    assert "redis.enabled is false: set externalRedis.host" in render_error({"redis": {"enabled": False}})
    assert "set redis.enabled=false to use an external Redis" in render_error({"externalRedis": {"host": "x"}})
    assert "/redis/appendfsync" in render_error({"redis": {"appendfsync": "sometimes"}})
    assert "/externalRedis/tls/certReqs" in render_error({"redis": {"enabled": False}, "externalRedis": {"host": "x", "tls": {"enabled": True, "certReqs": "yes"}}})
    assert "resultDatabase" in render_error({"redis": {"enabled": False}, "externalRedis": {"host": "x", "resultDatabase": 1}})
