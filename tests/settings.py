"""Test settings: real PostgreSQL and Redis on 127.0.0.1 (databases of their own)."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("ATOMFLEET_DEBUG", "true")
os.environ.setdefault(
    "DATABASE_URL",
    os.environ.get("ATOMFLEET_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/atomfleet"),
)
_redis = os.environ.get("ATOMFLEET_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
# Redis DB 10 is the test suite's own, so a developer's local fleet (0) is left alone.
os.environ.setdefault("ATOMFLEET_BROKER_URL", f"{_redis}/10")
# Short lifecycle deadlines so faults are recovered within seconds (docs/lifecycle.md).
os.environ.setdefault("ATOMFLEET_HEARTBEAT_SECONDS", "1")
os.environ.setdefault("ATOMFLEET_STALE_AFTER_SECONDS", "6")
os.environ.setdefault("ATOMFLEET_RECONCILE_INTERVAL", "1")
os.environ.setdefault("ATOMFLEET_DISPATCH_INTERVAL", "1")
os.environ.setdefault("ATOMFLEET_DISPATCH_TIMEOUT_SECONDS", "10")
os.environ.setdefault("ATOMFLEET_OUTBOX_GRACE_SECONDS", "0")
# Registrations are read fresh: tests register versions and expect to see them at once.
os.environ.setdefault("ATOMFLEET_ATOM_CACHE_SECONDS", "0")
os.environ.setdefault("ATOMFLEET_PROGRESS_INTERVAL", "0.2")
# Tests of the engine and the API submit thousands of runs of one tenant within seconds; the
# default submit rate (50 runs/s, bursts of 1,000) would refuse them. Limits tests give their
# tenant its own limits (tests/api/test_limits*.py); live API processes keep the chart defaults.
os.environ.setdefault("ATOMFLEET_TENANT_SUBMIT_RATE", "100000")
os.environ.setdefault("ATOMFLEET_TENANT_SUBMIT_BURST", "100000")
os.environ.setdefault(
    "ATOMFLEET_STORAGE_LOCAL_ROOT", os.path.join(tempfile.gettempdir(), "atomfleet-test-storage")
)

from atomfleet_orchestrator.settings import *  # noqa: E402,F403
