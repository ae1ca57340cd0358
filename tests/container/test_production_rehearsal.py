"""Production-install rehearsal: `values/production.yaml`, rendered by the real Helm engine, started
in Docker the way a cluster would start it (tests/container/kubelet.py).

The external services production.yaml names are stood in for on the Docker network under the same
names — Redis with TLS and a password at `redis.example.internal:6380`, PostgreSQL behind the
`atomfleet-database` Secret — and S3 by a moto server; values point the chart at what only a test
can provide: the local image, the S3 endpoint, the private CA of the test Redis. The Secrets
production.yaml expects to exist are created as its header says.

Then, as `helm install --wait` and `helm test` would: the migration hook Job runs to completion;
every Deployment's container starts under its securityContext and passes its startup, readiness and
liveness probes as the kubelet runs them (httpGet with `Host: <pod IP>:<port>`, while
config.allowedHosts is the public host name); every `metrics` port answers and the API port's
/metrics does not; and the `helm test` Pods run in weight order and complete one run per queue
through the API Service. One pod per Deployment (the API's 3 replicas are identical).
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.container.conftest import ROOT, docker
from tests.container.kubelet import DockerPod, Namespace

sys.path.insert(0, str(ROOT / "hack"))
import render as chart_render  # noqa: E402  (hack/render.py: the Helm engine, as in the chart tests)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]

REDIS_HOST, POSTGRES_HOST = "redis.example.internal", "postgres.example.internal"
POD_IP_HOST = "10.244.1.7:8000"  # what a kubelet on another pod network would send
QUEUES = ("default", "io_bound", "ml_training")


# ------------------------------------------------------------------ stand-ins for the external services
def _tls_files(folder: Path) -> None:
    """A private CA and a server certificate for redis.example.internal (what a managed Redis has)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rehearsal CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, REDIS_HOST)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(REDIS_HOST)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    folder.chmod(0o755)
    for f in folder.iterdir():
        f.chmod(0o644)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Rehearsal:
    ns: Namespace
    objs: list[dict[str, Any]]
    pods: dict[str, DockerPod] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)

    def deployment_pods(self) -> dict[str, DockerPod]:
        return {n: p for n, p in self.pods.items() if p.obj["kind"] == "Deployment"}

    def one(self, kind: str, name: str) -> dict[str, Any]:
        (found,) = [o for o in self.objs if o["kind"] == kind and o["metadata"]["name"] == name]
        return found


