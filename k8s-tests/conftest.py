"""Chart tests: render charts/atomfleet with the real Helm engine through the project render
command (hack/render.py), then assert with small queries per component (chartlib.py).

The cluster tests (k8s-tests/cluster) act on whatever cluster KUBECONFIG names (they uninstall the
release and delete pods): they are collected only when asked for, by `make e2e`
(ATOMFLEET_E2E=1), never by `make test`.

Fixtures:
- `default_manifest`, `kind_manifest`, ...: pytest-helm ManifestIndex of `hack/render.py [-f ...]`
- `render_error(values)`: Helm's error message for values the chart must reject
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_helm import manifest_fixture

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chartlib import RENDER, render  # noqa: E402

collect_ignore = [] if os.environ.get("ATOMFLEET_E2E") == "1" else ["cluster"]

default_manifest = manifest_fixture("default_manifest", RENDER)
kind_manifest = manifest_fixture("kind_manifest", [*RENDER, "-f", "values/kind.yaml"])
production_manifest = manifest_fixture("production_manifest", [*RENDER, "-f", "values/production.yaml"])
hpa_manifest = manifest_fixture("hpa_manifest", [*RENDER, "-f", "values/hpa.yaml"])
cpu_only_manifest = manifest_fixture("cpu_only_manifest", [*RENDER, "-f", "values/cpu-only.yaml"])


@pytest.fixture(scope="session")
def render_error() -> Callable[..., str]:
    """Render that must fail; returns Helm's message (schema or validation helper)."""
    from helm_python import HelmError

    def _error(values: dict[str, Any], files: list[str] | None = None) -> str:
        try:
            render(files, values)
        except HelmError as exc:
            return str(exc)
        raise AssertionError(f"values were accepted but must be rejected: {values}")

    return _error
