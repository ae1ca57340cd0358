"""A worker refuses to start when its pod's grace period cannot cover the atoms it runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atomfleet.catalog import AtomSpec, ShutdownBudget, check_grace_period, load_catalog
from atomfleet.errors import ConfigurationError
from atomfleet_orchestrator.worker_checks import shutdown_budget

ROOT = Path(__file__).resolve().parents[2]


def _atom(name: str, queue: str, soft: int) -> AtomSpec:
    return AtomSpec(name=name, queue=queue, func=lambda ctx: None, schema={"type": "object"},
                    description="", soft_time_limit=soft, time_limit=soft + 10, idempotent=True)


ATOMS = [_atom("a.short", "default", 50), _atom("a.long", "default", 3300), _atom("b.io", "io_bound", 1700)]


def test_warm_shutdown_needs_a_grace_period_above_the_longest_soft_limit_of_the_queue() -> None:
    with pytest.raises(ConfigurationError) as err:
        check_grace_period(ATOMS, {"default"}, ShutdownBudget(300))
    message = str(err.value)
    assert "terminationGracePeriodSeconds (300s)" in message and "a.long (3300s)" in message
    assert "workers.queues.default.terminationGracePeriodSeconds" in message
    with pytest.raises(ConfigurationError):
        check_grace_period(ATOMS, {"default"}, ShutdownBudget(3300))  # equal is not enough
    check_grace_period(ATOMS, {"default"}, ShutdownBudget(3301))
    # Only the atoms of the consumed queues count.
    check_grace_period(ATOMS, {"io_bound"}, ShutdownBudget(1800))
    check_grace_period(ATOMS, {"reports"}, ShutdownBudget(30))


def test_soft_shutdown_needs_a_grace_period_above_its_window_only() -> None:
    check_grace_period(ATOMS, {"default"}, ShutdownBudget(90, soft_shutdown_seconds=60))
    with pytest.raises(ConfigurationError, match=r"\(60s\) must exceed the soft shutdown window \(60s"):
        check_grace_period(ATOMS, {"default"}, ShutdownBudget(60, soft_shutdown_seconds=60))


def test_the_budget_comes_from_the_pod_environment() -> None:
    assert shutdown_budget(0, {}) is None
    assert shutdown_budget(60, {"ATOMFLEET_TERMINATION_GRACE_SECONDS": "600"}) == ShutdownBudget(600)
    assert shutdown_budget(60, {"ATOMFLEET_TERMINATION_GRACE_SECONDS": "90", "REMAP_SIGTERM": "SIGQUIT"}) == ShutdownBudget(90, 60.0)
    with pytest.raises(ConfigurationError, match="whole number"):
        shutdown_budget(0, {"ATOMFLEET_TERMINATION_GRACE_SECONDS": "10m"})


def test_the_shipped_catalog_needs_more_than_the_old_300s_on_default() -> None:
    catalog = load_catalog(("default", "io_bound", "ml_training"), 43200)
    longest = max((a for a in catalog if a.queue == "default"), key=lambda a: a.soft_time_limit)
    assert longest.soft_time_limit >= 300


def _worker(tmp_path: Path, queue: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "atomfleet_orchestrator", "worker", f"--queues={queue}",
         "--pool=prefork", "--concurrency=1", "--without-mingle", "--without-gossip", "--loglevel=INFO"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT), "ATOMFLEET_METRICS_PORT": "0",
             "ATOMFLEET_PROBE_DIR": str(tmp_path / "probes"), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m"), **env},
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )


@pytest.mark.parametrize(("queue", "env", "named"), [
    ("default", {"ATOMFLEET_TERMINATION_GRACE_SECONDS": "300"}, "(300s) must exceed the soft time limit of atom diagnostics.sleep"),
    ("ml_training", {"ATOMFLEET_TERMINATION_GRACE_SECONDS": "3600", "REMAP_SIGTERM": "SIGQUIT",
                     "ATOMFLEET_SOFT_SHUTDOWN_TIMEOUT": "3600"}, "(3600s) must exceed the soft shutdown window (3600s"),
], ids=["warm-default", "soft-ml-training"])
def test_a_real_worker_exits_at_start_up_naming_both_values(tmp_path: Path, queue: str, env: dict[str, str], named: str) -> None:
    proc = _worker(tmp_path, queue, **env)
    assert proc.returncode != 0
    assert named in proc.stderr, proc.stderr[-3000:]
    assert "ready." not in proc.stderr