@pytest.fixture(scope="module")
def rehearsal(image: str, helper_images: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    from moto.server import ThreadedMotoServer

    _, services_image = helper_images
    work = tmp_path_factory.mktemp("rehearsal")
    work.chmod(0o755)
    redis_password, secret_key = secrets.token_hex(16), secrets.token_urlsafe(40)
    ns = Namespace(objs=[], workdir=work).create()
    moto: Any = None
    r: Rehearsal | None = None
    started = time.monotonic()
    try:
        gateway = ns.gateway()
        moto = ThreadedMotoServer(ip_address=gateway, port=_free_port(gateway))
        moto.start()
        s3 = f"http://{gateway}:{moto._port}"
        import boto3

        boto3.client("s3", endpoint_url=s3, region_name="eu-west-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(
            Bucket="atomfleet-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

        tls = work / "redis-tls"
        _tls_files(tls)
        ns_services = [
            ("redis", ["--network-alias", REDIS_HOST, "-v", f"{tls}:/tls:ro", services_image, "redis-server",
                       "--port", "0", "--tls-port", "6380", "--tls-cert-file", "/tls/tls.crt", "--tls-key-file", "/tls/tls.key",
                       "--tls-ca-cert-file", "/tls/ca.crt", "--tls-auth-clients", "no", "--requirepass", redis_password,
                       "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]),
            ("postgres", ["--network-alias", POSTGRES_HOST, "--user", "postgres", services_image, "start-postgres"]),
        ]
        for name, args in ns_services:
            docker("run", "-d", "--name", f"{ns.prefix}-{name}", "--network", ns.network, *args)
        deadline = time.monotonic() + 60
        while docker("exec", f"{ns.prefix}-postgres", "psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "atomfleet",
                     "-tAc", "select 1", check=False).returncode != 0:
            assert time.monotonic() < deadline, "PostgreSQL did not start"
            time.sleep(1)

        # The Secrets production.yaml's header says to create before installing.
        ns.existing_secrets = {
            "atomfleet-database": {"database-url": f"postgres://postgres@{POSTGRES_HOST}:5432/atomfleet"},
            "atomfleet-redis": {"redis-password": redis_password},
            "atomfleet-s3": {"access-key-id": "testing", "secret-access-key": "testing"},
            "atomfleet-secret-key": {"secret-key": secret_key},
            "rehearsal-redis-ca": {"ca.crt": (tls / "ca.crt").read_text()},
        }
        repository, tag = image.rsplit(":", 1)
        objs = chart_render.render_objects(chart_render.load_values([ROOT / "values" / "production.yaml"], {
            "image": {"registry": "", "repository": repository, "tag": tag, "pullPolicy": "Never"},
            "externalRedis": {"tls": {"caSecret": "rehearsal-redis-ca"}},
            "storage": {"s3": {"endpointUrl": s3}},
        }))
        ns.objs = objs
        r = Rehearsal(ns, objs)

        # helm install: the pre-install hook first, to completion.
        job = r.one("Job", "atomfleet-migrations")
        assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
        t0 = time.monotonic()
        migrations = ns.run(job)
        assert migrations.wait_exit(300) == 0, migrations.describe()
        r.figures["migrations_s"] = time.monotonic() - t0

        # Then every Deployment; Service names are aliases of the pods they select.
        t0 = time.monotonic()
        for dep in [o for o in objs if o["kind"] == "Deployment"]:
            name = dep["metadata"]["name"]
            aliases = tuple(s["metadata"]["name"] for s in objs if s["kind"] == "Service"
                            and s["spec"].get("selector", {}).items() <= dep["spec"]["template"]["metadata"]["labels"].items())
            r.pods[name] = ns.run(dep, aliases=aliases)
        for name, pod in r.deployment_pods().items():
            for kind in ("startup", "readiness", "liveness"):
                if f"{kind}Probe" in pod.c:
                    waited = pod.wait_probe(kind)
                    r.figures[f"{name}_{kind}_s"] = waited
        r.figures["fleet_ready_s"] = time.monotonic() - t0
        yield r
    except BaseException:
        print(ns.logs())
        raise
    finally:
        figures = {k: round(v, 1) for k, v in (r.figures if r else {}).items()}
        print(f"rehearsal figures (s): {json.dumps(figures)}, total {time.monotonic() - started:.0f}")
        for name in ("redis", "postgres"):
            docker("rm", "-f", "-v", f"{ns.prefix}-{name}", check=False)
        ns.delete()  # the pods, then the network (nothing is attached to it any more)
        if moto is not None:
            moto.stop()


# ------------------------------------------------------------------ what `helm install --wait` needs
def test_every_container_runs_locked_down_and_passes_its_probes_as_the_kubelet_probes_them(rehearsal: Rehearsal) -> None:
    pods = rehearsal.deployment_pods()
    assert set(pods) == {"atomfleet-api", "atomfleet-beat", "atomfleet-events", "atomfleet-flower",
                         "atomfleet-worker-default", "atomfleet-worker-io-bound", "atomfleet-worker-ml-training",
                         "atomfleet-worker-webhooks"}
    for name, pod in pods.items():
        config = json.loads(docker("inspect", pod.container).stdout)[0]
        host = config["HostConfig"]
        assert config["Config"]["User"] == "10001:10001", name
        assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"], name
        assert "no-new-privileges" in host["SecurityOpt"], name
        assert host["Memory"] > 0, name
        for kind in ("startup", "readiness", "liveness"):
            if f"{kind}Probe" in pod.c:
                assert pod.probe_once(kind), f"{name} {kind} probe fails now:\n{pod.describe()}"
        assert pod.state()[0] == "running", pod.describe()


def test_api_probes_answer_a_foreign_host_while_allowed_hosts_is_the_public_name(rehearsal: Rehearsal) -> None:
    api = rehearsal.pods["atomfleet-api"]
    assert api.env["ATOMFLEET_ALLOWED_HOSTS"].startswith("atomfleet.example.com,")
    port = api.port("http")
    for path in ("/healthz", "/readyz"):
        response = httpx.get(f"http://{api.ip}:{port}{path}", headers={"Host": POD_IP_HOST}, timeout=10)
        assert response.status_code == 200, (path, response.text)
    # Anything else still checks the host.
    assert httpx.get(f"http://{api.ip}:{port}/api/v1/atoms", headers={"Host": POD_IP_HOST}, timeout=10).status_code == 400


def test_metrics_ports_answer_and_the_ingress_port_serves_no_metrics(rehearsal: Rehearsal) -> None:
    checked = []
    for name, pod in rehearsal.deployment_pods().items():
        if not any(p["name"] == "metrics" for p in pod.c.get("ports", [])):
            continue
        url = f"http://{pod.ip}:{pod.port('metrics')}/metrics"
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(url, timeout=10)  # Host: <pod IP>:<port>, as Prometheus sends
                if response.status_code == 200 and "# TYPE" in response.text:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{name}: {url} does not answer:\n{pod.describe()}"
            time.sleep(1)
        checked.append(name)
    assert {"atomfleet-api", "atomfleet-events", "atomfleet-worker-default", "atomfleet-worker-io-bound",
            "atomfleet-worker-ml-training"} <= set(checked)
    api = rehearsal.pods["atomfleet-api"]
    ingress = rehearsal.one("Ingress", "atomfleet-api")
    routed = {p["backend"]["service"]["port"]["name"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert routed == {"http"}
    for host in ("atomfleet.example.com", POD_IP_HOST):
        response = httpx.get(f"http://{api.ip}:{api.port('http')}/metrics", headers={"Host": host}, timeout=10)
        assert response.status_code in (400, 404) and "# TYPE" not in response.text, host


def test_no_secret_appears_on_any_command_line(rehearsal: Rehearsal) -> None:
    values = [v for s in rehearsal.ns.existing_secrets.values() for v in s.values() if len(v) > 8]
    values += [base64.b64decode(v).decode(errors="replace") for o in rehearsal.objs if o["kind"] == "Secret"
               for v in (o.get("data") or {}).values()]
    for name, pod in rehearsal.deployment_pods().items():
        config = json.loads(docker("inspect", pod.container).stdout)[0]["Config"]
        argv = " ".join((config.get("Entrypoint") or []) + (config.get("Cmd") or []))
        assert not [v for v in values if v in argv], name
        running = docker("top", pod.container, "-eo", "args", check=False).stdout
        assert not [v for v in values if v in running], name


# ------------------------------------------------------------------ what `helm test` runs
def test_helm_test_pods_complete_one_run_per_queue_through_the_api_service(rehearsal: Rehearsal) -> None:
    hooks = sorted((o for o in rehearsal.objs if o["kind"] == "Pod"),
                   key=lambda p: (int(p["metadata"]["annotations"]["helm.sh/hook-weight"]), p["metadata"]["name"]))
    assert {h["metadata"]["annotations"]["helm.sh/hook"] for h in hooks} == {"test"}
    assert {h["metadata"]["name"] for h in hooks} == {"atomfleet-test-token"} | {f"atomfleet-test-{q.replace('_', '-')}" for q in QUEUES}
    t0 = time.monotonic()
    for hook in hooks:
        pod = rehearsal.ns.run(hook)
        code = pod.wait_exit(float(rehearsal.one("Pod", hook["metadata"]["name"])["spec"].get("activeDeadlineSeconds", 660)))
        assert code == 0, f"{hook['metadata']['name']} failed:\n{pod.describe()}\n{rehearsal.pods['atomfleet-api'].describe()}"
        if hook["metadata"]["name"] != "atomfleet-test-token":
            assert "ok: queue" in pod.logs(), pod.logs()
    rehearsal.figures["helm_test_s"] = time.monotonic() - t0


def test_absolute_urls_say_https_behind_the_tls_ingress(rehearsal: Rehearsal) -> None:
    api = rehearsal.pods["atomfleet-api"]
    token = base64.b64decode(rehearsal.one("Secret", "atomfleet-test")["data"]["token"]).decode()
    with httpx.Client(base_url=f"http://{api.ip}:{api.port('http')}", timeout=30,
                      headers={"Host": "atomfleet.example.com", "Authorization": f"Bearer {token}"}) as client:
        registered = client.get("/api/v1/atoms")
        if registered.status_code == 401:
            pytest.fail("the helm test token is not registered: run the helm test Pods first (test order)")
        response = client.post("/api/v1/atoms/text.stats/runs", json={"args": {"text": "behind the ingress"}},
                               headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 202, response.text
    assert response.headers["Location"].startswith("https://atomfleet.example.com/api/v1/runs/")
