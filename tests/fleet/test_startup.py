"""A misconfigured worker refuses to start and says why."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _start_worker(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "atomfleet_orchestrator", "worker", "--queues=default"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        capture_output=True, text=True, timeout=60,
    )


def test_visibility_timeout_below_a_hard_limit_refuses_to_start() -> None:
    done = _start_worker(ATOMFLEET_VISIBILITY_TIMEOUT="600")
    assert done.returncode != 0
    assert "must exceed the hard time limit of atom" in done.stdout + done.stderr


def test_atom_on_an_undeclared_queue_refuses_to_start() -> None:
    done = _start_worker(ATOMFLEET_QUEUES='["default", "io_bound"]')
    assert done.returncode != 0
    assert "forecast.autoregressive is routed to queue 'ml_training'" in done.stdout + done.stderr


@pytest.mark.parametrize("value", ["not-json", '["default", "default"]'])
def test_bad_queue_declaration_refuses_to_start(value: str) -> None:
    done = _start_worker(ATOMFLEET_QUEUES=value)
    assert done.returncode != 0 and "ATOMFLEET_QUEUES" in done.stdout + done.stderr
