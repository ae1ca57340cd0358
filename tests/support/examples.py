"""The example atoms package (examples/acme-atoms), installed the way its Dockerfile installs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme-atoms"
#: The image name the chart tests give the example's worker image (a folder stands in for it).
EXAMPLE_IMAGE = {"repository": "acme-atoms", "tag": "0.1.0"}


def install_example(target: Path) -> Path:
    """``pip install --no-deps --target``: the package and its entry point metadata, nothing else.

    pip builds a local folder in place (``build/``, ``*.egg-info``): it builds a copy, so the tests
    leave the source tree as they found it.
    """
    with tempfile.TemporaryDirectory(prefix="acme-atoms-src-") as scratch:
        source = shutil.copytree(EXAMPLE, Path(scratch) / EXAMPLE.name,
                                 ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                               str(source)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"pip install of {EXAMPLE} failed:\n{done.stderr}")
    return target
