"""Worker metrics scraped by a real Prometheus from a live prefork worker recycling every child."""

from __future__ import annotations

import time

import pytest
import redis

from tests.observability._support import wait_for

pytestmark = pytest.mark.fleet

Q = 'queue_name="default"'


def test_counts_are_exact_under_child_recycling_and_files_stay_bounded(
    fleet_app, start_worker, start_prometheus
):
    # Given a prefork worker (2 processes) that replaces its child after every task
    worker = start_worker("default", concurrency=2, max_tasks_per_child=1)
    worker.wait_ready()
    prom = start_prometheus({"worker": [f"127.0.0.1:{worker.port}"]})

    # When a workload of known size runs: 30 ok, 10 failing, 1 retried once, 1 hard time limit
    for i in range(30):
        fleet_app.send_task("atomfleet.atom.test.ok", (i,), queue="default")
    for i in range(10):
        fleet_app.send_task("atomfleet.atom.test.fail", (i,), queue="default")
    fleet_app.send_task("atomfleet.atom.test.retry", queue="default")
    fleet_app.send_task("atomfleet.atom.test.sleep", (60,), queue="default")

    # Then Prometheus sees exact counts (43 task executions over about 43 pool children)
    prom.wait_value(f'sum(celery_task_started_total{{{Q}}})', 43, timeout=90)
    prom.wait_value(f'sum(celery_task_received_total{{{Q}}})', 43)
    prom.wait_value('sum(celery_task_succeeded_total{name="atomfleet.atom.test.ok"})', 30)
    prom.wait_value('sum(celery_task_failed_total{name="atomfleet.atom.test.fail",exception="ValueError"})', 10)
    prom.wait_value('sum(celery_task_failed_total{name="atomfleet.atom.test.sleep",exception="TimeLimitExceeded"})', 1)
    prom.wait_value('sum(celery_task_failed_total)', 11)
    prom.wait_value('sum(celery_task_retried_total{name="atomfleet.atom.test.retry"})', 1)
    prom.wait_value('sum(celery_task_succeeded_total{name="atomfleet.atom.test.retry"})', 1)
    prom.wait_value('sum(celery_task_sent_total{name="atomfleet.atom.test.retry"})', 1)  # from a child
    prom.wait_value('sum(celery_task_succeeded_total)', 31)
    # (the time-limited task's runtime depends on whether its child ends before the SIGKILL)
    prom.wait_value(f'sum(celery_task_runtime_count{{{Q},name!="atomfleet.atom.test.sleep"}})', 42)
    prom.wait_value(f'sum(atomfleet_task_queue_wait_seconds_count{{{Q}}})', 43)
    prom.wait_value('sum(atomfleet_runs_total{atom="test.ok",outcome="succeeded"})', 30)
    prom.wait_value('sum(atomfleet_runs_total{atom="test.fail",outcome="failed"})', 10)
    prom.wait_value('sum(atomfleet_runs_total{atom="test.retry",outcome="retrying"})', 1)
    prom.wait_value('sum(atomfleet_runs_total{atom="test.sleep",outcome="time_limit"})', 1)
    prom.wait_value('sum(atomfleet_run_duration_seconds_count{atom="test.ok"})', 30)
    prom.wait_value('sum(celery_worker_up)', 1)
    prom.wait_value('sum(atomfleet_worker_slots{queue_name="default"})', 2)
    # Pre-created run counters: the first time-limit kill of an atom is visible to increase().
    assert prom.scalar('atomfleet_runs_total{atom="test.ok",outcome="time_limit"}') == 0

    # And the multiprocess folder holds one file per type and pool slot, not per dead child
    (group_dir,) = worker.metrics_dir.iterdir()  # one folder per worker process group
    files = sorted(p.name for p in group_dir.iterdir())
    assert len(files) <= 2 * (2 + 1), files
    assert {f.split("_")[-1].removesuffix(".db") for f in files} <= {"main", "c0", "c1"}, files

    # And no label carries an id
    for series in prom.api("series", **{"match[]": '{__name__=~"celery_.*|atomfleet_.*"}'})["data"]:
        for key, value in series.items():
            assert key not in {"task_id", "run_id", "id", "pid"}, series
            assert len(value) < 64, series


