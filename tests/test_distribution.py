"""What ``pip install`` of this repository puts into a user's environment."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What the build reads (pyproject.toml: readme, packages found under workers/ and services/).
DISTRIBUTION_SOURCES = ("pyproject.toml", "README.md", "workers", "services")


def _clean_source(into: Path) -> Path:
    """A copy of the sources without build output: pip builds a local folder in place, and a
    ``build/lib`` left by an earlier build could put a deleted module into the wheel."""
    into.mkdir()
    for name in DISTRIBUTION_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, into / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
        else:
            shutil.copy2(ROOT / name, into / name)
    return into


def test_the_distribution_adds_only_atomfleet_import_names_and_the_sdk_imports(tmp_path: Path) -> None:
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
                    str(_clean_source(tmp_path / "source"))],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("atomfleet-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        entry_points = archive.read(next(n for n in archive.namelist() if n.endswith("entry_points.txt"))).decode()
    assert {t for t in tops if not t.endswith(".dist-info")} == {"atomfleet", "atomfleet_demo", "atomfleet_orchestrator"}
    assert "[atomfleet.atoms]\ndemo = atomfleet_demo" in entry_points

    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    probe = (
        "import importlib.util, atomfleet\n"
        "from atomfleet import AtomContext, RetryPolicy, TransientAtomError, atom\n"
        "from atomfleet.client import AsyncClient, Client\n"
        f"assert atomfleet.__file__.startswith({str(site)!r}), atomfleet.__file__\n"
        "print(importlib.util.find_spec('services'), importlib.util.find_spec('workers'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None None"
