"""The example atoms package (examples/acme-atoms), installed the way its Dockerfile installs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "acme-atoms"
#: The image name the chart tests give the example's worker image (a folder stands in for it).
EXAMPLE_IMAGE = {"repository": "acme-atoms", "tag": "0.1.0"}


def install_example(target: Path) -> Path:
    """``pip install --no-deps --target``: the package and its entry point metadata, nothing else."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                           str(EXAMPLE)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"pip install of {EXAMPLE} failed:\n{done.stderr}")
    return target
