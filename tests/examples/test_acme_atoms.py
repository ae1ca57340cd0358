"""An atoms package of one's own (examples/acme-atoms), installed like its Dockerfile installs it,
running on a queue of its own through real workers — while the API never imports atom code.

The package is pip-installed into a folder that only the `reports` worker and the registration
hook see (their image); the API, beat and the other workers run without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.deployment import Deployment
from tests.support.examples import EXAMPLE, install_example

pytestmark = pytest.mark.fault

QUEUES = ("default", "io_bound", "ml_training", "reports")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --no-deps`` of the example (what its Dockerfile does), into a folder."""
    target = install_example(tmp_path_factory.mktemp("acme-site"))
    assert list(target.glob("acme_atoms-*.dist-info/entry_points.txt"))
    return target


def test_the_example_package_passes_its_own_tests(site: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django",
         "--rootdir", str(EXAMPLE), "-c", str(EXAMPLE / "pyproject.toml"), str(EXAMPLE / "tests")],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


@pytest.fixture(scope="module")
def fleet(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    image = {"PYTHONPATH": str(site)}
    deployment = Deployment(
        tmp_path_factory.mktemp("acme-fleet"), queues=QUEUES,
        extra_env={"ATOMFLEET_QUEUES": json.dumps(list(QUEUES))},
        # Every import of the API's processes is logged: the test reads which modules they loaded.
        process_env={"worker-reports": image, "api": {"PYTHONPROFILEIMPORTTIME": "1"}},
    )
    with deployment:
        deployment.register_atoms("--queues", "reports", "--retire-missing", **image)  # the image's hook
        yield deployment


def test_its_atoms_run_through_real_workers_on_their_own_queue(fleet: Deployment) -> None:
    with fleet.client() as client:
        atoms = {a["name"]: a for a in client.get("/api/v1/atoms").json()["results"]}
        assert atoms["reports.column_summary"]["queue"] == "reports"
        assert atoms["reports.column_summary"]["package"] == "acme_atoms"
        key = client.post("/api/v1/files", files={"file": ("sales.csv", b"units,price\n3,2.5\n5,4.5\n")}).json()["key"]
        run_id = fleet.submit(client, "reports.column_summary", {"file": key})
        bad = client.post("/api/v1/atoms/reports.word_frequencies/runs", json={"args": {"file": key, "top": 0}})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_args"  # the registered schema
        row = fleet.wait_terminal([run_id], timeout=90)[run_id]
        assert (row["status"], row["worker"].split("@")[0]) == ("succeeded", "reports"), row
        result = client.get(f"/api/v1/runs/{run_id}/result").json()
        assert result["result"]["columns"]["units"]["mean"] == 4.0
        assert [a["name"] for a in result["artifacts"]] == ["summary.json"]
        assert _is_live(client, "reports.column_summary")


def _is_live(client: httpx.Client, name: str) -> bool:
    return next(a for a in client.get("/api/v1/atoms").json()["results"] if a["name"] == name)["live"]


def test_the_api_never_imports_atom_code(fleet: Deployment) -> None:
    with fleet.client() as client:  # exercise validation and submission first
        fleet.submit(client, "text.stats", {"text": "validated from a registered schema"})
    log = (fleet.root / "api.log").read_text()
    imported = [line.rsplit("|", 1)[1].strip() for line in log.splitlines() if line.startswith("import time:")]
    assert "atomfleet_orchestrator.runs.submission" in imported  # the log saw the API's imports
    assert not [m for m in imported if m.split(".")[0] in ("atomfleet_demo", "acme_atoms")]
