"""Queue statistics and worker reports straight from Redis: priority lists, prefixes, freshness."""

from __future__ import annotations

import json
import time

import redis
from prometheus_client import CollectorRegistry, generate_latest

from atomfleet.metrics import RedisQueueStats, WorkerUpCollector
from atomfleet.metrics._redis import WORKER_FORGET_AFTER, WORKER_STALE_AFTER


def _message(published_at: float | None) -> str:
    headers = {"task": "atomfleet.atom.x", "id": "t"}
    if published_at is not None:
        headers["atomfleet_published_at"] = published_at
    return json.dumps({"body": "", "headers": headers, "properties": {}})


def test_all_priority_lists_and_fresh_reports_count_with_a_bounded_number_of_commands(broker_url):
    client = redis.Redis.from_url(broker_url)
    stats = RedisQueueStats(client)
    now = stats.server_time()
    # kombu LPUSHes: index -1 is the oldest message of each list
    client.lpush("default", _message(now - 50), _message(now - 10))
    client.lpush("default\x06\x163", _message(now - 70))
    client.lpush("default\x06\x169", _message(None), _message(None))
    stats.report_worker("default@a", {"default": (3, now - 90)})
    stats.report_worker("default@b", {"default": (5, now - 400)})

    commands = []
    original = client.pipeline

    def counting_pipeline(*args, **kwargs):  # type: ignore[no-untyped-def]
        pipe = original(*args, **kwargs)
        execute = pipe.execute

        def run(*a, **k):  # type: ignore[no-untyped-def]
            commands.append(len(pipe.command_stack))
            return execute(*a, **k)

        pipe.execute = run
        return pipe

    client.pipeline = counting_pipeline  # type: ignore[method-assign]
    # Seen from a moment when default@b's report is stale (a paused or killed worker)
    later = now + WORKER_STALE_AFTER - 1
    client.hset(stats.workers_key, "default@b", json.dumps({"at": now - 20, "queues": {"default": [5, now - 400]}}))
    result = stats.read(["default", "io_bound"], now=later)

    assert result["default"].length == 5
    assert result["default"].prefetched == 3  # the stale report of a dead worker is ignored
    assert result["default"].backlog == 8
    assert result["default"].oldest_age(now) == 90
    assert result["io_bound"].backlog == 0 and result["io_bound"].oldest_age(now) == 0
    assert commands == [2 * 4 * 2 + 2]  # one round trip: 8 commands per queue, HGETALL, TIME


def test_global_keyprefix_and_custom_priority_steps_follow_kombu(broker_url):
    client = redis.Redis.from_url(broker_url)
    stats = RedisQueueStats.from_broker(broker_url, {"global_keyprefix": "af:", "priority_steps": [0, 5]})
    assert stats is not None
    assert stats.list_keys("q") == ["af:q", "af:q\x06\x165"]
    assert stats.workers_key == "af:atomfleet:workers"
    client.lpush("af:q\x06\x165", _message(time.time()))
    assert stats.read(["q"])["q"].length == 1
    assert RedisQueueStats.from_broker("amqp://guest@localhost//") is None  # not Redis: no gauges


def _worker_up(stats: RedisQueueStats) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(WorkerUpCollector(stats))
    values = {}
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("celery_worker_up{"):
            labels, value = line.rsplit(" ", 1)
            values[labels.split('"')[1]] = float(value)
    return values


def test_worker_up_is_1_while_fresh_0_when_stale_and_gone_when_forgotten_or_shut_down(broker_url):
    # Given three workers: one reporting now, one silent for a minute, one silent for hours
    client = redis.Redis.from_url(broker_url)
    stats = RedisQueueStats(client)
    now = stats.server_time()
    stats.report_worker("default@live", {"default": (0, None)})
    for name, age in (("default@paused", 60), ("default@lost", WORKER_FORGET_AFTER + 60)):
        client.hset(stats.workers_key, name, json.dumps({"at": now - age, "queues": {"default": [0, None]}}))

    # Then the live one is up, the paused one is down (0, so CeleryWorkerDown can fire), the
    # forgotten one has no series any more and its report is deleted
    assert _worker_up(stats) == {"default@live": 1.0, "default@paused": 0.0}
    assert not client.hexists(stats.workers_key, "default@lost")

    # When a worker shuts down cleanly, its series ends at once instead of going to 0
    stats.forget_worker("default@live")
    assert _worker_up(stats) == {"default@paused": 0.0}
