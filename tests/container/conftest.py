"""Docker fixtures shared by the container tests: the engine, the local base and services images,
and the atomfleet image built once per session from the repository's Dockerfile.

Names are unique per checkout (several worktrees may run these tests on one engine at once): the
image tag carries a digest of the repository path, containers and networks a random prefix.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = os.environ.get("DOCKER", "docker")
IMAGE = os.environ.get("ATOMFLEET_TEST_IMAGE", f"atomfleet:ct-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]}")
IMAGE_VERSION = "0.1.0-test"


def docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} ... failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def _engine_answers() -> str | None:
    if shutil.which(DOCKER) is None:
        return f"no Docker CLI ({DOCKER}) on PATH"
    try:
        proc = subprocess.run([DOCKER, "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if proc.returncode != 0:
        return "no Docker engine answers (`make docker-up` starts one as root on Debian)"
    return None


@pytest.fixture(scope="session")
def engine() -> None:
    reason = _engine_answers()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def helper_images(engine: None) -> tuple[str, str]:
    """(base image, Redis+PostgreSQL image), built once per machine and then reused by tag."""
    proc = subprocess.run(
        [str(ROOT / "hack" / "container-test-images.sh")], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"cannot build the local base images:\n{proc.stderr[-3000:]}"
    base, services = proc.stdout.split()[-2:]
    return base, services


@pytest.fixture(scope="session")
def image(helper_images: tuple[str, str]) -> str:
    """The atomfleet image, built from the repository's Dockerfile on the local base."""
    base, _ = helper_images
    ca_dir = ROOT / "hack" / "image" / "build-ca"
    ca_copy = ca_dir / f"host-{uuid.uuid4().hex[:8]}.pem"
    # TLS to the package index may go through an intercepting proxy only this host trusts.
    host_ca = next(
        (os.environ[v] for v in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE") if os.environ.get(v)), None
    )
    try:
        if host_ca and Path(host_ca).is_file():
            shutil.copyfile(host_ca, ca_copy)
        docker(
            "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}",
            "--build-arg", f"VERSION={IMAGE_VERSION}", "-t", IMAGE, str(ROOT), timeout=1200,
        )
    finally:
        ca_copy.unlink(missing_ok=True)
    return IMAGE
