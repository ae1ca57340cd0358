"""One production-like deployment for the whole fault suite (tests/support/deployment.py).

Each scenario leaves it healthy the way Kubernetes would (a killed worker replaced, a crashed
Redis restarted); none repairs state by hand.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.deployment import Deployment


@pytest.fixture(scope="package")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with Deployment(tmp_path_factory.mktemp("faults")) as fleet:
        yield fleet


@pytest.fixture
def client(deployment: Deployment) -> Iterator[httpx.Client]:
    with deployment.client() as api:
        yield api


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest, deployment: Deployment) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(deployment.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
