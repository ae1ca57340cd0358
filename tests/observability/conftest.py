"""Fixtures of the observability tests: Redis DB 12 of their own, real workers of the project's app.

Prometheus comes from Debian's ``prometheus`` package (``make test`` installs it through
``mk/observability.mk``); tests that need it skip with a reason when it is missing.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)
# Publisher-side metrics of this test process go to a private folder, never /tmp/atomfleet-metrics.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="atomfleet-obs-mp-"))

from tests.observability._support import BROKER_DB, Worker, fleet_env, redis_base  # noqa: E402
from tests.support.live_api import database_url  # noqa: E402


@pytest.fixture
def broker_url() -> Iterator[str]:
    url = f"{redis_base()}/{BROKER_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # pragma: no cover
        pytest.fail(f"Redis does not answer at {url} (run `make services-up`): {exc}")
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="atomfleet-obs-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_worker(broker_url: str, workdir: Path) -> Iterator[Callable[..., Worker]]:
    """``celery -A atomfleet_orchestrator worker`` processes against the test settings."""
    env = fleet_env(database_url())
    workers: list[Worker] = []

    def start(queue: str = "default", **kwargs: object) -> Worker:
        worker = Worker(queue, env, workdir, **kwargs)  # type: ignore[arg-type]
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
