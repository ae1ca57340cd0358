"""Multiprocess folders and file identifiers (unit level; the fleet tests cover them end to end)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from atomfleet.metrics import _process
from atomfleet.metrics._env import wipe_multiproc_dir
from atomfleet_orchestrator.observability import gunicorn_hooks
from tests.observability._support import Beat, fleet_env, wait_for
from tests.support.live_api import database_url


def test_each_process_group_gets_a_fresh_folder_and_dead_groups_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("ATOMFLEET_METRICS_BASE_DIR", str(tmp_path))
    dead = tmp_path / "worker-999999999"  # no such pid
    alive = tmp_path / f"api-{os.getppid()}"  # a sibling group still running
    mine = tmp_path / f"worker-{os.getpid()}"  # this pid's previous run
    for folder in (dead, alive, mine):
        folder.mkdir()
        (folder / "counter_main.db").write_bytes(b"x")

    path = wipe_multiproc_dir("worker")

    assert path == str(mine) and os.environ["PROMETHEUS_MULTIPROC_DIR"] == path
    assert not dead.exists() and list(mine.iterdir()) == []
    assert (alive / "counter_main.db").exists()


def test_identifiers_are_bounded_names_and_fall_back_to_the_pid_after_a_fork(monkeypatch):
    monkeypatch.setattr(_process, "_identifier", None)
    monkeypatch.setattr(_process, "_identifier_pid", None)
    assert _process.current_identifier() == str(os.getpid())
    _process.set_identifier("c3")
    assert _process.current_identifier() == "c3"
    monkeypatch.setattr(_process, "_identifier_pid", -1)  # as seen from a freshly forked child
    assert _process.current_identifier() == str(os.getpid())
    with pytest.raises(ValueError):
        _process.set_identifier("c_3")  # prometheus_client splits file names on "_"


def test_gunicorn_workers_get_the_lowest_free_slot():
    server = SimpleNamespace(WORKERS={})
    workers = [SimpleNamespace(pid=100 + i) for i in range(3)]
    for w in workers:
        gunicorn_hooks.pre_fork(server, w)
        server.WORKERS[w.pid] = w
    assert [w._atomfleet_metrics_slot for w in workers] == [0, 1, 2]
    del server.WORKERS[101]  # slot 1 recycled (max_requests)
    new = SimpleNamespace(pid=200)
    gunicorn_hooks.pre_fork(server, new)
    assert new._atomfleet_metrics_slot == 1


@pytest.mark.fleet
@pytest.mark.django_db(transaction=True)
def test_a_worker_and_beat_write_metric_files_only_in_their_group_folder(start_worker, workdir):
    # Given a real worker and beat, each with its own PROMETHEUS_MULTIPROC_DIR
    worker = start_worker("default")
    beat = Beat(fleet_env(database_url()), workdir)
    try:
        wait_for(worker.ready, 90, "worker ready")
        wait_for(beat.ready, 90, "beat ready")
        # Then each folder holds its process group's folder and nothing else: no value was created
        # before the group's folder (an unlabeled metric defined at import wrote a stray
        # histogram_<pid>.db there, one per process start, never read by the exporter)
        assert sorted(p.name for p in worker.metrics_dir.iterdir()) == [f"worker-{worker.proc.pid}"]
        assert sorted(p.name for p in (workdir / "metrics-beat").iterdir()) == [f"beat-{beat.proc.pid}"]
    finally:
        beat.stop()