def test_backlog_includes_priority_lists_and_prefetched_messages(
    fleet_app, start_worker, start_prometheus, broker_url
):
    # Given a worker whose 2 slots are held busy and which prefetches up to 2 x 3 messages
    worker = start_worker("default", concurrency=2, prefetch=3, max_tasks_per_child=1)
    worker.wait_ready()
    prom = start_prometheus({"worker": [f"127.0.0.1:{worker.port}"]})
    for _ in range(2):
        fleet_app.send_task("atomfleet.atom.test.hold", ("obs:release", 120), queue="default")
    try:
        prom.wait_value('sum(atomfleet_worker_busy_slots{queue_name="default"})', 2, timeout=60)
    except AssertionError:
        raise AssertionError(worker.log_text()) from None

    # When 12 tasks wait, 3 at each priority step; two were published long ago
    now = time.time()
    for priority in (0, 3, 6, 9):
        for k in range(3):
            headers = {}
            if priority == 0 and k == 0:
                headers = {"atomfleet_published_at": now - 300}  # will be prefetched
            if priority == 9 and k == 0:
                headers = {"atomfleet_published_at": now - 120}  # stays in a Redis list
            fleet_app.send_task("atomfleet.atom.test.ok", (k,), queue="default", priority=priority,
                                headers=headers)

    # Then the backlog is everything not started: Redis lists of all priorities + prefetched
    prom.wait_value('max by (queue_name) (atomfleet_queue_backlog{queue_name="default"})', 12)
    client = redis.Redis.from_url(broker_url)
    lists = {step: client.llen("default" + (f"\x06\x16{step}" if step else "")) for step in (0, 3, 6, 9)}
    in_lists = sum(lists.values())
    assert lists[6] > 0 and lists[9] > 0, lists  # priority lists are really in use
    prefetched = prom.scalar('max(atomfleet_queue_prefetched{queue_name="default"})')
    assert prefetched == 12 - in_lists and prefetched > 0, (prefetched, lists)
    assert prom.scalar('max(celery_queue_length{queue_name="default"})') == in_lists
    assert prom.scalar('sum(atomfleet_worker_prefetched{queue_name="default"})') == prefetched
    # And the oldest waiting message is the prefetched one stamped 300 s ago
    oldest = prom.scalar('max(atomfleet_queue_oldest_age_seconds{queue_name="default"})')
    assert 299 <= oldest <= 300 + (time.time() - now) + 5, oldest
    # And every declared queue is exported, idle ones at zero
    assert prom.scalar('count(atomfleet_queue_backlog)') == 3
    assert prom.scalar('max(atomfleet_queue_backlog{queue_name="ml_training"})') == 0

    # When the held tasks finish, everything drains and the backlog returns to zero
    client.lpush("obs:release", 1, 1)
    prom.wait_value('sum(celery_task_succeeded_total{queue_name="default"})', 14, timeout=60)
    prom.wait_value('max(atomfleet_queue_backlog{queue_name="default"})', 0)
    prom.wait_value('max(atomfleet_queue_oldest_age_seconds{queue_name="default"})', 0)
    wait_for(lambda: worker.proc.poll() is None, 1, "worker still running")


def test_revoked_and_rejected_tasks_are_counted(fleet_app, start_worker, start_prometheus, broker_url):
    # Given a worker whose only slot is held busy
    worker = start_worker("default", concurrency=1, prefetch=4, max_tasks_per_child=1)
    worker.wait_ready()
    prom = start_prometheus({"worker": [f"127.0.0.1:{worker.port}"]})
    fleet_app.send_task("atomfleet.atom.test.hold", ("obs:release", 120), queue="default")
    prom.wait_value('sum(atomfleet_worker_busy_slots)', 1, timeout=60)

    # When a waiting task is revoked and a message names a task nobody registered
    fleet_app.send_task("atomfleet.atom.test.ok", (1,), queue="default", task_id="obs-revoked-1")
    fleet_app.control.revoke("obs-revoked-1")
    fleet_app.send_task("atomfleet.atom.not_registered", queue="default")
    redis.Redis.from_url(broker_url).lpush("obs:release", 1)

    # Then both are counted, and the revoked task never started
    prom.wait_value('sum(celery_task_revoked_total{name="atomfleet.atom.test.ok"})', 1, timeout=60)
    prom.wait_value('sum(celery_task_rejected_total{name="atomfleet.atom.not_registered"})', 1)
    prom.wait_value('sum(celery_task_succeeded_total{name="atomfleet.atom.test.hold"})', 1)
    assert prom.scalar('sum(celery_task_started_total{name="atomfleet.atom.test.ok"})') is None
