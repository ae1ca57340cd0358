"""Every Deployment of the release rolls out and its pods are Ready."""

from __future__ import annotations

import pytest
from _fleet import Release, is_ready, wait_for

# pyproject's 300 s default is too short here: the rollout wait (300 s) and the checks after it.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]


def test_every_deployment_is_rolled_out_and_its_pods_ready(release: Release) -> None:
    def rolled_out() -> bool:
        for d in release.deployments():
            want = d.spec.replicas or 0
            s = d.status
            if (s.observed_generation or 0) < d.metadata.generation:
                return False
            if (s.updated_replicas or 0) < want or (s.available_replicas or 0) < want or (s.replicas or 0) > want:
                return False
        return True

    wait_for(rolled_out, 300, "every Deployment to finish its rollout")
    for d in release.deployments():
        pods = release.pods_of(d)
        assert len(pods) == (d.spec.replicas or 0), d.metadata.name
        not_ready = [p.metadata.name for p in pods if not is_ready(p)]
        assert not not_ready, f"{d.metadata.name}: pods not Ready: {not_ready}"


def test_there_is_one_worker_deployment_per_queue(release: Release) -> None:
    assert set(release.workers()) >= {"default", "io_bound", "ml_training"}
